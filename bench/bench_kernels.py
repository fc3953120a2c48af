"""Fused expand kernel vs the ops it replaces, on ZenNet-1.0M's shapes (B=64 at 32x32, CPU).

    python bench/bench_kernels.py [--runs 15] [--threads 1]

Each row is one widening convolution -> training-mode BN+ReLU -> 1x1 convolution of
ZenNet-1.0M (its 3x3 stem and its unit-to-unit 1x1 pairs), with "calls" how often one Zen-score
pass runs it. Columns (minimum wall time over --runs, the columns taking turns run by run):

  fused     zsnas.ops.expand_bn_contract_train_eager (the middle tensor never stored)
  unfused   oneDNN conv -> zsnas's in-place BN+ReLU kernel -> oneDNN conv: what Zen-score ran
            before the fused kernel (and still runs on CPUs without AVX2+FMA)
  torch     oneDNN conv -> torch BatchNorm2d (training) -> ReLU -> oneDNN conv

All inputs channels_last float32; the two outputs are checked to agree. GMAC/s counts the
two convolutions' multiply-accumulates.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from zsnas import ops

# (input channels, kernel, middle E, output D, resolution, calls per Zen-score pass)
ZENNET_1M_PAIRS = [
    (3, 3, 88, 16, 32, 1),
    (16, 1, 120, 16, 32, 2),
    (16, 1, 192, 16, 16, 5),
    (16, 1, 192, 24, 16, 1),
    (24, 1, 224, 24, 16, 8),
    (24, 1, 96, 24, 8, 3),
    (24, 1, 96, 40, 8, 1),
    (40, 1, 168, 40, 4, 5),
    (40, 1, 168, 48, 4, 1),
    (48, 1, 112, 48, 4, 5),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), B={args.batch}, "
          f"AVX2+FMA path: {ops.EXPAND_SIMD}, min of {args.runs} runs")
    head = (f"{'pair (C k E D @res, calls)':30s} {'fused ms':>9s} {'GMAC/s':>7s} {'unfused ms':>11s} "
            f"{'torch ms':>9s} {'vs unfused':>11s} {'vs torch':>9s}")
    print(head)
    print("-" * len(head))
    tot = [0.0, 0.0, 0.0]
    g = torch.Generator().manual_seed(0)
    for c, k, e, d, res, calls in ZENNET_1M_PAIRS:
        x = torch.relu(torch.randn(args.batch, c, res, res, generator=g)).contiguous(memory_format=torch.channels_last)
        w1 = torch.randn(e, c, k, k, generator=g)
        w2 = torch.randn(d, e, 1, 1, generator=g)
        bn = torch.nn.BatchNorm2d(e).train()
        pad = k // 2

        def fused():
            return ops.expand_bn_contract_train_eager(x, w1, None, None, 1e-5, w2, True, 1, pad)[0]

        def unfused():
            mid = F.conv2d(x, w1, padding=pad)
            ops.batch_norm_relu_train_eager_(mid, None, None, 1e-5, True)
            return F.conv2d(mid, w2)

        def plain():
            return F.conv2d(torch.relu(bn(F.conv2d(x, w1, padding=pad))), w2)

        cases = (fused, unfused, plain)
        outs = [fn() for fn in cases]
        scale = outs[1].abs().max().item()
        assert (outs[0] - outs[1]).abs().max().item() <= 1e-4 * scale, "fused and unfused disagree"
        best = [float("inf")] * len(cases)
        for _ in range(args.runs):
            for i, fn in enumerate(cases):
                t0 = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - t0)
        for i in range(3):
            tot[i] += calls * best[i]
        macs = args.batch * res * res * e * (c * k * k + d)
        print(f"{f'{c} k{k} {e} {d} @{res}, x{calls}':30s} {best[0] * 1e3:9.2f} {macs / best[0] / 1e9:7.1f} "
              f"{best[1] * 1e3:11.2f} {best[2] * 1e3:9.2f} {best[1] / best[0]:10.2f}x {best[2] / best[0]:8.2f}x")
    print(f"{'one Zen-score pass, all pairs':30s} {tot[0] * 1e3:9.1f} {'':7s} {tot[1] * 1e3:11.1f} "
          f"{tot[2] * 1e3:9.1f} {tot[1] / tot[0]:10.2f}x {tot[2] / tot[0]:8.2f}x")


if __name__ == "__main__":
    main()
