"""ntk_cond over two parameter sets on NB201 cells, Kendall τ against accuracy of each:

* layers: every Conv2d/Linear weight (REFERENCE §6, what ntk_cond takes);
* weights: every parameter whose name holds 'weight', as TE-NAS's get_ntk_n takes them (BN's γ too).

    python bench/bench_ntk_params.py [--every 10] [--workers 2]

Every `--every`-th cell of ../shared/data/nb201_dev.csv, the network, batch and seed of the
ntk_cond proxy (batch 64, 32×32, seed 0), one thread per worker. Prints τ of each set, τ between
the two, and how many cells change rank.
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nb201_dev.csv"


def _both(arch: str):
    import torch

    from zsnas.nn.nb201 import nb201_network
    from zsnas.proxies import ProxyContext
    from zsnas.proxies import classic as C
    from zsnas.proxies import further as FP

    torch.set_num_threads(1)
    ctx = ProxyContext(build=lambda residual=True: nb201_network(arch, residual=residual))
    model, (x, _) = C.prepare(ctx), C.batch(ctx)
    t = time.perf_counter()
    out = {p: FP.ntk_cond_score(model, x, params=p).value for p in FP.NTK_PARAMS}
    out["seconds"] = time.perf_counter() - t
    return out


def main() -> None:
    from scipy.stats import kendalltau

    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    with open(DATA) as fh:
        rows = list(csv.DictReader(fh))[::a.every]
    with Pool(a.workers) as pool:
        res = pool.map(_both, [r["arch_str"] for r in rows], chunksize=1)
    acc = [float(r["cifar10_val_acc"]) for r in rows]
    layers, weights = [r["layers"] for r in res], [r["weights"] for r in res]
    print(f"# {len(rows)} NB201 cells (every {a.every}-th of nb201_dev.csv), "
          f"{sum(r['seconds'] for r in res) / len(res):.1f} s a cell for both")
    print("| NTK parameters | Kendall τ vs accuracy |")
    print("|---|---|")
    print(f"| Conv/Linear weights (zsnas ntk_cond) | {kendalltau(layers, acc)[0]:.3f} |")
    print(f"| every 'weight' (TE-NAS get_ntk_n, BN γ included) | {kendalltau(weights, acc)[0]:.3f} |")
    print(f"τ between the two: {kendalltau(layers, weights)[0]:.3f}")


if __name__ == "__main__":
    main()
