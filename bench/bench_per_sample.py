"""The dear proxies on NB201 cells, before and after their speed-ups, seconds per cell and the
values of both, measured in one run:

* ntk_cond: one backward per NTK row in the contiguous layout (before) against the default path
  (NTK_METHOD, channels_last on the CPU);
* gradsign: one backward per sample (before) against one batched backward to every layer's output
  with per-sample BN statistics, each sample's weight gradient formed from it (hooks);
* phi: jvp probes in the contiguous layout (before) against channels_last;
* te_nas: ntk_cond's NTK plus linear regions (its cost is ntk_cond's).

    python bench/bench_per_sample.py [--cells 5] [--batch 64] [--device cuda] [--float64] [--profile] [--vmap]

--vmap adds a row ntk_cond_vmap: the loop (before) against autograd.grad(is_grads_batched=True)
(after), both in the default layout.

--profile only profiles ntk_cond's path on the first cell: the seconds of one forward, of one
backward of the batch, of the NTK (one backward per row), and the ops it spends them in
(torch.profiler): a row that costs one backward leaves nothing to batch away.

BN couples the samples of the NTK's batch, so every NTK row is a full-batch backward whichever
way it is taken (autograd.grad(is_grads_batched=True) measured 0.49x the loop on this CPU,
--vmap);
what is left to win is the layout. Values are float32; "rel diff" is |after − before| / |before|
(the float32 NTK itself is only good to ~1e-3 against float64 on some cells); --float64 also
runs both sides in float64 (untimed): how far each float32 value is from the float64 one (the
float32 floor: a float32 "before" is no better a reference than that), and how far the two
computations are apart in float64, where they agree beyond float32's rounding.
"""
from __future__ import annotations

import argparse
import copy
import csv
import math
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nb201_dev.csv"


def _rel(before: float, after: float) -> float:
    return abs(after - before) / abs(before) if before else abs(after)


def main() -> None:
    import torch

    from zsnas.proxies import classic as C
    from zsnas.proxies import further as FP

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda: there ntk_cond's after is the batched backward "
                                                   "(autograd.grad with is_grads_batched), unmeasured so far")
    ap.add_argument("--float64", action="store_true",
                    help="also compute both sides in float64 (untimed): each float32 value against it, and the "
                         "two float64 values' relative difference")
    ap.add_argument("--profile", action="store_true", help="profile ntk_cond's path on the first cell and exit")
    ap.add_argument("--vmap", action="store_true", help="add ntk_cond_vmap: the loop against the batched backward, "
                                                        "both in the default layout")
    a = ap.parse_args()
    device = torch.device(a.device)
    ntk_after = ("loop", True) if device.type == "cpu" else ("batched", False)
    torch.set_num_threads(1)
    rows = list(csv.DictReader(open(DATA)))[: a.cells]
    if a.profile:
        return _profile_ntk(rows[0]["arch_str"], a.batch, device, ntk_after)
    print(f"# {a.cells} NB201 cells from {DATA.name}, batch {a.batch}, 32x32, {a.device}, one CPU thread")
    print("| cell | proxy | before s | after s | speed-up | before value | after value | rel diff |"
          + (" before vs float64 | after vs float64 | rel diff float64 |" if a.float64 else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" * 3 if a.float64 else ""))
    totals = {}
    for r in rows:
        ctx, model, x, y = _cell(r["arch_str"], a.batch, device)
        plain = FP.phi_network(ctx)
        xp = torch.randn(x.shape, generator=C._cpu_generator(ctx, FP.SALT_PHI_INPUT)).to(device)
        probes = torch.randn((FP.PHI_PROBES,) + tuple(x.shape),
                             generator=C._cpu_generator(ctx, FP.SALT_PHI_PROBES)).to(device)
        # (proxy, before, after): each a function of (model, x, y, plain, xp, probes) returning the value
        cases = (
            ("ntk_cond", lambda m, x, y, pl, xp, pr: FP.ntk_cond_score(m, x, "loop", channels_last=False).value,
             lambda m, x, y, pl, xp, pr: FP.ntk_cond_score(m, x, ntk_after[0], channels_last=ntk_after[1]).value),
            ("gradsign", lambda m, x, y, pl, xp, pr: FP.gradsign_score(m, x, y, "loop").value,
             lambda m, x, y, pl, xp, pr: FP.gradsign_score(m, x, y, "batched").value),
            ("phi", lambda m, x, y, pl, xp, pr: FP.phi_score(pl, xp, pr, channels_last=False).value,
             lambda m, x, y, pl, xp, pr: FP.phi_score(pl, xp, pr, channels_last=True).value),
        )
        if a.vmap:
            def ntk(method):
                return lambda m, x, y, pl, xp, pr: FP.ntk_cond_score(m, x, method, channels_last=ntk_after[1]).value
            cases += (("ntk_cond_vmap", ntk("loop"), ntk("batched")),)
        args32 = (model, x, y, plain, xp, probes)
        args64 = None
        if a.float64:  # Module.double() converts in place: copies of the networks
            args64 = (copy.deepcopy(model).double(), x.double(), y, copy.deepcopy(plain).double(), xp.double(),
                      probes.double())
        for name, before, after in cases:
            out = []
            for fn in (before, after):
                t0 = time.perf_counter()
                v = fn(*args32)
                out.append((time.perf_counter() - t0, v))
            (tl, vl), (tb, vb) = out
            rel = _rel(vl, vb)
            # float64, untimed: how far is each float32 value from it, and do the two agree beyond rounding?
            rel64 = ""
            if args64 is not None:
                vl64, vb64 = before(*args64), after(*args64)
                rel64 = f" {_rel(vl64, vl):.1e} | {_rel(vb64, vb):.1e} | {_rel(vl64, vb64):.1e} |"
            totals.setdefault(name, []).append((tl, tb))
            print(f"| {r['index']} | {name} | {tl:.2f} | {tb:.2f} | {tl / tb:.2f}× | {vl:.6g} | {vb:.6g} | {rel:.1e} |"
                  f"{rel64}", flush=True)
        t0 = time.perf_counter()
        FP.linear_regions_score(model, x)
        lr = time.perf_counter() - t0
        tl, tb = totals["ntk_cond"][-1]
        totals.setdefault("te_nas", []).append((tl + lr, tb + lr))
    print()
    print("| proxy | before s / cell (mean) | after s / cell (mean) | speed-up |")
    print("|---|---|---|---|")
    for name, ts in totals.items():
        tl = sum(t[0] for t in ts) / len(ts)
        tb = sum(t[1] for t in ts) / len(ts)
        print(f"| {name} | {tl:.2f} | {tb:.2f} | {tl / tb:.2f}× |")


def _cell(cell: str, batch_size: int, device):
    """(ctx, network, inputs, labels) of one NB201 cell as the proxies take them: seed 0, 32x32."""
    from zsnas.proxies import ProxyContext
    from zsnas.proxies import classic as C
    from zsnas.targets import resolve_target

    ctx = ProxyContext(build=resolve_target(cell).build, batch_size=batch_size, resolution=32, seed=0, device=device)
    x, y = (v.to(device) for v in C.batch(ctx))
    return ctx, C.prepare(ctx), x, y


def _profile_ntk(cell: str, batch_size: int, device, ntk_after) -> None:
    import torch
    from torch.profiler import profile

    from zsnas.proxies import classic as C
    from zsnas.proxies import further as FP

    _, model, x, _ = _cell(cell, batch_size, device)
    if ntk_after[1]:
        model, x = FP._channels_last(model), x.contiguous(memory_format=torch.channels_last)

    def timed(fn, repeats: int = 1) -> float:
        """The best of `repeats` calls, after one untimed call (oneDNN builds its kernels on the first)."""
        fn()
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        return best

    with torch.no_grad():
        fwd = timed(lambda: model(x), 3)
    per_sample = model(x).sum(1)
    ws = C._weights(model)
    bwd = timed(lambda: torch.autograd.grad(per_sample.sum(), ws, retain_graph=True), 3)

    def ntk_gram():
        FP.ntk_gram(model, x, ntk_after[0], channels_last=False)

    ntk = timed(ntk_gram)
    with profile() as prof:
        ntk_gram()
    print(f"# {cell}, batch {batch_size}, {device}: forward {fwd:.3f} s, one backward of the batch {bwd:.3f} s, "
          f"NTK ({ntk_after[0]}) {ntk:.2f} s = {ntk / batch_size:.3f} s per row "
          f"({ntk / batch_size / bwd:.2f} backwards)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
