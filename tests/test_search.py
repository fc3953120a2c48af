"""zsnas.search() and `zsnas search`: run directory, failures, rank aggregation, Ctrl-C and
kill -9 + --resume giving the same history and best as an uninterrupted run."""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import register_interrupting_proxy
from scipy.stats import rankdata

import zsnas
from zsnas.proxies import ProxyContext, register_proxy, run_proxy
from zsnas.proxies.registry import _REGISTRY
from zsnas.search import load_run, search

RES_1M = {"params": 1e6, "layers": 18}


def params_proxy(ctx):
    return float(ctx.params)


def flaky_proxy(ctx):
    """Fails on a third of the candidates: an exception, or NaN (run_proxy turns it into an error)."""
    torch.zeros(1, device=ctx.device)  # runs on the requested device
    if ctx.params % 3 == 0:
        raise RuntimeError(f"simulated out of memory ({ctx.params} params)")
    if ctx.params % 3 == 1 and ctx.params % 2 == 0:
        return math.nan
    return float(ctx.params)


for _name, _fn in (("test_params", params_proxy), ("test_flaky", flaky_proxy)):
    if _name not in _REGISTRY:
        register_proxy(_name)(_fn)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_failures_are_recorded_and_the_search_goes_on(tmp_path, device):
    out = tmp_path / "run"
    run = search(space="res", budget=RES_1M, proxy="test_flaky", iterations=600, strategy="zen", population=32,
                 seed=1, device=str(device), out=out, progress=False)
    hist = list(run.history)
    failed = {h.id for h in hist if h.status == "failed"}
    assert failed and len(failed) < len(hist)
    for h in hist:
        assert h.parent not in failed  # never a parent
        if h.id in failed:
            assert (h.error.startswith("RuntimeError: simulated out of memory")
                    or h.error == "FloatingPointError: proxy 'test_flaky' produced NaN")
            assert math.isnan(h.scores["test_flaky"])
        else:
            assert h.scores["test_flaky"] == h.params
    ok = [h for h in hist if h.status == "ok"]
    assert run.best_id not in failed
    assert run.best_scores == {"test_flaky": max(h.params for h in ok)}
    assert run.counters["failed"] == len(failed)
    # The run directory holds everything, consistently.
    names = sorted(os.listdir(out))
    assert names == sorted([".lock", "best.json", "best.txt", "best_score.png", "checkpoint.bin", "checkpoint.json", "scores.sqlite",
                            "config.json", "history.csv", "log.txt"])
    rows = read_csv(out / "history.csv")
    assert [int(r["id"]) for r in rows] == [h.id for h in hist]
    assert {int(r["id"]) for r in rows if r["status"] == "failed"} == failed
    best = json.loads((out / "best.json").read_text())
    assert best[0]["structure"] == str(run.best) and best[0]["params"] <= 1e6
    assert (out / "best.txt").read_text().splitlines()[0] == str(run.best)
    again = load_run(out)
    assert again.best == run.best and len(again.history) == len(hist)


def test_zen_proxy_scores_are_the_proxy_values(tmp_path, device):
    run = search(space="res", budget=RES_1M, proxy="zen", iterations=12, strategy="zen", seed=2, device=str(device),
                 out=None, batch_size=8, progress=False)
    b = run.best
    ctx = ProxyContext(build=lambda residual=True: zsnas.nn.build_model(b, residual=residual, num_classes=10),
                       resolution=32, batch_size=8, repeats=1, device=torch.device(device), seed=2, num_classes=10,
                       flops=float(b.flops(32, 10)), params=b.params(10))
    assert run.best_scores["zen"] == pytest.approx(run_proxy("zen", ctx).value, rel=1e-5)
    assert run.best_scores["zen"] == max(h.scores["zen"] for h in run.history if h.status == "ok")


def test_az_aggregate_is_the_rank_aggregate_of_the_history(device):
    run = search(space="res", budget=RES_1M, proxy=["az", "params"], iterations=10, strategy="az", top_k=4,
                 seed=0, device=str(device), batch_size=8, progress=False)
    cols = ["az_expressivity", "az_progressivity", "az_trainability", "az_complexity", "params"]
    assert run.columns == cols
    hist = [h for h in run.history if h.status == "ok"]
    vals = np.array([[h.scores[c] for c in cols] for h in hist])
    ranks = np.stack([rankdata(vals[:, j]) for j in range(len(cols))], axis=1)
    agg = np.log(ranks / len(hist)).sum(axis=1)
    i = int(np.argmax(agg))
    assert run.best_id == hist[i].id
    assert run.best_scores["aggregate"] == pytest.approx(agg[i], abs=1e-12)
    assert hist[i].scores["az_complexity"] == hist[i].flops  # complexity = FLOPs (REFERENCE §4)


def test_ctrl_c_checkpoints_and_resume_matches_an_uninterrupted_run(tmp_path):
    straight = search(space="res", budget=RES_1M, proxy="test_params", iterations=800, strategy="az", top_k=16,
                      seed=4, out=tmp_path / "a", progress=False)
    calls = register_interrupting_proxy("test_interrupt", at=150)
    try:
        with pytest.raises(KeyboardInterrupt):
            search(space="res", budget=RES_1M, proxy="test_interrupt", iterations=800, strategy="az", top_k=16,
                   seed=4, out=tmp_path / "b", progress=False)
        assert (tmp_path / "b" / "checkpoint.bin").exists()
        assert "interrupted" in (tmp_path / "b" / "log.txt").read_text()
        resumed = search(out=tmp_path / "b", resume=True, progress=False)
    finally:
        _REGISTRY.pop("test_interrupt", None)
    assert calls["n"] > 150
    a_rows = read_csv(tmp_path / "a" / "history.csv")
    b_rows = [{("score_test_params" if k == "score_test_interrupt" else k): v for k, v in r.items()}
              for r in read_csv(tmp_path / "b" / "history.csv")]
    assert a_rows == b_rows
    assert resumed.best == straight.best


def test_resume_guards(tmp_path):
    out = tmp_path / "r"
    search(space="res", budget=RES_1M, proxy="params", iterations=300, out=out, progress=False)
    with pytest.raises(ValueError, match="already holds a search"):
        search(space="res", proxy="params", iterations=300, out=out, progress=False)
    with pytest.raises(ValueError, match="has done 300 iterations; a run cannot be shortened to 299"):
        search(iterations=299, out=out, resume=True, progress=False)
    assert json.loads((out / "config.json").read_text())["iterations"] == 300  # untouched
    with pytest.raises(ValueError, match="unknown proxy 'nope'"):
        search(proxy="nope", out=tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="needs a latency table"):
        search(budget={"latency_ms": 3}, proxy="params", out=None, progress=False)
    finished = search(out=out, resume=True, progress=False)  # nothing left to do: same result
    assert finished.counters["iteration"] == 300


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    import zsnas
    from zsnas.proxies import register_proxy

    @register_proxy("slow_params")
    def slow_params(ctx):
        time.sleep(0.003)  # slow enough to be killed mid-run
        return float(ctx.params)

    zsnas.search(space="res", budget={"params": 1e6, "layers": 18}, proxy="slow_params", iterations=2000,
                 strategy="zen", population=64, seed=3, out=sys.argv[1], resume=sys.argv[2] == "1",
                 checkpoint_every=100, progress=False)
""")


def test_kill_9_and_resume_gives_the_same_history_and_best(tmp_path):
    script = tmp_path / "run_search.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run([sys.executable, str(script), str(straight), "0"], check=True, env=env, timeout=300)
    proc = subprocess.Popen([sys.executable, str(script), str(killed), "0"], env=env)
    info = killed / "checkpoint.json"
    deadline = time.time() + 240
    it = 0
    while time.time() < deadline and proc.poll() is None:
        if info.exists():
            try:
                it = json.loads(info.read_text())["iteration"]
            except (ValueError, KeyError):
                it = 0
            if it >= 1000:
                break
        time.sleep(0.005)
    assert proc.poll() is None, "the search finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1000 <= it < 2000
    subprocess.run([sys.executable, str(script), str(killed), "1"], check=True, env=env, timeout=300)
    assert (killed / "history.csv").read_bytes() == (straight / "history.csv").read_bytes()
    assert (killed / "best.txt").read_text() == (straight / "best.txt").read_text()
    assert "resume from checkpoint at iteration" in (killed / "log.txt").read_text()
    assert load_run(killed).best == load_run(straight).best


def test_cli_search_prints_the_best(tmp_path):
    from zsnas.cli import main

    out = tmp_path / "cli"
    r = CliRunner().invoke(main, ["search", "--proxy", "params,flops", "--strategy", "az", "-n", "2000",
                                  "--max-params", "5e5", "--no-progress", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "best: SuperConvK3BNRELU" in r.output and "params 0." in r.output and "aggregate" in r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["budget"]["max_params"] == 500_000 and cfg["budget"]["max_layers"] == 18  # the res paper limit
    r2 = CliRunner().invoke(main, ["search", "--out", str(out), "--resume", "--no-progress", "--json"])
    assert r2.exit_code == 0, r2.output
    data = json.loads(r2.output)
    assert data["best"][0]["structure"] in r.output and data["counters"]["iteration"] == 2000
    r3 = CliRunner().invoke(main, ["search", "--resume"])
    assert r3.exit_code != 0 and "--resume needs --out" in r3.output
