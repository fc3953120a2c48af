"""TinyNAS's TensorRT convolution latency tables and its predictor (REFERENCE: TinyNAS
op_profiler; the tables in ../shared/data/latency/tinynas-v100 with their README and licence).

A network's latency is the sum over its convolutions, each looked up by (type, batch, in
channels, input size, out channels, kernel, stride, residual add fused); the last convolution of
a residual unit carries the fused add. A shape the table lacks is interpolated as TinyNAS does:
linearly over (out channels, input size) within a channel ratio in/out (nearest neighbour where
that is undefined), linearly over the ratio (a stem over 3 channels has its own ratio "0"), and
over the batch size. Squeeze-excitation, pooling and the classifier are not convolutions of the
table and are not charged, as in TinyNAS. Measured failures (-1 in the files) are left out.
"""
from __future__ import annotations

import functools
import math
import os
import re
from typing import Dict, List, Tuple

import numpy as np

FILES = {"fp32": "conv_data.out", "fp16": "conv_data.out.fp16", "int8": "conv_data.out.int8"}
_LINE = re.compile(r"\{(Regular|Depthwise),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),([01])\}\s+(\S+)")

Conv = Tuple[str, int, int, int, int, int, int, int]  # type, stride, fused, kernel, batch, in_c, in_h, out_c


class TinyNASTable:
    def __init__(self, directory: str, precision: str = "int8"):
        if precision not in FILES:
            raise ValueError(f"TinyNAS tables exist for {', '.join(FILES)}, not {precision!r}")
        self.path = os.path.join(str(directory), FILES[precision])
        if not os.path.isfile(self.path):
            raise ValueError(f"no TinyNAS table {self.path} (the folder ../shared/data/latency/tinynas-v100 holds them)")
        self.precision = precision
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
                if ms <= 0 or not math.isfinite(ms):
                    continue  # a failed measurement
                self.exact[(t, s, f, k, b, ic, h, oc)] = ms
                ratio = 0.0 if (t == "Regular" and ic == 3) else (ic / oc if t == "Regular" else 1.0)
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
        return linear, NearestNDInterpolator(pts, vals, rescale=len(np.unique(pts[:, 0])) > 1
                                             and len(np.unique(pts[:, 1])) > 1)

    def _in_ratio(self, key: tuple, batch: int, ratio: float, out_c: int, in_h: int) -> float:
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
        t, s, f, k, b, ic, h, oc = conv
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
        return sum(self.conv_ms(c) for c in network_convs(arch, resolution, batch))


def _extrapolate(xs, ys, x) -> float:
    i = 0 if x < xs[0] else len(xs) - 2
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


def network_convs(arch, resolution: int, batch: int) -> List[Conv]:
    """The convolutions of `arch` (deployed: residual links kept) at `resolution`, as TinyNAS
    keys them; the last conv of a residual unit carries the add (fused 1)."""
    from ..arch import Arch

    core = Arch(arch)._core
    h = int(resolution)
    out: List[Conv] = []
    for unit in core.units():
        h_in = h
        convs = [l for l in unit["layers"] if l["kind"] == "conv"]
        for i, layer in enumerate(convs):
            depthwise = layer["groups"] > 1 and layer["groups"] == layer["in"] == layer["out"]
            fused = 1 if unit["residual"] and i == len(convs) - 1 else 0
            out.append(("Depthwise" if depthwise else "Regular", layer["stride"], fused, layer["kernel"], batch,
                        layer["in"], h, layer["out"]))
            h = (h + 2 * ((layer["kernel"] - 1) // 2) - layer["kernel"]) // layer["stride"] + 1
        if unit["projection"]:
            out.append(("Regular", unit["stride"], 0, 1, batch, unit["in"], h_in, unit["out"]))
    return out


@functools.lru_cache(maxsize=8)
def _table(directory: str, precision: str) -> TinyNASTable:
    return TinyNASTable(directory, precision)


def _parse_spec(spec: str) -> Tuple[str, str]:
    kind, _, rest = str(spec).partition(":")
    directory, _, precision = rest.rpartition(":")
    if kind != "tinynas" or not directory:
        raise ValueError(f"latency model {spec!r}: write tinynas:DIR:fp32|fp16|int8")
    return os.path.abspath(directory), precision


def canonical_spec(spec: str) -> str:
    """The spec with its folder made absolute (what a run stores and compares on resume)."""
    directory, precision = _parse_spec(spec)
    return f"tinynas:{directory}:{precision}"


def load_latency_model(spec: str):
    """"tinynas:DIR:PRECISION" -> TinyNASTable (cached per process)."""
    return _table(*_parse_spec(spec))


__all__ = ["TinyNASTable", "network_convs", "load_latency_model", "canonical_spec"]
