"""Latency models: tables measured on this CPU and validated, TinyNAS's V100 predictions, and the
engine's throughput with a latency budget.

    python bench/bench_latency.py tables [--quick]   # ~40 minutes on this 2-core machine
    python bench/bench_latency.py v100               # seconds
    python bench/bench_latency.py engine             # seconds
    python bench/bench_latency.py int8               # ~5 minutes

tables: `zsnas lut build` (onnxruntime, one thread; the grid plus the exact convolutions of 200
    mbv2 / 2,000 res networks, `--cover`) for mbv2 at 224 and res at 32, batches 1 and 8, each validated on 100 networks of the space that fitted nothing (`zsnas lut
    validate`): share within ±10 / ±15 %, Spearman ρ, RMSE, and the noise floor (two
    measurements of each network), with build time and measured-entries count.
v100: TinyNAS's V100 TensorRT predictions (FP16 and INT8, batch 64) of ResNet-50 and the zoo's
    ZenNets, from `zsnas lut import-tinynas ../shared/data/latency/tinynas-v100`.
int8: fp32 vs int8 (Q/DQ) of 10 random networks each of res at 32 and 224 and mbv2 at 224 after
    BN calibration: logit cosine on held-out inputs beside the fp32 network's own sensitivity
    (its cosine under int8-sized weight noise), and onnxruntime latency (one thread, batch 8).
engine: candidates/s of a native (params) mbv2 search at 224 with and without a V100 INT8
    batch-64 latency budget (the conv model memoised in C++), and with the block-level JSON
    table the engine had before, all in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
TINYNAS = ROOT.parent / "shared" / "data" / "latency" / "tinynas-v100"


def tables(quick: bool, out_dir: str, spaces=("mbv2", "res")) -> None:
    from zsnas.latency.build import build_table, validate

    n = 20 if quick else 100
    print("| space @ res | batch | convs measured | build s | ±10 % | ±15 % | Spearman ρ | RMSE ms | median ms "
          "| noise floor | repeats ±15 % | overhead |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for space, res, cover in [x for x in (("mbv2", 224, 200), ("res", 32, 2000)) if x[0] in spaces]:
        for batch in (1, 8):
            folder = os.path.join(out_dir, f"{space}-{res}-b{batch}")
            t0 = time.perf_counter()
            path = build_table(folder, space, res, batch, samples=50, runs=10 if quick else 20, progress=False,
                               backend="onnxruntime", threads=1, fit=20, cover=0 if quick else cover)
            build_s = time.perf_counter() - t0
            convs = sum(1 for line in open(path) if line.strip())
            r = validate(folder, space, n=n, resolution=res, batch=batch, runs=10, progress=False,
                         plot=os.path.join(folder, "validate.png"))
            print(f"| {space} @ {res} | {batch} | {convs} | {build_s:.0f} | {r['within_10']:.0%} | "
                  f"{r['within_15']:.0%} | {r['spearman']:.3f} | {r['rmse_ms']:.3g} | {r['median_ms']:.3g} | "
                  f"{r['noise_floor']:.1%} | {r['noise_within_15']:.0%} | {r['overhead_ms']:.3g} ms + "
                  f"{r['scale']:.3g}× Σ + {r['per_conv_ms'] * 1e3:.3g} µs/conv + {r['per_mweight_ms']:.3g} ms/M "
                  f"weights + {r['per_mact_ms']:.3g} ms/M activations |", flush=True)
            json.dump(r, open(os.path.join(folder, "validate.json"), "w"), indent=1)


def v100(out_dir: str) -> None:
    from zsnas.latency import import_tinynas, open_latency_table
    from zsnas.latency.tables import target_ms
    from zsnas.zoo import zoo_names

    folder = os.path.join(out_dir, "v100")
    import_tinynas(TINYNAS, folder)
    print("| network | V100 FP16 b64 ms | FP16 ms / image | paper budget / image | V100 INT8 b64 ms | INT8 ms / image |")
    print("|---|---|---|---|---|---|")
    for name in ["resnet50"] + [z for z in zoo_names() if z.startswith("zennet")]:
        from zsnas.targets import resolve_target

        res = resolve_target(name).resolution
        ms = {p: target_ms(open_latency_table(folder, p, 64), name, res, 64, p) for p in ("fp16", "int8")}
        budget = name.split("-")[1] if name.endswith("ms") else ""
        print(f"| {name} @ {res} | {ms['fp16']:.3f} | {ms['fp16'] / 64:.4f} | {budget} | {ms['int8']:.3f} | "
              f"{ms['int8'] / 64:.4f} |")


def engine(out_dir: str) -> None:
    from zsnas.latency import import_tinynas, open_latency_table
    from zsnas.search import search

    folder = os.path.join(out_dir, "v100e")
    import_tinynas(TINYNAS, folder)
    its = 20000
    lat = dict(latency_table=folder, latency_precision="int8", latency_batch=64, budget={"latency_ms": 6.0})
    model = open_latency_table(folder, "int8", 64)
    rows = []

    def timed(label, seed, **kw):
        calls = model.predictor_calls
        t0 = time.perf_counter()
        run = search(space="mbv2", proxy="params", iterations=its, progress=False, seed=seed, **kw)
        dt = time.perf_counter() - t0
        rows.append((label, its / dt, run.counters["proposals"] / dt, model.predictor_calls - calls, dt))

    search(space="mbv2", proxy="params", iterations=its, progress=False, seed=99)  # imports, first-call costs
    timed("no latency budget (paper FLOPs/layers budget only)", 0)
    timed("+ V100 INT8 b64 ≤ 6 ms, memo empty", 0, **lat)
    for seed in range(1, 6):  # more searches fill the memo with the space's convolutions
        search(space="mbv2", proxy="params", iterations=its, progress=False, seed=seed, **lat)
    timed("+ V100 INT8 b64 ≤ 6 ms, memo warm (after 100k other iterations)", 9, **lat)
    base = rows[0][1]
    print(f"| mbv2 @ 224, params search, {its:,} iterations | iterations/s | × vs no latency budget | predictor "
          f"calls (Python) | seconds |")
    print("|---|---|---|---|---|")
    for label, ips, _, calls, dt in rows:
        print(f"| {label} | {ips:,.0f} | {ips / base:.2f} | {calls:,} | {dt:.2f} |")
    print(f"memo: {model.memo_size:,} convolutions")


INT8_CASES = (("res", 32, 10), ("res", 224, 1000), ("mbv2", 224, 1000))


def int8(out_dir: str, n: int = 10) -> None:
    """fp32 vs int8 (Q/DQ, BN calibrated) on random networks: logit cosine beside the fp32
    network's own sensitivity (its cosine under int8-sized weight noise), and onnxruntime latency."""
    import numpy as np

    import zsnas
    from zsnas.export.profile import time_onnxruntime
    from zsnas.spaces import Rng, get_space

    print("| network | logit cosine | fp32 with int8-sized weight noise | top-1 agreement | fp32 ms (b8) | "
          "int8 ms (b8) | int8 / fp32 |")
    print("|---|---|---|---|---|---|---|")
    summary = []
    for space, res, classes in INT8_CASES:
        sp, rng = get_space(space), Rng(11)
        cos, bound, ratio = [], [], []
        for i in range(n):
            a = str(sp.sample(rng))
            f, q = os.path.join(out_dir, f"{space}{res}-{i}.onnx"), os.path.join(out_dir, f"{space}{res}-{i}.int8.onnx")
            zsnas.export.onnx(a, f, resolution=res, num_classes=classes, seed=i)
            rep = zsnas.export.int8(a, q, samples=32, resolution=res, num_classes=classes, seed=i)
            t32 = time_onnxruntime(f, batch=8, resolution=res, runs=20, warmup=3).median_ms
            t8 = time_onnxruntime(q, batch=8, resolution=res, runs=20, warmup=3).median_ms
            cos.append(rep.checks["logit_cosine"])
            bound.append(rep.checks["weight_noise_cosine"])
            ratio.append(t8 / t32)
            print(f"| {space} @ {res} #{i} | {cos[-1]:.4f} | {bound[-1]:.4f} | {rep.checks['top1_agreement']:.2f} | "
                  f"{t32:.3f} | {t8:.3f} | {t8 / t32:.2f} |", flush=True)
        summary.append((space, res, cos, bound, ratio))
    for space, res, cos, bound, ratio in summary:
        print(f"{space} @ {res}: int8 cosine min {min(cos):.4f} / median {float(np.median(cos)):.4f} / max "
              f"{max(cos):.4f}; fp32 under int8-sized weight noise min {min(bound):.4f} / median "
              f"{float(np.median(bound)):.4f}; int8 at or above it (-0.02) on "
              f"{sum(c >= b - 0.02 for c, b in zip(cos, bound))} / {len(cos)}; "
              f"int8/fp32 latency median {float(np.median(ratio)):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["tables", "v100", "engine", "int8", "all"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--spaces", default="mbv2,res", help="tables: which spaces")
    ap.add_argument("--out", default=None, help="where the tables go [a temporary folder]")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="zsnas-bench-latency-")
    print(f"# {' '.join(sys.argv)}  (tables in {out})")
    if a.what in ("v100", "all"):
        v100(out)
    if a.what in ("engine", "all"):
        engine(out)
    if a.what in ("int8", "all"):
        int8(out)
    if a.what in ("tables", "all"):
        tables(a.quick, out, a.spaces.split(","))


if __name__ == "__main__":
    main()
