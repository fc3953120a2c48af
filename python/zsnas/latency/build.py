"""Measured latency tables for this machine, in TinyNAS's format, and their validation.

``build_table`` measures every convolution shape the networks of a space use at a resolution
(found by sampling the space: the shapes a search will meet), as deployment runtimes run them:
conv + bias (BN folded) + ReLU, with the residual add fused where TinyNAS's key says so. Lines
are appended as they are measured, so an interrupted build resumes where it stopped; a
``meta.json`` beside the table records machine, backend, library versions and threads.
``validate`` measures random networks of the space whole and compares them with the table's
prediction (TinyNASTable: sum over convolutions, interpolated where a shape is missing), after
fitting the per-network overhead (measured ≈ a + b × predicted) on a few of them.
"""
from __future__ import annotations

import json
import os
import platform
from typing import List, Optional

import numpy as np

from .tinynas import FILES, Conv, TinyNASTable, network_convs


def _conv_module(conv: Conv):
    import torch
    from torch import nn

    t, s, f, k, b, ic, h, oc = conv
    groups = ic if t == "Depthwise" else 1
    layer = nn.Conv2d(ic, oc, k, s, (k - 1) // 2, groups=groups, bias=True)

    class Unit(nn.Module):
        def forward(self, x, res=None):
            y = torch.relu(layer(x))
            return y + res if res is not None else y

    return Unit().eval(), layer


def measure_conv(conv: Conv, runs: int = 20, warmup: int = 3) -> float:
    """Median milliseconds of one conv + bias + ReLU (+ the residual add when fused), torch, this CPU."""
    import torch

    from ..export.profile import time_runs

    t, s, f, k, b, ic, h, oc = conv
    unit, _ = _conv_module(conv)
    x = torch.randn(b, ic, h, h)
    h_out = (h + 2 * ((k - 1) // 2) - k) // s + 1
    res = torch.randn(b, oc, h_out, h_out) if f else None

    def run():
        with torch.no_grad():
            unit(x, res)

    return time_runs(run, backend="torch-cpu", batch=b, runs=runs, warmup=warmup).median_ms


CHANNEL_GRID = (8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
RATIO_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)


def space_convs(space, resolution: int, batch: int, samples: int, seed: int = 0,
                channels=CHANNEL_GRID, ratios=RATIO_GRID) -> List[Conv]:
    """The grid of convolution shapes a space needs measured: for every (type, stride, fused add,
    kernel) and input size its networks use (found in `samples` random members and the initial),
    output channels over `channels` (within the space's range) and, for regular convolutions,
    in/out channel ratios over `ratios` (a 3-channel stem as its own ratio). The predictor
    interpolates between the grid points as TinyNAS does."""
    from ..spaces import Rng, get_space

    sp = get_space(space)
    rng = Rng(seed)
    archs = [sp.initial] + [sp.sample(rng) for _ in range(samples)]
    keys, stems = {}, {}
    seen_c = []
    for a in archs:
        for t, s, f, k, b, ic, h, oc in network_convs(a, resolution, batch):
            (stems if (t == "Regular" and ic == 3) else keys).setdefault((t, s, f, k, h), None)
            seen_c += [oc] + ([] if ic == 3 else [ic])
    # the channel range the sampled networks use, one grid step wider each way
    grid_c = sorted(channels)
    lo = max([c for c in grid_c if c <= min(seen_c)] or grid_c[:1])
    hi = min([c for c in grid_c if c >= max(seen_c)] or grid_c[-1:])
    outs = [c for c in grid_c if lo <= c <= hi]
    grid = {}
    for t, s, f, k, h in stems:
        for oc in outs:
            grid.setdefault((t, s, f, k, batch, 3, h, oc), None)
    for t, s, f, k, h in keys:
        for oc in outs:
            for r in ((1.0,) if t == "Depthwise" else ratios):
                ic = int(round(oc * r))
                if lo <= ic <= hi:
                    grid.setdefault((t, s, f, k, batch, ic, h, oc), None)
    return list(grid)


def _meta(backend: str, precision: str, batch: int, resolution: int, space: str) -> dict:
    import torch

    return {"machine": platform.node(), "cpu": platform.processor() or platform.machine(), "backend": backend,
            "precision": precision, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "batch": batch, "resolution": resolution, "space": space, "format": "tinynas"}


def build_table(out_dir: str, space: str = "res", resolution: Optional[int] = None, batch: int = 1,
                samples: int = 50, runs: int = 20, progress: bool = True, seed: int = 0,
                channels=CHANNEL_GRID, ratios=RATIO_GRID) -> str:
    """Measure the space's convolutions on this machine into OUT_DIR/conv_data.out (fp32, torch
    on the CPU); resumable. Returns the table's path."""
    from ..progress import progress_bar
    from ..rundir import RunLock, write_atomic
    from ..spaces import get_space

    res = resolution or get_space(space).resolution
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, FILES["fp32"])
    with RunLock(out_dir):
        meta_path = os.path.join(out_dir, "meta.json")
        meta = _meta("torch", "fp32", batch, res, str(space))
        if os.path.exists(meta_path):
            old = json.load(open(meta_path))
            if {k: old.get(k) for k in ("machine", "backend", "precision", "threads")} != \
                    {k: meta[k] for k in ("machine", "backend", "precision", "threads")}:
                raise ValueError(f"{out_dir} holds a table measured under {old}; measure into another folder")
        write_atomic(meta_path, json.dumps(meta, indent=1))
        done = set()
        if os.path.exists(path):
            with open(path) as fh:
                done = {line.split("}")[0] + "}" for line in fh if line.strip().endswith(tuple("0123456789"))}
        todo = [c for c in space_convs(space, res, batch, samples, seed, channels, ratios)
                if _key_text(c) not in done]
        bar = progress_bar(len(todo), "measuring convolutions", unit="conv", enabled=progress)
        try:
            with open(path, "a") as fh:
                for c in todo:
                    fh.write(f"{_key_text(c)} {measure_conv(c, runs=runs):.6g}\n")
                    fh.flush()
                    bar.update(1)
        finally:
            bar.close()
    return path


def _key_text(c: Conv) -> str:
    t, s, f, k, b, ic, h, oc = c
    return f"{{{t},{b},{ic},{h},{h},{oc},{k},{s},{f}}}"


def measure_network(arch, resolution: int, batch: int, runs: int = 10) -> float:
    """Median milliseconds of the whole deployed network (eval mode, torch, this CPU)."""
    from ..export.profile import time_torch
    from ..targets import resolve_target

    model = resolve_target(str(arch)).build(residual=True)
    return time_torch(model, batch=batch, resolution=resolution, runs=runs, warmup=2).median_ms


def validate(table_dir: str, space: str = "res", n: int = 100, resolution: Optional[int] = None, batch: int = 1,
             fit: int = 10, runs: int = 10, seed: int = 1, plot: Optional[str] = None, progress: bool = True) -> dict:
    """Measure `n` random networks whole against the table's prediction.

    The first `fit` fix the per-network overhead (least squares measured = a + b·predicted); the
    rest are scored: share within ±10 % and ±15 %, RMSE (ms), Spearman ρ, and the noise floor
    (the median relative difference between two measurements of the same network)."""
    from scipy import stats

    from ..progress import progress_bar
    from ..spaces import Rng, get_space

    sp = get_space(space)
    res = resolution or sp.resolution
    table = TinyNASTable(table_dir, "fp32")
    rng = Rng(seed)
    archs = [sp.sample(rng) for _ in range(n + fit)]
    pred, meas, again = [], [], []
    bar = progress_bar(len(archs), "validating", unit="net", enabled=progress)
    for a in archs:
        pred.append(table.network_ms(a, res, batch))
        meas.append(measure_network(a, res, batch, runs))
        again.append(measure_network(a, res, batch, runs))
        bar.update(1)
    bar.close()
    pred, meas, again = np.array(pred), np.array(meas), np.array(again)
    b_, a_ = np.polyfit(pred[:fit], meas[:fit], 1)
    p, m = a_ + b_ * pred[fit:], meas[fit:]
    rel = np.abs(p - m) / m
    out = {"n": int(len(m)), "overhead_ms": float(a_), "scale": float(b_),
           "within_10": float(np.mean(rel <= 0.10)), "within_15": float(np.mean(rel <= 0.15)),
           "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))), "spearman": float(stats.spearmanr(p, m).statistic),
           "noise_floor": float(np.median(np.abs(again - meas) / meas))}
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4), dpi=100)
        ax.scatter(m, p, s=8)
        lim = [0, max(m.max(), p.max()) * 1.05]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel("measured ms")
        ax.set_ylabel("predicted ms")
        ax.set_title(f"{space} @ {res}, batch {batch}: ±10 % {out['within_10']:.0%}, ρ {out['spearman']:.3f}",
                     fontsize=8)
        fig.tight_layout()
        fig.savefig(plot)
        plt.close(fig)
    return out


__all__ = ["build_table", "validate", "measure_conv", "measure_network", "space_convs"]
