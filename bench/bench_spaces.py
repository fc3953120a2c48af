"""Enumerable spaces and Pareto-front search.

    python bench/bench_spaces.py nats        # seconds
    python bench/bench_spaces.py pareto      # ~15 min on this 2-core machine the first time
    python bench/bench_spaces.py vit         # seconds

nats: exhaustive params + FLOPs scoring of NATS-Bench's size space (32,768 networks) through
    `exact_front` (the scorer pipeline, closed-form counts), beside building every network and
    counting it with hooks (timed on 200 networks, scaled to the space) -- in one run.
pareto: the exact NB201 front by synflow,-flops (all 15,625 cells scored once, kept in
    --exact-dir and reused), then Pareto searches of 2,000 iterations (seeds 0-2) scored against
    it (their proxies scored with the front's seed 0): hypervolume ratio on raw synflow and on log10 synflow (the front is the same set; the
    hypervolume of raw synflow, which spans 40 decades, is that of its largest value).
vit: params and FLOPs (Conv2d + Linear MACs; attention matmuls beside) of the smallest and largest
    member of each AutoFormer space (C++ counts, 224 px, 1,000 classes) beside the params of
    AutoFormer's searched models.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def nats() -> None:
    import numpy as np
    import torch

    from zsnas.nn.counting import count_macs, count_params
    from zsnas.nn.named import named_model
    from zsnas.space_search import exact_front
    from zsnas.spaces.enumerable import NATSSizeSpace

    torch.set_num_threads(1)
    sp = NATSSizeSpace()
    t0 = time.perf_counter()
    run = exact_front("nats-sss", "-params,flops", progress=False, chunk=4096)
    closed = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    sample = [sp.sample(rng) for _ in range(200)]
    t0 = time.perf_counter()
    for a in sample:
        m = named_model(a)
        count_params(m)
        count_macs(m.to("meta"), (3, 32, 32))
    built = (time.perf_counter() - t0) / len(sample) * len(sp)
    print("| NATS size space, 32,768 networks, params + FLOPs | seconds | × vs building each |")
    print("|---|---|---|")
    print(f"| build + hook-count every network (200 timed, scaled) | {built:.1f} | 1.00 |")
    print(f"| `exact_front('nats-sss', '-params,flops')` (closed form through the scorer) | {closed:.2f} | "
          f"{built / closed:.0f} |")
    print(f"front: {len(run.front_ids)} non-dominated of {len(run.history)}")


def pareto(exact_dir: str, workers: int, seeds=(0, 1, 2), iterations: int = 2000) -> None:
    from zsnas.space_search import exact_front, load_space_run, hypervolume_ratio, pareto_search

    t0 = time.perf_counter()
    exact = exact_front("nb201", "synflow,-flops", out=exact_dir, backend="pool" if workers > 1 else "local",
                        workers=workers, chunk=128, progress=True)
    t_exact = time.perf_counter() - t0
    exact_log = load_space_run(exact_dir, "log:synflow,-flops")
    print(f"exact NB201 front (synflow,-flops): {len(exact.front_ids)} non-dominated of {len(exact.history)} "
          f"({sum(r['status'] != 'ok' for r in exact.history)} failed); {t_exact:.0f} s this run")
    print(f"| search (SEMO, {iterations:,} iterations) | front | hypervolume ratio, synflow | "
          f"hypervolume ratio, log10 synflow | exact front members found | seconds |")
    print("|---|---|---|---|---|---|")
    exact_set = {exact.history[i]["arch"] for i in exact.front_ids}
    for seed in seeds:
        out = tempfile.mkdtemp(prefix=f"zsnas-pareto-{seed}-")
        t0 = time.perf_counter()
        run = pareto_search("nb201", "synflow,-flops", iterations=iterations, seed=seed, out=out, progress=False,
                            backend="pool" if workers > 1 else "local", workers=workers, batch=16, cache=None,
                            proxy_seed=0)  # the exact front's scores
        dt = time.perf_counter() - t0
        logged = load_space_run(out, "log:synflow,-flops")
        found = len(exact_set & {r["arch"] for r in run.front})
        print(f"| seed {seed} | {len(run.front_ids)} | {hypervolume_ratio(run.points, exact.points):.4f} | "
              f"{hypervolume_ratio(logged.points, exact_log.points):.4f} | {found} / {len(exact_set)} | {dt:.0f} |",
              flush=True)


def vit() -> None:
    from zsnas import _core
    from zsnas.spaces.vit import AUTOFORMER, PUBLISHED_PARAMS_M

    print("| space | members | smallest: params (M) / GMACs + attention | largest: params (M) / GMACs + attention | "
          "AutoFormer's searched model, params (M) |")
    print("|---|---|---|---|---|")
    for name, sp in AUTOFORMER.items():
        cells = []
        for a in sp.extremes():
            c = _core.vit_counts(a)
            cells.append(f"{c['params'] / 1e6:.2f} / {c['macs'] / 1e9:.2f} + {c['attention_macs'] / 1e9:.2f}")
        print(f"| {name} | {len(sp):.3g} | {cells[0]} | {cells[1]} | {PUBLISHED_PARAMS_M[name]} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["nats", "pareto", "vit", "all"])
    ap.add_argument("--exact-dir", default=os.path.join("runs", "nb201-exact-synflow-flops"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=2000)
    a = ap.parse_args()
    if a.what in ("nats", "all"):
        nats()
    if a.what in ("vit", "all"):
        vit()
    if a.what in ("pareto", "all"):
        pareto(a.exact_dir, a.workers, iterations=a.iterations)


if __name__ == "__main__":
    main()
