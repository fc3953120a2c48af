"""Engine throughput and incremental rank aggregation, each against its reference path.

    python bench/bench_engine.py            # ~1 minute on one core
    python bench/bench_engine.py --quick

Rows (all measured in this run, one core):
* ask + budget check + tell with a native proxy (params), strategies zen / az / random, space
  res, params <= 1 M, <= 18 layers — against a faithful Python loop of the authors' kind, which
  builds a torch module per candidate to check its budget (mutate, build, count, check, score).
* az `tell` (RankTopK.insert) amortised with a history of 10^6 and M = 4 proxies, k = 1024 —
  against the authors' full re-rank of the history at every step (scipy rankdata per proxy,
  Σ log(rank/m), top-k), timed at 10^5 candidates.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from zsnas import _core  # noqa: E402

BUDGET = dict(max_params=1_000_000, max_layers=18, resolution=32, num_classes=10)


def native_loop(strategy: str, iterations: int) -> dict:
    e = _core.Engine(_core.res_space(), _core.Budget(**BUDGET), strategy=strategy, iterations=iterations,
                     population=512, top_k=1024, seed=0, scores=["params"])
    t = time.perf_counter()
    e.run_native(iterations)
    dt = time.perf_counter() - t
    c = e.counters()
    return {"proposals/s": c["proposals"] / dt, "candidates/s": c["candidates"] / dt, "seconds": dt}


def torch_baseline(seconds: float) -> float:
    """The authors' way: every mutated candidate becomes a torch module to learn its size."""
    import torch

    from zsnas.nn.arch_net import build_model

    torch.set_num_threads(1)
    space, rng = _core.res_space(), _core.Rng(0)
    init = _core.CoreArch(space.initial)
    pop = [init]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        parent = pop[rng.below(len(pop))]
        child = _core.mutate(_core.mutate(parent, space, rng, 1.0), space, rng, 1.0)
        model = build_model(str(child), num_classes=10)  # string -> module, as AnyPlainNet does
        params = sum(p.numel() for p in model.parameters())
        layers = child.layers()
        n += 1
        if params <= BUDGET["max_params"] and layers <= BUDGET["max_layers"]:
            pop.append(child)
            if len(pop) > 512:
                pop.pop(0)
    return n / (time.perf_counter() - t0)


def rank_tell(history: int, fresh: int, correlated: bool, k: int = 1024, M: int = 4) -> dict:
    rng = np.random.default_rng(0)
    n = history + fresh
    common = rng.normal(size=n) if correlated else np.zeros(n)
    vals = common[:, None] + rng.normal(size=(n, M))
    t = _core.RankTopK(M, k)
    t.insert_many(np.arange(history), vals[:history], bulk=True)
    half = history + fresh // 2
    secs = t.insert_many(np.arange(history, half), vals[history:half])  # one insert per row, timed in C++
    secs_top = t.insert_many(np.arange(half, n), vals[half:], select=True)  # + the top k for the next parent
    return {"tell_us": secs / (half - history) * 1e6, "tell_top_us": secs_top / (n - half) * 1e6, **t.stats()}


def full_rerank(m: int, repeats: int = 5, k: int = 1024, M: int = 4) -> float:
    from scipy.stats import rankdata

    vals = np.random.default_rng(1).normal(size=(m, M))
    best = float("inf")
    for _ in range(repeats):
        s = time.perf_counter()
        score = np.zeros(m)
        for j in range(M):
            score += np.log(rankdata(vals[:, j]) / m)
        top = np.argpartition(-score, k)[:k]
        best = min(best, time.perf_counter() - s)
    assert len(top) == k
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (history 10^5)")
    args = ap.parse_args()
    iters = 100_000 if args.quick else 300_000
    print("zsnas engine bench — one core, space res, params <= 1M, layers <= 18, native proxy 'params'\n")
    base = torch_baseline(3.0)
    print(f"{'row':<46} {'per second':>14} {'vs torch-building loop':>24}")
    print(f"{'authors-style loop (torch module per cand.)':<46} {base:>14,.0f} {'1.0x':>24}")
    for strategy in ("zen", "az", "random"):
        r = native_loop(strategy, iters)
        print(f"{strategy + ': ask+budget+tell, proposals':<46} {r['proposals/s']:>14,.0f} "
              f"{r['proposals/s'] / base:>23,.0f}x")
        print(f"{strategy + ':   of which new candidates scored':<46} {r['candidates/s']:>14,.0f} "
              f"{r['candidates/s'] / base:>23,.0f}x")
    hist = 100_000 if args.quick else 1_000_000
    rerank = full_rerank(100_000)
    print("\naz rank aggregation, M = 4, k = 1024")
    print(f"{'full re-rank at 10^5 (authors, every step)':<46} {rerank * 1e3:>11.1f} ms")
    for corr in (False, True):
        r = rank_tell(hist - 100_000, 100_000, corr)
        label = "correlated" if corr else "independent"
        print(f"{'tell, history ' + f'{hist:,}' + ', ' + label:<46} {r['tell_us']:>11.2f} us "
              f"{rerank * 1e6 / r['tell_us']:>14,.0f}x faster  (pool {r['pool']}, epoch {r['epoch']})")
        print(f"{'tell + top-k for the next parent, ' + label:<46} {r['tell_top_us']:>11.2f} us "
              f"{rerank * 1e6 / r['tell_top_us']:>14,.0f}x faster")


if __name__ == "__main__":
    main()
