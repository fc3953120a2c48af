"""Scoring at scale: backends, Ray overhead, a million-iteration native search, two-stage search.

    python bench/bench_scale.py             # ~7 minutes on this 2-core machine
    python bench/bench_scale.py --quick

Rows (all measured in this run):
* Zen-score (res space, 32x32, B=64, one repeat) on 64 candidates of a res search (past its
  first 600 iterations, a params-driven zen search: networks near the 1 M budget), scored
  candidates/s after a warm-up batch: local (one process, one thread) vs pool 1 / 2 workers and
  Ray 1 / 2 actors (one torch thread each); ratios against the one-worker row of the backend.
* Ray overhead per request for a cheap proxy (params) with chunks of 1 and of 32 requests per
  actor call, against the same requests scored in this process.
* A 1,000,000-iteration native-proxy search (params, zen strategy, res space, paper budget),
  end to end through zsnas.search() and through the CLI, with its run directory.
* Two-stage vs one-stage Zen-score search for the same wall time (each stopped by SIGTERM after
  `--seconds`, as a scheduler would): best Zen-score reached, candidates scored by Zen.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

import zsnas  # noqa: E402
from zsnas.scoring.backends import get_scorer  # noqa: E402
from zsnas.search import load_run, search  # noqa: E402


def res_candidates(n: int, after: int = 600):
    """n distinct candidates of a res search past its first `after` iterations (where a Zen-NAS
    search spends its time: networks near the 1 M-parameter budget), as Zen-score requests, B=64."""
    session = zsnas.SearchSession.create(proxy="params", iterations=after + 64 + 4 * n, seed=0)
    while session.engine.iteration < after:
        session.tell([(c.id, {}, "") for c in session.ask(64)])
    cands = []
    while len(cands) < n and not session.finished:
        batch = session.ask(n - len(cands))
        session.tell([(c.id, {}, "") for c in batch])
        cands += batch
    return [session.request(c).with_proxies(("zen",)) for c in cands]


def throughput(backend: str, workers: int, requests, warm) -> float:
    with get_scorer(backend, workers=workers, threads=1) as scorer:
        scorer.score(warm)  # workers started and warm
        t = time.perf_counter()
        scorer.score(requests)
        return len(requests) / (time.perf_counter() - t)


def ray_overhead(n: int) -> dict:
    reqs = [r.with_proxies(("params",)) for r in res_candidates(64)] * (n // 64)
    t = time.perf_counter()
    get_scorer("local", threads=1).score(reqs)
    local = (time.perf_counter() - t) / len(reqs)
    out = {"local": local}
    from zsnas.scoring.backends.ray import RayScorer

    for chunk in (1, 32):
        s = RayScorer(workers=2, threads=1, chunk=chunk)
        s.score(reqs[:64])
        t = time.perf_counter()
        s.score(reqs)
        out[chunk] = (time.perf_counter() - t) / len(reqs)
        s.close()
    return out


def native_million(tmp: str, iterations: int) -> dict:
    t = time.perf_counter()
    run = search(proxy="params", iterations=iterations, out=os.path.join(tmp, "api"), progress=False)
    api = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zsnas.cli", "search", "--proxy", "params", "-n", str(iterations),
                    "--out", os.path.join(tmp, "cli"), "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    cli = time.perf_counter() - t
    return {"api": api, "cli": cli, "candidates": run.counters["candidates"]}


def stopped_search(out: str, seconds: float, extra) -> dict:
    cmd = [sys.executable, "-m", "zsnas.cli", "search", "--proxy", "zen", "-n", "1000000", "--batch", "8", "--seed",
           "0", "--out", out, "--no-progress", "--no-cache", *extra]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    time.sleep(seconds)
    p.send_signal(signal.SIGTERM)
    p.wait()
    run = load_run(out)
    ok = sum(1 for e in run.history if e.status == "ok")
    return {"best": run.best_scores.get("zen"), "scored": ok, "filtered": run.counters["filtered"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=60.0, help="wall time of each two-stage row")
    args = ap.parse_args()
    n = 16 if args.quick else 64
    tmp = tempfile.mkdtemp(prefix="zsnas-bench-scale-")
    try:
        reqs = res_candidates(n + 4)
        warm, reqs = reqs[:4], reqs[4:]
        print(f"Zen-score, res space, 32x32, B=64, {len(reqs)} candidates, one torch thread per worker")
        rows = {"local": throughput("local", 1, reqs, warm)}
        for backend in ("pool", "ray"):
            for w in (1, 2):
                rows[f"{backend} {w}"] = throughput(backend, w, reqs, warm)
        print(f"{'backend':<10} {'cand/s':>8} {'ratio':>7}")
        for name, v in rows.items():
            base = rows[name.split()[0] + " 1"] if name != "local" else v
            print(f"{name:<10} {v:8.2f} {v / base:6.2f}x")

        ov = ray_overhead(640 if args.quick else 2048)
        print("\nRay overhead per request, cheap proxy (params), 2 actors")
        print(f"in process: {ov['local'] * 1e6:.0f} us/request")
        for chunk in (1, 32):
            print(f"ray, {chunk:>2} per call: {ov[chunk] * 1e6:.0f} us/request "
                  f"({(ov[chunk] - ov['local']) * 1e6:.0f} us over in-process)")

        iters = 100_000 if args.quick else 1_000_000
        nm = native_million(tmp, iters)
        print(f"\nnative-proxy search, {iters:,} iterations ({nm['candidates']:,} candidates, history.csv written): "
              f"search() {nm['api']:.1f} s, CLI {nm['cli']:.1f} s")

        secs = 10.0 if args.quick else args.seconds
        one = stopped_search(os.path.join(tmp, "one"), secs, [])
        two = stopped_search(os.path.join(tmp, "two"), secs, ["--prefilter", "flops:0.25"])
        print(f"\nZen-score search, res space, batch 8, {secs:.0f} s each (stopped by SIGTERM)")
        print(f"{'search':<34} {'best zen':>9} {'scored':>7} {'filtered':>9}")
        print(f"{'one-stage':<34} {one['best']:9.2f} {one['scored']:7d} {one['filtered']:9d}")
        print(f"{'two-stage, flops top 25 % of batch':<34} {two['best']:9.2f} {two['scored']:7d} {two['filtered']:9d}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
