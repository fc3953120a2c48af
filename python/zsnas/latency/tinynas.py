"""TinyNAS's TensorRT convolution latency tables and its predictor (REFERENCE: TinyNAS
op_profiler; the tables in ../shared/data/latency/tinynas-v100 with their README and licence).

A network's latency is the sum over its convolutions, each looked up by (type, batch, in
channels, input size, out channels, kernel, stride, residual add fused); the last convolution of
a residual unit carries the fused add. A shape the table lacks is interpolated as TinyNAS does:
linearly over (out channels, input size) within a channel ratio in/out (nearest neighbour where
that is undefined), linearly over the ratio (truncated to two decimals as TinyNAS groups it; a
stem over 3 channels has its own ratio "0"), and over the batch size. As in TinyNAS, 4x4 inputs
are left out of the table. Squeeze-excitation, pooling and the classifier are not convolutions of the
table and are not charged, as in TinyNAS. Measured failures (-1 in the files) are left out.
"""
from __future__ import annotations

import functools
import math
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

FILES = {"fp32": "conv_data.out", "fp16": "conv_data.out.fp16", "int8": "conv_data.out.int8"}
_LINE = re.compile(r"\{(Regular|Depthwise),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),([01])\}\s+(\S+)")

Conv = Tuple[str, int, int, int, int, int, int, int]  # type, stride, fused, kernel, batch, in_c, in_h, out_c


class TinyNASTable:
    """drop_4x4: leave out 4x4-input lines as TinyNAS's loader does (its V100 tables); a table
    measured by `zsnas lut build` keeps them (meta.json says drop_4x4: false).

    channel_block: channel counts above it are rounded up to a multiple of it before the look-up
    (not a 3-channel stem's input). CPU convolution libraries compute channels in SIMD blocks (16 floats
    with AVX-512, 8 with AVX2), so a 40-channel convolution costs what a 48-channel one does --
    a staircase that interpolating between grid points misses by up to 3×. `zsnas lut build`
    records the block of the machine it measured on (meta.json channel_block); TinyNAS's tables
    and the default keep 1 (its rule as written).

    grid_ratios: only lines whose in/out ratio is one of these (and 3-channel stems) feed the
    interpolation; the others are exact look-ups only. A zsnas table measures the exact shapes of
    many networks besides its grid (`lut build --cover`): their odd ratios as interpolation groups
    of a few points each extrapolate wildly (seen: 140× off), so they answer only themselves."""

    def __init__(self, directory: str, precision: str = "int8", drop_4x4: bool = True, channel_block: int = 1,
                 grid_ratios: Optional[Sequence[float]] = None):
        if precision not in FILES:
            raise ValueError(f"TinyNAS tables exist for {', '.join(FILES)}, not {precision!r}")
        self.path = os.path.join(str(directory), FILES[precision])
        if not os.path.isfile(self.path):
            raise ValueError(f"no TinyNAS table {self.path} (the folder ../shared/data/latency/tinynas-v100 holds them)")
        self.precision = precision
        if isinstance(channel_block, bool) or not isinstance(channel_block, int) or channel_block < 1:
            raise ValueError(f"channel_block must be a whole number >= 1, got {channel_block!r}")
        self.channel_block = channel_block
        grid = None if grid_ratios is None else {int(float(r) * 100) / 100 for r in grid_ratios}
        self._point_memo: Dict[tuple, float] = {}
        self.exact: Dict[tuple, float] = {}
        # (type, stride, fused, kernel) -> batch -> ratio -> [(out_c, in_h, ms)]
        self.groups: Dict[tuple, Dict[int, Dict[float, list]]] = {}
        with open(self.path) as fh:
            for n, line in enumerate(fh, 1):
                m = _LINE.match(line.strip())
                if m is None:
                    if line.strip():
                        raise ValueError(f"{self.path}:{n}: not a TinyNAS table line: {line.strip()[:80]!r}")
                    continue
                t, b, ic, h, w, oc, k, s, f, ms = m.groups()
                b, ic, h, oc, k, s, f, ms = int(b), int(ic), int(h), int(oc), int(k), int(s), int(f), float(ms)
                if ms < 0 or not math.isfinite(ms) or (drop_4x4 and h == 4):
                    continue  # a failed measurement; TinyNAS also leaves out every 4x4 input
                self.exact[(t, s, f, k, b, ic, h, oc)] = ms
                # TinyNAS groups regular convs by in/out ratio truncated to two decimals (3-channel stems: 0)
                ratio = 0.0 if (t == "Regular" and ic == 3) else (int(ic / oc * 100) / 100 if t == "Regular" else 1.0)
                if grid is not None and t == "Regular" and ratio != 0.0 and ratio not in grid:
                    continue
                self.groups.setdefault((t, s, f, k), {}).setdefault(b, {}).setdefault(ratio, []).append((oc, h, ms))
        if not self.exact:
            raise ValueError(f"{self.path} holds no measurements")

    @functools.lru_cache(maxsize=None)
    def _interpolators(self, key: tuple, batch: int, ratio: float):
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

        pts = np.array([(oc, h) for oc, h, _ in self.groups[key][batch][ratio]], dtype=np.float64)
        vals = np.array([ms for _, _, ms in self.groups[key][batch][ratio]], dtype=np.float64)
        try:
            linear = LinearNDInterpolator(pts, vals) if len(pts) >= 3 else None
        except Exception:  # noqa: BLE001 -- collinear points (a sparse table): no triangulation
            linear = None
        # TinyNAS rescales always; a group with one distinct value on an axis cannot be rescaled
        return linear, NearestNDInterpolator(pts, vals, rescale=len(np.unique(pts[:, 0])) > 1
                                             and len(np.unique(pts[:, 1])) > 1)

    def _in_ratio(self, key: tuple, batch: int, ratio: float, out_c: int, in_h: int) -> float:
        # Convolutions differing only in in-channels share these points (a search meets many)
        memo_key = (key, batch, ratio, out_c, in_h)
        hit = self._point_memo.get(memo_key)
        if hit is None:
            hit = self._point_memo[memo_key] = self._interpolate_point(key, batch, ratio, out_c, in_h)
        return hit

    def _interpolate_point(self, key: tuple, batch: int, ratio: float, out_c: int, in_h: int) -> float:
        linear, nearest = self._interpolators(key, batch, ratio)
        v = float(linear(out_c, in_h)) if linear is not None else math.nan
        return v if math.isfinite(v) and v >= 0 else float(nearest(out_c, in_h))

    def _at_batch(self, key: tuple, batch: int, in_c: int, in_h: int, out_c: int) -> float:
        ratios = self.groups[key][batch]
        if key[0] == "Depthwise":
            return self._in_ratio(key, batch, 1.0, out_c, in_h)
        if in_c == 3 and 0.0 in ratios:
            return self._in_ratio(key, batch, 0.0, out_c, in_h)
        want = in_c / out_c
        if want in ratios:
            return self._in_ratio(key, batch, want, out_c, in_h)
        rs, vs = [], []
        for r in sorted(x for x in ratios if x > 0):
            v = self._in_ratio(key, batch, r, out_c, in_h)
            if len(rs) < 2 or v > vs[-1]:  # keep the ratio curve increasing, as TinyNAS does
                rs.append(r)
                vs.append(v)
        if len(rs) == 1:
            return vs[0] * want / rs[0]
        v = float(np.interp(want, rs, vs)) if rs[0] <= want <= rs[-1] else _extrapolate(rs, vs, want)
        return v if v >= 0 else want / rs[0] * vs[0]

    def conv_ms(self, conv: Conv) -> float:
        """Milliseconds of one convolution (the whole batch), measured or interpolated."""
        t, s, f, k, b, ic, h, oc = blocked(conv, self.channel_block)
        hit = self.exact.get((t, s, f, k, b, ic, h, oc))
        if hit is not None:
            return hit
        key = (t, s, f, k)
        if key not in self.groups:
            raise ValueError(f"the TinyNAS {self.precision} table has no {t} {k}x{k} stride-{s} convolutions "
                             f"(fused add {f})")
        batches = sorted(self.groups[key])
        if b in self.groups[key]:
            return self._at_batch(key, b, ic, h, oc)
        vs = [self._at_batch(key, x, ic, h, oc) for x in batches]
        return max(0.0, float(np.interp(b, batches, vs)) if batches[0] <= b <= batches[-1]
                   else _extrapolate(batches, vs, b))

    def network_ms(self, arch, resolution: int, batch: int = 1) -> float:
        """Σ over the network's convolutions (no per-network overhead: see tables.py)."""
        return sum(self.conv_ms(c) for c in network_convs(arch, resolution, batch))

    def predict(self, keys) -> List[float]:
        """ms of each [depthwise, stride, fused, kernel, batch, in_c, in_h, out_c] (the C++
        model's predictor: it asks only for shapes it has not memoised)."""
        return [self.conv_ms(("Depthwise" if d else "Regular", s, f, k, b, ic, h, oc))
                for d, s, f, k, b, ic, h, oc in keys]


def blocked(conv: Conv, block: int) -> Conv:
    """`conv` with its channel counts above one block rounded up to a multiple of `block` (a
    3-channel stem's input kept): the shape a CPU convolution library computes. Counts up to one
    block stay (measured on AVX-512: 8 input channels cost half of 16, 40 cost what 48 do)."""
    if block == 1:
        return conv
    t, s, f, k, b, ic, h, oc = conv
    up = lambda c: c if c <= block else -(-c // block) * block  # noqa: E731
    return (t, s, f, k, b, ic if (t == "Regular" and ic == 3) else up(ic), h, up(oc))


def _extrapolate(xs, ys, x) -> float:
    i = 0 if x < xs[0] else len(xs) - 2
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


def network_convs(arch, resolution: int, batch: int) -> List[Conv]:
    """The convolutions of `arch` (deployed: residual links kept) at `resolution`, as TinyNAS
    keys them; the last conv of a residual unit carries the add (fused 1). The decomposition is
    the C++ one the engine's latency budget uses (zsnas._core.network_convs)."""
    from .. import _core
    from ..arch import Arch

    return [(c["type"], c["stride"], c["fused"], c["kernel"], c["batch"], c["in_c"], c["in_h"], c["out_c"])
            for c in _core.network_convs(Arch(arch)._core, int(resolution), int(batch))]


def module_convs(model, resolution: int, batch: int) -> List[Conv]:
    """The convolutions of a torch network (a ResNet, any nn.Module), found by running it once
    with hooks; a residual unit (a module with ``residual`` true and ``plain_layers()``, as
    zsnas.nn's blocks have) fuses the add into its chain's last conv, as TinyNAS keys it."""
    import torch
    from torch import nn

    fused = set()
    for m in model.modules():
        if getattr(m, "residual", False) and hasattr(m, "plain_layers"):
            convs = [l for l in m.plain_layers() if isinstance(l, nn.Conv2d)]
            if convs:
                fused.add(id(convs[-1]))
    out: List[Conv] = []

    def hook(conv, inputs, _):
        x = inputs[0]
        depthwise = conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels
        out.append(("Depthwise" if depthwise else "Regular", conv.stride[0], int(id(conv) in fused),
                    conv.kernel_size[0], batch, conv.in_channels, int(x.shape[-1]), conv.out_channels))

    from ..nn.hooks import forward_with_hooks

    forward_with_hooks(model.eval(), torch.zeros(1, 3, resolution, resolution),
                       (m for m in model.modules() if isinstance(m, nn.Conv2d)), hook)
    return out


__all__ = ["TinyNASTable", "network_convs", "module_convs", "FILES"]
