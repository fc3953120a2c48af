"""Proxy speed: zsnas Zen-score / AZ-NAS against the authors' algorithms (bench/baselines/).

    PYTHONPATH=bench python bench/bench_proxies.py [--runs 5] [--threads 1]

Rows (B=64, one thread unless --threads): AZ-NAS on NAS-Bench-201 cell networks at 32x32
(a median-FLOPs cell of nb201_dev.csv and the all-conv best cell), Zen-score (one repeat) on
the CIFAR ZenNet-1.0M structure. Each cell of the table is the minimum over --runs runs of
process CPU time (the machine is shared: wall time is printed too); the columns of a row take
turns run by run. Each run is handed a fresh network (a deep copy of the NB201 network, a
newly built ZenNet) made outside the timing, on both sides: the rows time the proxies
themselves, not building or copying torch modules (~45 ms for an NB201 network), which
either side needs once per architecture, outside the proxy. Values are printed so the two columns
can be seen to compute the same quantities (they differ by the documented choices: probes
drawn differently, batch vs running variance, fp64 vs fp32 eigen).

--cells N also times AZ-NAS on N random cells of the development CSV and prints the spread of
the per-cell ratios (the two named cells are its typical and its convolution-bound end).

The "conv floor" rows time only the network's convolutions (channels_last oneDNN, each conv
on its recorded input: forward for Zen's two passes; forward + input-gradient for AZ) and
print the baseline total over that time: the best ratio any implementation running every
convolution through oneDNN can reach. Zen-score passes it where its fused expand -> BN+ReLU
-> 1x1 contract kernel replaces convolution pairs (--rows zen times only that row).
"""
from __future__ import annotations

import argparse
import copy
import csv
import math
import os
import random
import statistics
import time

import torch

from baselines.az_authors import az_scores_authors
from baselines.zen_authors import zen_score_authors

from zsnas.nn import build_model
from zsnas.nn.counting import count_macs
from zsnas.nn.nb201 import nb201_network
from zsnas.proxies.az import az_scores
from zsnas.proxies.zen import zen_score

ZENNET_CIFAR_1M = (
    "SuperConvK3BNRELU(3,88,1,1)SuperResK1K7K1(88,120,1,16,1)SuperResK1K7K1(120,192,2,16,3)"
    "SuperResK1K5K1(192,224,1,24,4)SuperResK1K5K1(224,96,2,24,2)SuperResK1K3K1(96,168,2,40,3)"
    "SuperResK1K3K1(168,112,1,48,3)SuperConvK1BNRELU(112,512,1,1)"
)
NB201_CELLS = {
    "median": "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|",
    "all-conv": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
}


def timed(*cases, runs: int):
    """Per case (prepare, fn): (min CPU seconds, min wall seconds, last result) of fn(prepare())
    over `runs` calls after one warm-up; prepare() (a fresh copy of the network, say) runs
    outside the timing. The cases take turns run by run, so a slow spell of this shared machine
    hits every column alike and the ratios stay meaningful."""
    outs = [fn(prepare()) for prepare, fn in cases]
    cpu = [[] for _ in cases]
    wall = [[] for _ in cases]
    for _ in range(runs):
        for k, (prepare, fn) in enumerate(cases):
            arg = prepare()
            c0, w0 = time.process_time(), time.perf_counter()
            outs[k] = fn(arg)
            cpu[k].append(time.process_time() - c0)
            wall[k].append(time.perf_counter() - w0)
    return [(min(c), min(w), o) for c, w, o in zip(cpu, wall, outs)]


def copies(model):
    """prepare(): a fresh deep copy of `model` for each timed run."""
    return lambda: copy.deepcopy(model)


def conv_floor(model, resolution: int, batch: int, passes: int, backward: bool):
    """A function running just the model's convolutions (channels_last, one forward per pass,
    plus the input-gradient when ``backward``), each on the input it sees in a real forward."""
    model = model.to(memory_format=torch.channels_last).train()
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append((m, i[0].detach(), o.shape)))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model.forward_pre_gap(torch.randn(batch, 3, resolution, resolution).contiguous(
            memory_format=torch.channels_last))
    for h in hooks:
        h.remove()
    for m in model.parameters():
        m.requires_grad_(False)
    grads = [torch.randn(shape).contiguous(memory_format=torch.channels_last) for _, _, shape in calls]

    def run(_=None):
        for _ in range(passes):
            for (m, x, _), g in zip(calls, grads):
                if backward:
                    x = x.requires_grad_(True)
                    with torch.enable_grad():
                        torch.autograd.grad(m(x), x, g)
                else:
                    with torch.no_grad():
                        m(x)

    return run


def az_over_cells(path: str, count: int, batch: int, runs: int) -> None:
    """Per-cell authors/zsnas CPU-time ratios of AZ-NAS over `count` random cells of `path`."""
    with open(path, newline="") as f:
        cells = [row["arch_str"] for row in csv.DictReader(f)]
    picked = random.Random(0).sample(cells, min(count, len(cells)))
    ratios = []
    for cell in picked:
        model = nb201_network(cell)
        flops = count_macs(model, (3, 32, 32))
        base, ours = timed(
            (copies(model), lambda m: az_scores_authors(m, 32, batch, flops)),
            (copies(model), lambda m: az_scores(m, resolution=32, batch_size=batch, flops=flops, copy_model=False)),
            runs=runs)
        ratios.append(base[0] / ours[0])
        print(f"  {cell}  {flops / 1e6:6.1f} MMAC  {base[0]:.3f} s / {ours[0]:.3f} s = {ratios[-1]:.2f}x", flush=True)
    ratios.sort()
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"AZ-NAS over {len(ratios)} cells: median {statistics.median(ratios):.2f}x, geometric mean {geo:.2f}x, "
          f"min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--cells", type=int, default=0,
                    help="also time AZ-NAS on this many cells drawn (seed 0) from --data and print the "
                         "distribution of the per-cell ratios")
    ap.add_argument("--rows", choices=["all", "az", "zen"], default="all", help="time only these rows")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                   "nb201_dev.csv"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    B = args.batch
    if args.cells:
        az_over_cells(args.data, args.cells, B, args.runs)

    rows, floors = [], []
    for label, cell in (NB201_CELLS.items() if args.rows != "zen" else ()):
        model = nb201_network(cell)
        flops = count_macs(model, (3, 32, 32))
        base, ours, floor = timed(
            (copies(model), lambda m: az_scores_authors(m, 32, B, flops)),
            (copies(model), lambda m: az_scores(m, resolution=32, batch_size=B, flops=flops, copy_model=False)),
            (lambda: None, conv_floor(copy.deepcopy(model), 32, B, passes=1, backward=True)), runs=args.runs)
        rows.append((f"AZ-NAS  NB201 {label} cell ({flops / 1e6:.1f} MMAC)", base, ours,
                     f"E {base[2]['expressivity']:.3f}/{ours[2]['expressivity']:.3f}  "
                     f"T {base[2]['trainability']:.4f}/{ours[2]['trainability']:.4f}"))
        floors.append(("  conv floor: fwd + input-grad convs only", base[0], floor[0]))

    def zennet(residual: bool = False):
        return build_model(ZENNET_CIFAR_1M, residual=residual, num_classes=10)

    # each side gets a freshly built network, built outside the timing
    base, ours, floor = (None, None, None) if args.rows == "az" else timed(
        (zennet, lambda m: zen_score_authors(m, 32, B, repeats=1)),
        (zennet, lambda m: zen_score(m, resolution=32, batch_size=B, repeats=1, copy_model=False).value),
        (lambda: None, conv_floor(zennet(), 32, B, passes=2, backward=False)), runs=args.runs)
    if base is not None:
        rows.append(("Zen     ZenNet-1.0M CIFAR (1 repeat)", base, ours, f"score {base[2]:.3f}/{ours[2]:.3f}"))
        floors.append(("  conv floor: the two passes' convs only", base[0], floor[0]))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), B={B}, min of {args.runs} runs")
    head = f"{'row':46s} {'authors cpu s':>13s} {'zsnas cpu s':>11s} {'ratio':>6s} {'(wall a/z)':>13s}  values authors/zsnas"
    print(head)
    print("-" * len(head))
    for (name, b, o, vals), (fname, fb, fo) in zip(rows, floors):
        print(f"{name:46s} {b[0]:13.3f} {o[0]:11.3f} {b[0] / o[0]:5.2f}x {b[1]:6.2f}/{o[1]:<6.2f}  {vals}")
        print(f"{fname:46s} {fb:13.3f} {fo:11.3f} {fb / fo:5.2f}x  (best ratio with oneDNN convolutions)")


if __name__ == "__main__":
    main()
