"""Per-sample-gradient proxies on NB201 cells: one backward per sample (the loop, before) against
one batched backward (after), seconds per cell and the values of both, measured in one run.

    python bench/bench_per_sample.py [--cells 5] [--batch 64]

ntk_cond: rows of ∂(Σ_c logits_n)/∂W from one forward of the batch (BN couples the samples), by
B backward passes vs autograd.grad(is_grads_batched=True). GradSign: ∂L(x_n, y_n)/∂W with each
sample forwarded alone, by B forward/backward passes vs torch.func.vmap. TE-NAS: ntk_cond plus
linear regions (its cost is ntk_cond's). Values are float32; "rel diff" is |after − before| /
|before|.
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nb201_dev.csv"


def main() -> None:
    import torch

    from zsnas.proxies import ProxyContext
    from zsnas.proxies import classic as C
    from zsnas.proxies import further as FP
    from zsnas.targets import resolve_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rows = list(csv.DictReader(open(DATA)))[: a.cells]
    print(f"# {a.cells} NB201 cells from {DATA.name}, batch {a.batch}, 32x32, one thread")
    print("| cell | proxy | loop s | batched s | speed-up | loop value | batched value | rel diff |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {}
    for r in rows:
        cell = r["arch_str"]
        t = resolve_target(cell)
        ctx = ProxyContext(build=t.build, batch_size=a.batch, resolution=32, seed=0)
        model = C.prepare(ctx)
        x, y = C.batch(ctx)
        for name, fn in (("ntk_cond", lambda m: FP.ntk_cond_score(model, x, m)),
                         ("gradsign", lambda m: FP.gradsign_score(model, x, y, m))):
            out = {}
            for method in ("loop", "batched"):
                t0 = time.perf_counter()
                v = fn(method).value
                out[method] = (time.perf_counter() - t0, v)
            (tl, vl), (tb, vb) = out["loop"], out["batched"]
            rel = abs(vb - vl) / abs(vl) if vl else abs(vb)
            totals.setdefault(name, []).append((tl, tb))
            print(f"| {r['index']} | {name} | {tl:.2f} | {tb:.2f} | {tl / tb:.2f}× | {vl:.6g} | {vb:.6g} | {rel:.1e} |",
                  flush=True)
        t0 = time.perf_counter()
        FP.linear_regions_score(model, x)
        lr = time.perf_counter() - t0
        tl, tb = totals["ntk_cond"][-1]
        totals.setdefault("te_nas", []).append((tl + lr, tb + lr))
    print()
    print("| proxy | loop s / cell (mean) | batched s / cell (mean) | speed-up |")
    print("|---|---|---|---|")
    for name, ts in totals.items():
        tl = sum(t[0] for t in ts) / len(ts)
        tb = sum(t[1] for t in ts) / len(ts)
        print(f"| {name} | {tl:.2f} | {tb:.2f} | {tl / tb:.2f}× |")


if __name__ == "__main__":
    main()
