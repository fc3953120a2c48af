"""Pareto-front search (zsnas.pareto_search): reproducible and resumable, proposals inside the
space, the kept front non-dominated (checked by brute force), failures recorded, the exact front
of an enumerable space, and the hypervolume ratio on a hand-computed case."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from zsnas.space_search import (discrete_space, exact_front, load_space_run, hypervolume_ratio, objective_points,
                                 pareto_search)
from zsnas.proxies.registry import register_proxy
from zsnas.spaces.enumerable import NB201Space
from zsnas.spaces.stages import StageSpace

FAST = dict(batch_size=8, progress=False, device="cpu")


@register_proxy("test_fails_without_convs")
def _fails_without_convs(ctx):
    if "conv" not in ctx.target.name:
        raise RuntimeError("no convolution\nin this cell")  # two lines: a quoted newline in history.csv
    return float(ctx.target.name.count("conv"))


def _brute_front(rows, objectives):
    """Indices of rows no other row dominates, by the O(n²) definition."""
    pts = objective_points(rows, objectives)
    keep = []
    for i, p in enumerate(pts):
        if not np.isfinite(p).all():
            continue
        if not any(np.isfinite(q).all() and (q >= p).all() and (q > p).any() for q in pts):
            keep.append(i)
    return keep


def test_a_pareto_search_keeps_the_non_dominated_set_of_distinct_members(tmp_path):
    run = pareto_search("nb201", "-params,flops", iterations=60, seed=1, out=tmp_path / "r", **FAST)
    sp = NB201Space()
    archs = [r["arch"] for r in run.history]
    assert len(archs) == 60 == len(set(archs))
    for a in archs:
        assert sp[sp.index(a)] == a
    for r in run.history:  # the counts the search kept are the closed-form ones
        assert (r["params"], r["flops"]) == sp.counts(r["arch"])
    assert run.front_ids == sorted(run.history[i]["id"] for i in _brute_front(run.history, run.objectives))
    assert {r["arch"] for r in run.front} == {row.split(",")[1].strip('"') for row in
                                              (tmp_path / "r" / "pareto.csv").read_text().splitlines()[1:]}
    assert (tmp_path / "r" / "pareto.png").stat().st_size > 0
    # parents are always members of the front at the time; the first `warmup` are samples
    assert all(r["parent"] == -1 for r in run.history[:16])
    assert any(r["parent"] >= 0 for r in run.history[16:])


def test_the_same_seed_gives_the_same_search_and_a_resume_replays_it(tmp_path):
    straight = pareto_search("nb201", "params,-flops", iterations=40, seed=3, out=tmp_path / "a", **FAST)
    assert [r["arch"] for r in pareto_search("nb201", "params,-flops", iterations=40, seed=3, **FAST).history] == \
        [r["arch"] for r in straight.history]
    pareto_search("nb201", "params,-flops", iterations=25, seed=3, out=tmp_path / "b", **FAST)
    hist = tmp_path / "b" / "history.csv"
    with open(hist, "a") as fh:
        fh.write("25,-1,ok,|none~0|+|none")  # a kill in the middle of a line
    resumed = pareto_search("nb201", "params,-flops", iterations=40, seed=3, out=tmp_path / "b", resume=True, **FAST)
    assert [(r["arch"], r["parent"]) for r in resumed.history] == [(r["arch"], r["parent"]) for r in straight.history]
    assert hist.read_text() == (tmp_path / "a" / "history.csv").read_text()
    with pytest.raises(ValueError, match="seed was 3, now 4"):
        pareto_search("nb201", "params,-flops", iterations=40, seed=4, out=tmp_path / "b", resume=True, **FAST)
    with pytest.raises(ValueError, match="already holds a search"):
        pareto_search("nb201", "params,-flops", iterations=40, seed=3, out=tmp_path / "b", **FAST)


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(tmp_path):
    run = pareto_search("nb201", "test_fails_without_convs,-flops", iterations=200, seed=0, **FAST)
    failed = [r for r in run.history if r["status"] == "failed"]
    assert failed and all("no convolution" in r["error"] for r in failed)
    assert all(np.isnan(r["test_fails_without_convs"]) for r in failed)
    assert len(run.history) == 200
    assert all(r["status"] == "ok" for r in run.front)
    assert not any(r["parent"] in {f["id"] for f in failed} for r in run.history)


def test_a_multi_line_error_survives_a_resume_and_a_torn_record_is_cut(tmp_path):
    straight = pareto_search("nb201", "test_fails_without_convs,-flops", iterations=200, seed=0, out=tmp_path / "a",
                             **FAST)
    failed = [r for r in straight.history if r["status"] == "failed"]
    assert failed and all(r["error"].endswith("no convolution\nin this cell") for r in failed)
    pareto_search("nb201", "test_fails_without_convs,-flops", iterations=100, seed=0, out=tmp_path / "b", **FAST)
    hist = tmp_path / "b" / "history.csv"
    with open(hist, "a") as fh:
        fh.write('100,-1,failed,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,nan,nan,"RuntimeError: no conv')
    resumed = pareto_search("nb201", "test_fails_without_convs,-flops", iterations=200, seed=0, out=tmp_path / "b",
                            resume=True, **FAST)
    assert [(r["arch"], r["status"], r["error"]) for r in resumed.history] == \
        [(r["arch"], r["status"], r["error"]) for r in straight.history]
    assert hist.read_text() == (tmp_path / "a" / "history.csv").read_text()


def test_the_exact_front_of_a_small_enumerable_space_is_every_member_scored(tmp_path):
    tiny = StageSpace("tiny", "basic", ((8, 16), (16,), (16, 32)), ((1,), (1, 2), (1,)), (False, True, True),
                      stem=8, stem_stride=2, head=32, num_classes=10)
    assert len(tiny) == 8
    exact = exact_front(tiny, "-params,synflow", out=tmp_path / "e", **FAST)
    assert sorted(r["arch"] for r in exact.history) == sorted(tiny.structure(tiny[i]) for i in range(8))
    assert exact.front_ids == sorted(exact.history[i]["id"] for i in _brute_front(exact.history, exact.objectives))
    # a second call reads the history instead of scoring again; other objectives over the same columns are fine
    again = exact_front(tiny, "synflow,-params", out=tmp_path / "e", **FAST)
    assert [r["synflow"] for r in again.history] == [r["synflow"] for r in exact.history]
    with pytest.raises(ValueError, match="another exact front"):
        exact_front(tiny, "params,flops", out=tmp_path / "e", **FAST)
    # a search of the same space reaches the whole front's hypervolume once it has seen every member
    run = pareto_search(tiny, "-params,synflow", iterations=8, seed=0, **FAST)
    assert hypervolume_ratio(objective_points(run.front, run.objectives), exact.points) == pytest.approx(1.0)


def test_hypervolume_ratio_on_a_hand_computed_case():
    exact = [(1, 3), (2, 2), (3, 1)]
    # reference = nadir (1, 1) less a tenth of the range: (0.8, 0.8). Exact front area:
    # (3-0.8)(1-0.8) + (2-0.8)(2-1) + (1-0.8)(3-2) = 0.44 + 1.2 + 0.2 = 1.84; [(2, 2)] alone: 1.2².
    assert hypervolume_ratio([(2, 2)], exact) == pytest.approx(1.44 / 1.84)
    assert hypervolume_ratio(exact, exact) == pytest.approx(1.0)
    assert hypervolume_ratio([(2, 2)], exact, reference=(0, 0)) == pytest.approx(4 / (3 + 2 + 1))


def test_log_objectives_change_the_hypervolume_not_the_front():
    rows = [{"synflow": 1e40, "flops": 3.0}, {"synflow": 1e10, "flops": 1.0}, {"synflow": 1e5, "flops": 2.0}]
    raw = objective_points(rows, [("synflow", 1.0), ("flops", -1.0)])
    logged = objective_points(rows, [("log:synflow", 1.0), ("flops", -1.0)])
    np.testing.assert_allclose(logged[:, 0], [40, 10, 5])
    assert _brute_front(rows, [("synflow", 1.0), ("flops", -1.0)]) == \
        _brute_front(rows, [("log:synflow", 1.0), ("flops", -1.0)]) == [0, 1]
    assert raw[0, 0] == 1e40


def test_bad_pareto_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown space 'nope'"):
        pareto_search("nope", "params,-flops", iterations=5, **FAST)
    with pytest.raises(ValueError, match="objective 'zenn' is not a registered proxy"):
        pareto_search("nb201", "zenn,-flops", iterations=5, **FAST)
    with pytest.raises(ValueError, match="at least two objectives"):
        pareto_search("nb201", "params", iterations=5, **FAST)
    with pytest.raises(ValueError, match="iterations must be a whole number"):
        pareto_search("nb201", "params,-flops", iterations=0, **FAST)
    assert discrete_space("ss-r1").name == "ss-r1"


def test_the_cli_runs_a_pareto_search_and_redraws_it(tmp_path):
    from zsnas.cli import main as cli

    out = tmp_path / "cli"
    r = CliRunner().invoke(cli, ["search", "--objectives", "params,-flops", "--space", "nb201", "-n", "20",
                                 "-b", "8", "--out", str(out), "--no-progress", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    front = json.loads(r.output)["front"]
    run = load_space_run(out)
    assert [f["arch"] for f in front] == [f["arch"] for f in run.front]
    r = CliRunner().invoke(cli, ["pareto", str(out), "-O", "-params,-flops"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"{len(load_space_run(out, '-params,-flops').front_ids)} non-dominated of 20 scored")
    r = CliRunner().invoke(cli, ["search", "--objectives", "params,-flops", "--proxy", "zen"])
    assert r.exit_code != 0 and "--proxy does not apply to a Pareto search" in r.output


def test_zsnas_bench_pareto_scores_a_search_against_the_exact_front(tmp_path):
    from zsnas.cli import main as cli

    search_dir, exact_dir = tmp_path / "s", tmp_path / "e"
    pareto_search("nb201", "-params,flops", iterations=50, seed=0, out=search_dir, **FAST)
    r = CliRunner().invoke(cli, ["bench", "--pareto", "-params,flops", "--space", "nb201", "--out", str(exact_dir),
                                 "--against", str(search_dir), "--json", "--no-plots", "--batch-size", "8"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["members"] == 15_625
    # every cell's (params, FLOPs) from the closed form; the front by brute force over the 31 distinct points
    sp = NB201Space()
    counts = {sp.counts(c) for c in sp}
    pts = np.array([(-p, f) for p, f in counts], dtype=float)
    distinct_front = [p for p in pts if not any((q >= p).all() and (q > p).any() for q in pts)]
    exact = load_space_run(exact_dir)
    assert {(-r["params"], r["flops"]) for r in exact.front} == {tuple(p) for p in distinct_front}
    search = load_space_run(search_dir, "-params,flops")
    assert got["hypervolume_ratio"] == pytest.approx(hypervolume_ratio(search.points, np.array(distinct_front)))
    assert 0 < got["hypervolume_ratio"] <= 1


def test_a_search_scored_with_another_seed_is_not_compared_with_the_exact_front(tmp_path):
    from zsnas.cli import main as cli

    pareto_search("nb201", "-params,flops", iterations=10, seed=1, out=tmp_path / "s1", **FAST)
    pareto_search("nb201", "-params,flops", iterations=10, seed=1, proxy_seed=0, out=tmp_path / "s0", **FAST)
    args = ["bench", "--pareto", "-params,flops", "--space", "nb201", "--out", str(tmp_path / "e"), "--no-plots",
            "--json", "--batch-size", "8"]
    r = CliRunner().invoke(cli, args + ["--against", str(tmp_path / "s1")])
    assert r.exit_code != 0 and "scored with proxy seed 1, the exact front with 0" in r.output
    r = CliRunner().invoke(cli, args + ["--against", str(tmp_path / "s0")])
    assert r.exit_code == 0, r.output


def test_latency_from_a_table_is_an_objective(tmp_path):
    from pathlib import Path

    from zsnas.latency import import_tinynas
    from zsnas.latency.tinynas import TinyNASTable

    src = Path(__file__).parent.parent.parent / "shared" / "data" / "latency" / "tinynas-v100"
    import_tinynas(src, tmp_path / "v100")
    run = pareto_search("mbv2", "params,-latency_ms", iterations=12, seed=0, latency_table=tmp_path / "v100",
                        latency_precision="int8", latency_batch=64, **FAST)
    table = TinyNASTable(str(tmp_path / "v100"), "int8")
    for r in run.history:
        assert r["latency_ms"] == pytest.approx(table.network_ms(r["arch"], 224, 64), rel=1e-9)
    assert run.front_ids == sorted(run.history[i]["id"] for i in _brute_front(run.history, run.objectives))
    with pytest.raises(ValueError, match="latency_ms objective needs latency_table"):
        pareto_search("mbv2", "params,-latency_ms", iterations=2, **FAST)


def test_a_pareto_search_of_res_stays_within_the_paper_budget():
    from zsnas.arch import Arch
    from zsnas.spaces import get_space, paper_budget

    run = pareto_search("res", "params,-flops", iterations=30, seed=0, **FAST)
    sp, budget = get_space("res"), paper_budget("res")
    assert len({r["arch"] for r in run.history}) == 30
    for r in run.history:
        assert sp.within_budget(r["arch"], budget)
        assert r["params"] == Arch(r["arch"]).params(num_classes=10)
    assert run.front_ids == sorted(run.history[i]["id"] for i in _brute_front(run.history, run.objectives))
