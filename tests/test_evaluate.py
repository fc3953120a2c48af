"""zsnas.evaluate: correlations against scipy and hand counts, mBR by hand, and a resumable
evaluate() whose resumed table equals a straight run (in process and with 2 workers)."""
import json
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy import stats

from zsnas import evaluate as ev
from zsnas.proxies import register_proxy

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]

# Six NAS-Bench-201 cells (from the development table: id, arch, CIFAR-10 val acc, params M, FLOPs M).
CELLS = """index,arch_str,cifar10_val_acc,params_m,flops_m
48,|skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|skip_connect~1|nor_conv_1x1~2|,82.77,0.101306,11.71521
50,|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|,89.8,0.643386,90.35841
53,|avg_pool_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|skip_connect~2|,34.03,0.073306,7.78305
86,|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|,88.68,0.372346,51.03681
155,|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|,83.2,0.344346,47.10465
161,|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|skip_connect~2|,86.8,0.316346,43.17249
"""
FAST = dict(batch_size=4, resolution=8, progress=False)


@pytest.fixture
def cells_csv(tmp_path):
    p = tmp_path / "cells.csv"
    p.write_text(CELLS)
    return str(p)


# -------------------------------------------------------------------------------- correlations

def test_correlations_hand_and_scipy():
    # one discordant pair of 10: τ = (9-1)/10; Σd² = 2: ρ = 1 - 6·2/(5·24)
    c = ev.correlations([1, 2, 3, 5, 4], [1, 2, 3, 4, 5])
    assert c["kendall"] == pytest.approx(0.8) and c["spearman"] == pytest.approx(0.9)
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=60), rng.normal(size=60)
    s[3] = s[7]  # a tie
    c = ev.correlations(s, a)
    assert c["kendall"] == pytest.approx(stats.kendalltau(s, a).statistic, abs=1e-15)
    assert c["spearman"] == pytest.approx(stats.spearmanr(s, a).statistic, abs=1e-15)
    top = np.argsort(-a)[:12]  # top 20 % of 60
    assert c["kendall_top20"] == pytest.approx(stats.kendalltau(s[top], a[top]).statistic, abs=1e-15)
    # top 5 %: three candidates, too few for a τ that means anything (it would be ±1 or ±1/3)
    assert c["kendall_top5"] is None and c["n_top5"] == 3
    assert c["mbr"] is None and c["n"] == 60


def test_correlations_drop_missing_scores():
    c = ev.correlations([1, None, 3, float("nan"), 2], [1, 2, 3, 4, 5])
    assert c["n"] == 3 and c["kendall"] == pytest.approx(1 / 3)  # (1,1),(3,3),(2,5): 2 conc, 1 disc


def test_mbr_hand():
    acc = [90, 80, 70, 60]
    flops = [4, 1, 2, 3]
    scores = [0.1, 0.9, 0.5, 0.2]
    # budget 1: only #1 -> rank 0; budget 2: #1 beats #2 -> 0; budget 4: #1 (80) is behind #0 -> 1
    assert ev.mean_best_rank(scores, acc, flops, [1, 2, 4]) == pytest.approx(1 / 12)
    # a budget nobody meets is skipped: same value with M = 3
    assert ev.mean_best_rank(scores, acc, flops, [0.5, 1, 2, 4]) == pytest.approx(1 / 12)
    # tied top scores: the pick is ambiguous -> mean rank of #0 (0) and #1 (1) = 0.5
    assert ev.mean_best_rank([0.5, 0.5, 0.1, 0.1], acc, flops, [4]) == pytest.approx(0.5 / 4)
    # default budgets: quantiles k/M of the FLOPs
    assert ev.default_budgets([1, 2, 3, 4], m=2) == [2.5, 4.0]
    assert ev.correlations(scores, acc, flops=flops, budgets=[1, 2, 4])["mbr"] == pytest.approx(1 / 12)


def test_read_table_detects_columns(cells_csv):
    rows = ev.read_table(cells_csv, limit=2)
    assert [r["key"] for r in rows] == ["48", "50"]
    assert rows[1] == {"key": "50", "arch": rows[1]["arch"], "accuracy": 89.8, "params": 643386,
                       "flops": pytest.approx(90.35841e6)}


# ----------------------------------------------------------------------------------- evaluate

FAILS_ON = "53"


@register_proxy("test_fails_on_53")
def _fails_on_53(ctx):
    if ctx.params == 73306:  # the id-53 cell (no conv edge)
        raise RuntimeError("boom")
    return float(ctx.params)


def _table(res):
    return [{k: v for k, v in row.items()} for row in res["table"]]


def test_evaluate_resume_equals_straight_run(cells_csv, tmp_path):
    kw = dict(proxies="synflow,naswot,params", aggregate="synflow+params", **FAST)
    straight = ev.evaluate(cells_csv, out=str(tmp_path / "a"), resume=False, **kw)

    out = str(tmp_path / "b")
    ev.evaluate(cells_csv, out=out, limit=3, **kw)  # "killed" after 3 rows
    path = os.path.join(out, "scores.jsonl")
    with open(path, "a") as fh:
        fh.write('{"key": "86", "arch": "|skip')  # a torn line from the crash
    resumed = ev.evaluate(cells_csv, out=out, **kw)
    lines = open(path).read().splitlines()
    assert len(lines) == 6 and [json.loads(l)["key"] for l in lines[3:]] == ["86", "155", "161"]
    assert _table(resumed) == _table(straight)
    # a third call has nothing left to score
    ev.evaluate(cells_csv, out=out, **kw)
    assert len(open(path).read().splitlines()) == 6

    # table values: params from the CSV; the aggregate is Σ ln(rank/m) over synflow and params
    t = straight["table"]
    assert [r["params"] for r in t] == [101306, 643386, 73306, 372346, 344346, 316346]
    syn, par = np.array([r["synflow"] for r in t]), np.array([r["params"] for r in t], float)
    agg = np.log(stats.rankdata(syn) / 6) + np.log(stats.rankdata(par) / 6)
    assert [r["synflow+params"] for r in t] == pytest.approx(agg.tolist(), rel=1e-12)
    acc = [r["accuracy"] for r in t]
    p = straight["proxies"]["params"]
    assert p["kendall"] == pytest.approx(stats.kendalltau(par, acc).statistic)
    assert p["failed"] == 0 and set(straight["proxies"]) == {"synflow", "naswot", "params", "synflow+params"}
    for name in ("synflow", "naswot", "params", "synflow+params"):
        assert os.path.getsize(os.path.join(str(tmp_path / "a"), "plots", ev._safe_name(name) + ".png")) > 1000
    on_disk = json.load(open(os.path.join(str(tmp_path / "a"), "results.json")))
    assert on_disk["proxies"]["params"]["kendall"] == p["kendall"]


def test_evaluate_records_failures_and_checks_settings(cells_csv, tmp_path):
    out = str(tmp_path / "f")
    res = ev.evaluate(cells_csv, proxies=["test_fails_on_53"], out=out, **FAST)
    assert res["proxies"]["test_fails_on_53"]["failed"] == 1
    assert "boom" in res["proxies"]["test_fails_on_53"]["first_error"]
    row = {r["key"]: r for r in res["table"]}
    assert row[FAILS_ON]["test_fails_on_53"] is None and row["48"]["test_fails_on_53"] == 101306
    assert res["proxies"]["test_fails_on_53"]["n"] == 5
    with pytest.raises(ValueError, match="settings"):
        ev.evaluate(cells_csv, proxies=["test_fails_on_53"], out=out, seed=1, **FAST)
    with pytest.raises(ValueError, match="unknown proxy"):
        ev.evaluate(cells_csv, proxies=["no_such_proxy"], out=out, **FAST)


def test_evaluate_two_workers_equals_in_process(cells_csv, tmp_path):
    kw = dict(proxies="synflow,jacob_cov", limit=4, plots=False, **FAST)
    one = ev.evaluate(cells_csv, out=str(tmp_path / "w1"), workers=1, **kw)
    two = ev.evaluate(cells_csv, out=str(tmp_path / "w2"), workers=2, **kw)
    assert _table(one) == _table(two)


def test_cli_bench_json(cells_csv, tmp_path):
    from zsnas.cli_bench import bench

    out = str(tmp_path / "cli")
    r = CliRunner().invoke(bench, [cells_csv, "--proxies", "params,flops", "--out", out, "--json",
                                   "--budgets", "3", "--batch-size", "4", "--no-plots"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    par = [101306, 643386, 73306, 372346, 344346, 316346]
    acc = [82.77, 89.8, 34.03, 88.68, 83.2, 86.8]
    assert res["proxies"]["params"]["kendall"] == pytest.approx(stats.kendalltau(par, acc).statistic)
    flops = [11.71521e6, 90.35841e6, 7.78305e6, 51.03681e6, 47.10465e6, 43.17249e6]
    budgets = list(np.quantile(flops, [1 / 3, 2 / 3, 1]))
    assert res["proxies"]["flops"]["mbr"] == pytest.approx(ev.mean_best_rank(flops, acc, flops, budgets))
    r = CliRunner().invoke(bench, [cells_csv, "--proxies", "params", "--out", out + "2", "--no-plots"])
    assert r.exit_code == 0 and "params" in r.output and "tau" in r.output


CALLS = {"tfam": 0}


@register_proxy("tfam")
def _family_proxy(ctx):
    from zsnas.proxies import ProxyResult

    CALLS["tfam"] += 1
    return ProxyResult("tfam", 0.0, sub_scores={"a": float(ctx.params), "b": -float(ctx.params)})


def test_family_members_share_one_run(cells_csv, tmp_path):
    CALLS["tfam"] = 0
    res = ev.evaluate(cells_csv, proxies="tfam_a,tfam_b", out=str(tmp_path / "fam"), limit=2, plots=False, **FAST)
    assert CALLS["tfam"] == 2  # once per architecture, not once per member
    assert [(r["tfam_a"], r["tfam_b"]) for r in res["table"]] == [(101306, -101306), (643386, -643386)]


@register_proxy("test_versioned")
def _versioned_v1(ctx):
    return 1.0


def test_resume_scores_again_a_proxy_whose_version_changed(cells_csv, tmp_path, monkeypatch):
    import dataclasses

    from zsnas.proxies import registry

    out = str(tmp_path / "v")
    kw = dict(proxies="test_versioned,params", plots=False, **FAST)
    first = ev.evaluate(cells_csv, out=out, **kw)
    assert first["rescored"] == [] and {r["test_versioned"] for r in first["table"]} == {1.0}
    spec = registry.get_proxy("test_versioned")
    monkeypatch.setitem(registry._REGISTRY, "test_versioned",
                        dataclasses.replace(spec, fn=lambda ctx: 2.0, version=2))
    again = ev.evaluate(cells_csv, out=out, **kw)
    assert again["rescored"] == ["test_versioned"]
    assert json.load(open(os.path.join(out, "results.json")))["rescored"] == ["test_versioned"]  # kept with the run
    assert {r["test_versioned"] for r in again["table"]} == {2.0}  # none of version 1 left
    assert [r["params"] for r in again["table"]] == [r["params"] for r in first["table"]]
    assert json.load(open(os.path.join(out, "config.json")))["versions"] == {"test_versioned": 2, "params": 1}
    lines = [json.loads(x) for x in open(os.path.join(out, "scores.jsonl"))]
    assert all(x["values"].get("test_versioned", 2.0) == 2.0 for x in lines)
    assert ev.evaluate(cells_csv, out=out, **kw)["rescored"] == []  # nothing stale the third time
