"""Measured latency tables for this machine, in TinyNAS's format, and their validation.

``build_table`` measures every convolution shape the networks of a space use at a resolution
(found by sampling the space: the shapes a search will meet), as deployment runtimes run them:
conv + bias (BN folded) + ReLU, the residual add fused where TinyNAS's key says so, on torch or
onnxruntime (one thread unless told otherwise). Lines are appended as they are measured, so an
interrupted build resumes where it stopped. It then measures a few whole networks and fits the
per-network overhead the sum over convolutions misses (measured ≈ a + b × Σ conv: pooling, the
classifier, SE, memory traffic between layers) into ``meta.json``, which also records machine,
backend, library versions and threads. ``validate`` measures random networks of the space
(never the fitting ones) whole, against what the engine predicts from the table (C++,
zsnas.latency.tables).
"""
from __future__ import annotations

import itertools
import json
import os
import platform
from typing import List, Optional

import numpy as np

from .tinynas import FILES, Conv, blocked, network_convs

BACKENDS = ("torch", "onnxruntime")
FIT_SEED = 10_000  # the fitting networks' sampler seed (validation draws from others)


def conv_out_size(h: int, k: int, s: int) -> int:
    """Output size of a k×k stride-s convolution with padding (k-1)/2 (C++ conv_out's twin)."""
    return (h + 2 * ((k - 1) // 2) - k) // s + 1


def _conv_module(conv: Conv):
    import torch
    from torch import nn

    t, s, f, k, b, ic, h, oc = conv
    groups = ic if t == "Depthwise" else 1
    layer = nn.Conv2d(ic, oc, k, s, (k - 1) // 2, groups=groups, bias=True)

    class Unit(nn.Module):
        def forward(self, x, res=None):
            y = layer(x)
            return torch.relu(y + res if res is not None else y)

    return Unit().eval(), layer


def _conv_onnx(conv: Conv) -> bytes:
    """conv + bias + ReLU (+ the residual add before the ReLU when fused) as an ONNX graph."""
    from onnx import TensorProto, helper, numpy_helper

    t, s, f, k, b, ic, h, oc = conv
    groups = ic if t == "Depthwise" else 1
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((oc, ic // groups, k, k)) * 0.1).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(oc, np.float32), "b")
    h_out = conv_out_size(h, k, s)
    p = (k - 1) // 2
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[s, s],
                              pads=[p, p, p, p], group=groups)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, ic, h, h])]
    last = "c"
    if f:
        inputs.append(helper.make_tensor_value_info("res", TensorProto.FLOAT, [b, oc, h_out, h_out]))
        nodes.append(helper.make_node("Add", ["c", "res"], ["a"]))
        last = "a"
    nodes.append(helper.make_node("Relu", [last], ["y"]))
    graph = helper.make_graph(nodes, "unit", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                                     [b, oc, h_out, h_out])],
                              initializer=[w, bias])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def measure_conv(conv: Conv, runs: int = 20, warmup: int = 3, backend: str = "torch", threads: int = 1) -> float:
    """Median milliseconds of one conv unit on this CPU (torch or onnxruntime)."""
    t, s, f, k, b, ic, h, oc = conv
    h_out = conv_out_size(h, k, s)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((b, ic, h, h)).astype(np.float32)
    res = rng.standard_normal((b, oc, h_out, h_out)).astype(np.float32) if f else None
    if backend == "onnxruntime":
        from ..export.profile import ort_cpu_session, time_session

        feeds = {"x": x, **({"res": res} if f else {})}
        return time_session(ort_cpu_session(_conv_onnx(conv), threads), feeds, b, runs, warmup).median_ms
    import torch

    from ..export.profile import time_runs

    unit, _ = _conv_module(conv)
    xt, rt = torch.from_numpy(x), None if res is None else torch.from_numpy(res)

    def run():
        with torch.no_grad():
            unit(xt, rt)

    with _torch_threads(threads):
        return time_runs(run, backend="torch-cpu", batch=b, runs=runs, warmup=warmup).median_ms


class _torch_threads:
    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


CHANNEL_GRID = (8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
RATIO_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)


def detect_channel_block() -> int:
    """The SIMD channel block of this CPU's convolution kernels: 16 floats with AVX-512, 8 with
    AVX2, else 1 (onnxruntime's MLAS and oneDNN block channels so; measured here: a 40-channel
    conv costs what a 48-channel one does on an AVX-512 machine)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return 1
    return 16 if "avx512f" in flags else 8 if "avx2" in flags else 1


def space_convs(space, resolution: int, batch: int, samples: int, seed: int = 0,
                channels=CHANNEL_GRID, ratios=RATIO_GRID, extra=(), cover: int = 0,
                channel_block: int = 1) -> List[Conv]:
    """The grid of convolution shapes a space needs measured: for every (type, stride, fused add,
    kernel) and input size its networks use (found in `samples` random members and the initial),
    output channels over `channels` and, for regular convolutions, in/out channel ratios over
    `ratios` (a 3-channel stem as its own ratio), each within the range seen at that input size. The predictor
    interpolates between the grid points as TinyNAS does. `extra`: more structures to cover
    (the networks the overhead is fitted on). `cover`: the exact convolutions of that many more
    random members are added to the grid (channels rounded up to `channel_block`, the shapes the
    kernels compute), so that most convolutions of a new network are looked up, not interpolated
    (2,000 res networks: 2,802 shapes, 97 % of a new network's convolutions)."""
    from ..spaces import Rng, get_space

    sp = get_space(space)
    rng = Rng(seed)
    archs = [sp.initial] + [sp.sample(rng) for _ in range(samples)] + list(extra)
    # per (type, stride, fused, kernel, input size): the channels and in/out ratios seen there
    seen: dict = {}
    for a in archs:
        for t, s, f, k, b, ic, h, oc in network_convs(a, resolution, batch):
            stem = t == "Regular" and ic == 3
            g = seen.setdefault((t, s, f, k, h, stem), {"c": [], "r": []})
            g["c"] += [oc] + ([] if stem else [ic])
            g["r"].append(ic / oc)
    grid_c, grid_r = sorted(channels), sorted(ratios)

    def around(values, axis):  # the grid points covering `values`, one step wider each way
        lo = max([x for x in axis if x <= min(values)] or axis[:1])
        hi = min([x for x in axis if x >= max(values)] or axis[-1:])
        return [x for x in axis if lo <= x <= hi]

    grid = {}
    for (t, s, f, k, h, stem), g in seen.items():
        outs = around(g["c"], grid_c)
        for oc in outs:
            if stem:
                grid.setdefault((t, s, f, k, batch, 3, h, oc), None)
                continue
            for r in ((1.0,) if t == "Depthwise" else around(g["r"], grid_r)):
                ic = int(round(oc * r))
                if outs[0] <= ic <= outs[-1]:
                    grid.setdefault((t, s, f, k, batch, ic, h, oc), None)
    if cover:
        rng = Rng(seed + 1)
        for _ in range(int(cover)):
            for c in network_convs(sp.sample(rng), resolution, batch):
                grid.setdefault(blocked(c, channel_block), None)
    return list(grid)


def _meta(backend: str, threads: int, channel_block: int) -> dict:
    import torch

    meta = {"format": "tinynas", "machine": platform.node(), "cpu": platform.processor() or platform.machine(),
            "device": "cpu", "backend": backend, "precision": "fp32", "threads": int(threads), "drop_4x4": False,
            "channel_block": int(channel_block), "torch": torch.__version__}
    if backend == "onnxruntime":
        import onnxruntime

        meta["onnxruntime"] = onnxruntime.__version__
    return meta


_SAME_MACHINE = ("machine", "backend", "precision", "threads", "channel_block")


def _check_backend(backend: str, threads: int) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"lut build measures with {' or '.join(BACKENDS)} on this CPU, not {backend!r} (TensorRT "
                         f"tables: measure on the GPU machine, or use TinyNAS's with `zsnas lut import-tinynas`)")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")


def fit_networks(space, resolution: int, fit: int) -> list:
    """The structures whose whole-network measurements fit the overhead (validation avoids them)."""
    from ..spaces import Rng, get_space

    sp, rng = get_space(space), Rng(FIT_SEED)
    return [str(sp.sample(rng)) for _ in range(fit)]


def build_table(out_dir: str, space: str = "res", resolution: Optional[int] = None, batch: int = 1,
                samples: int = 50, runs: int = 20, progress: bool = True, seed: int = 0,
                channels=CHANNEL_GRID, ratios=RATIO_GRID, backend: str = "torch", threads: int = 1,
                fit: int = 20, fit_runs: int = 10, cover: int = 0, channel_block: Optional[int] = None) -> str:
    """Measure the space's convolutions on this machine into OUT_DIR/conv_data.out (fp32, on
    `backend` with `threads` threads), then fit the per-network overhead on `fit` whole networks
    (0: none). `cover`: also measure the exact convolutions of that many random members (see
    space_convs). `channel_block`: the SIMD block channels are rounded up to (default: this CPU's,
    detect_channel_block). Resumable; returns the table's path."""
    from ..progress import progress_bar
    from ..rundir import RunLock, write_atomic
    from ..spaces import get_space
    from .tables import META, overhead_key, read_meta, table_options
    from .tinynas import TinyNASTable

    _check_backend(backend, threads)
    block = detect_channel_block() if channel_block is None else int(channel_block)
    if block < 1:
        raise ValueError(f"channel_block must be >= 1, got {channel_block!r}")
    res = resolution or get_space(space).resolution
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, FILES["fp32"])
    with RunLock(out_dir):
        meta_path = os.path.join(out_dir, META)
        meta, old = _meta(backend, threads, block), read_meta(out_dir)
        if old and {k: old.get(k) for k in _SAME_MACHINE} != {k: meta[k] for k in _SAME_MACHINE}:
            raise ValueError(f"{out_dir} holds a table measured under "
                             f"{ {k: old.get(k) for k in _SAME_MACHINE} }; measure into another folder")
        meta = {**old, **meta, "grid_ratios": sorted(set(old.get("grid_ratios", [])) | {float(r) for r in ratios})}
        write_atomic(meta_path, json.dumps(meta, indent=1))
        done = set()
        if os.path.exists(path):
            with open(path) as fh:
                done = {line.split("}")[0] + "}" for line in fh if line.strip().endswith(tuple("0123456789"))}
        structures = fit_networks(space, res, fit)
        todo = [c for c in space_convs(space, res, batch, samples, seed, channels, ratios, extra=structures,
                                       cover=cover, channel_block=block)
                if _key_text(c) not in done]
        bar = progress_bar(len(todo), "measuring convolutions", unit="conv", enabled=progress)
        try:
            with open(path, "a") as fh:
                for c in todo:
                    fh.write(f"{_key_text(c)} {measure_conv(c, runs=runs, backend=backend, threads=threads):.6g}\n")
                    fh.flush()
                    bar.update(1)
        finally:
            bar.close()
        fitted = meta.get("overhead", {}).get(overhead_key("fp32", batch), {})
        if fit and not (fitted.get("networks") == structures and fitted.get("resolution") == res and not todo
                        and fitted.get("form") == FIT_FORM):
            table = TinyNASTable(out_dir, "fp32", **table_options(out_dir))
            bar = progress_bar(len(structures), "fitting the per-network overhead", unit="net", enabled=progress)
            pred, n_convs, mweights, macts, meas = [], [], [], [], []
            for a in structures:
                convs = network_convs(a, res, batch)
                pred.append(table.network_ms(a, res, batch))
                n_convs.append(len(convs))
                mweights.append(conv_mweights(convs))
                macts.append(conv_macts(convs))
                meas.append(measure_network(a, res, batch, fit_runs, backend, threads))
                bar.update(1)
            bar.close()
            ms, scale, per_conv, per_mweight, per_mact = fit_overhead(pred, n_convs, meas, mweights, macts)
            meta.setdefault("overhead", {})[overhead_key("fp32", batch)] = {
                "ms": ms, "scale": scale, "per_conv_ms": per_conv, "per_mweight_ms": per_mweight,
                "per_mact_ms": per_mact,
                "form": FIT_FORM, "networks": structures, "measured_ms": meas, "space": str(space),
                "resolution": res}
        meta.setdefault("builds", []).append({"space": str(space), "resolution": res, "batch": batch,
                                              "samples": samples, "cover": cover, "runs": runs,
                                              "convs": len(todo)})
        write_atomic(meta_path, json.dumps(meta, indent=1))
    return path


FIT_FORM = 3  # fit_overhead's candidate terms (3: + per-weight, per-activation); another form is re-fitted


def _fit(cols, m, w):
    a = np.stack(cols, axis=1)
    if len(m) < a.shape[1] + 1 or np.linalg.matrix_rank(a) < a.shape[1]:
        return None
    coef = np.linalg.lstsq(a * w[:, None], m * w, rcond=None)[0]
    return coef if coef[1] > 0 else None


def fit_overhead(pred, n_convs, meas, mweights=None, macts=None) -> tuple:
    """(ms, scale, per_conv_ms, per_mweight_ms, per_mact_ms) of measured ≈ ms + scale × Σ conv +
    per_conv × #convs + per_mweight × (millions of conv weights) + per_mact × (millions of conv
    input + output elements), least squares in relative error (networks differ tenfold in
    latency). The extra terms are what separately timed units pay per call, what a network pays to
    stream weights a repeatedly timed unit keeps in cache, and what units pay to move their tensors
    into and out of the library's blocked layout (a network does it once): only the form that
    predicts the fitting networks best left-one-out is kept (measured: res@32 b1 picks weights +
    activations, 91 % of validation networks within ±15 % against 78 % for the plain sum); with
    too few or too alike networks the fit falls back to a shift of the plain sum."""
    p, n, m = (np.asarray(v, dtype=np.float64) for v in (pred, n_convs, meas))
    w = 1.0 / m
    one = np.ones_like(p)
    cols = {"n": n}
    if mweights is not None:
        cols["w"] = np.asarray(mweights, dtype=np.float64)
    if macts is not None:
        cols["a"] = np.asarray(macts, dtype=np.float64)
    names = [k for k in ("n", "w", "a") if k in cols]
    forms = [(extra, (one, p, *(cols[k] for k in extra)))
             for r in range(len(names) + 1) for extra in itertools.combinations(names, r)]

    def loo_error(k):
        cols = forms[k][1]
        errs = []
        for i in range(len(m)):
            keep = np.arange(len(m)) != i
            coef = _fit([c[keep] for c in cols], m[keep], w[keep])
            if coef is None:
                return np.inf
            errs.append(abs(sum(cf * c[i] for cf, c in zip(coef, cols)) - m[i]) / m[i])
        return float(np.mean(errs))

    best = min(range(len(forms)), key=loo_error) if len(m) >= 5 else 0
    for k in (best, 0):
        coef = _fit(forms[k][1], m, w)
        if coef is not None:
            terms = dict(zip(forms[k][0], coef[2:]))
            return (float(coef[0]), float(coef[1]), float(terms.get("n", 0.0)), float(terms.get("w", 0.0)),
                    float(terms.get("a", 0.0)))
    return float(np.mean(m - p)), 1.0, 0.0, 0.0, 0.0


def conv_mweights(convs) -> float:
    """Millions of weights of these convolutions (what fit_overhead's per-weight term multiplies)."""
    return sum(c[7] * (1 if c[0] == "Depthwise" else c[5]) * c[3] * c[3] for c in convs) / 1e6


def conv_macts(convs) -> float:
    """Millions of input + output elements of these convolutions, whole batch (the per-activation
    term's; the C++ ConvShape::activations)."""
    total = 0
    for t, s, f, k, b, ic, h, oc in convs:
        h_out = conv_out_size(h, k, s)
        total += b * (ic * h * h + oc * h_out * h_out)
    return total / 1e6


def _key_text(c: Conv) -> str:
    t, s, f, k, b, ic, h, oc = c
    return f"{{{t},{b},{ic},{h},{h},{oc},{k},{s},{f}}}"


def measure_network(arch, resolution: int, batch: int, runs: int = 10, backend: str = "torch",
                    threads: int = 1) -> float:
    """Median milliseconds of the whole deployed network on this CPU (eval mode; on onnxruntime
    the exported graph, BN folded)."""
    from ..export.profile import time_torch

    if backend == "onnxruntime":
        import tempfile

        from ..export.onnx import build_for_export, export_model
        from ..export.profile import ort_cpu_session, time_session

        model, _, res, _ = build_for_export(str(arch), resolution, None)
        with tempfile.TemporaryDirectory() as d:
            export_model(model, os.path.join(d, "n.onnx"), res, batch, 17)
            session = ort_cpu_session(os.path.join(d, "n.onnx"), threads)
        x = np.random.default_rng(0).standard_normal((batch, 3, res, res)).astype(np.float32)
        return time_session(session, {session.get_inputs()[0].name: x}, batch, runs, warmup=2).median_ms
    from ..targets import resolve_target

    model = resolve_target(str(arch)).build(residual=True)
    with _torch_threads(threads):
        return time_torch(model, batch=batch, resolution=resolution, runs=runs, warmup=2).median_ms


def validate(table_dir: str, space: str = "res", n: int = 100, resolution: Optional[int] = None, batch: int = 1,
             runs: int = 10, seed: int = 1, plot: Optional[str] = None, progress: bool = True) -> dict:
    """Measure `n` random networks of `space` whole (on the table's backend and threads; none of
    the networks that fitted its overhead) against the engine's prediction from the table:
    share within ±10 % and ±15 %, RMSE (ms), Spearman ρ, and the noise floor (the median
    relative difference between two measurements of the same network); `networks` lists each one
    (structure, predicted, measured, measured again)."""
    from scipy import stats

    from ..progress import progress_bar
    from ..spaces import Rng, get_space
    from .tables import network_ms, open_latency_table, overhead_key, read_meta

    sp = get_space(space)
    res = resolution or sp.resolution
    meta = read_meta(table_dir)
    backend, threads = meta.get("backend", "torch"), int(meta.get("threads", 1))
    _check_backend(backend, threads)
    model = open_latency_table(table_dir, "fp32", batch)
    fitted = set(meta.get("overhead", {}).get(overhead_key("fp32", batch), {}).get("networks", []))
    rng = Rng(seed if seed != FIT_SEED else seed + 1)
    archs: List[str] = []
    while len(archs) < n:
        a = str(sp.sample(rng))
        if a not in fitted:
            archs.append(a)
    pred, meas, again = [], [], []
    bar = progress_bar(len(archs), "validating", unit="net", enabled=progress)
    for a in archs:
        pred.append(network_ms(model, a, res, batch))
        meas.append(measure_network(a, res, batch, runs, backend, threads))
        again.append(measure_network(a, res, batch, runs, backend, threads))
        bar.update(1)
    bar.close()
    p, m, again = np.array(pred), np.array(meas), np.array(again)
    rel = np.abs(p - m) / m
    out = {"n": int(len(m)), "backend": backend, "threads": threads, "batch": batch, "resolution": res,
           "overhead_ms": float(model.overhead_ms), "scale": float(model.scale),
           "per_conv_ms": float(model.per_conv_ms), "per_mweight_ms": float(model.per_mweight_ms),
           "per_mact_ms": float(model.per_mact_ms),
           "within_10": float(np.mean(rel <= 0.10)), "within_15": float(np.mean(rel <= 0.15)),
           "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))), "spearman": float(stats.spearmanr(p, m).statistic),
           "noise_floor": float(np.median(np.abs(again - m) / m)),
           "noise_within_15": float(np.mean(np.abs(again - m) / m <= 0.15)),
           "median_ms": float(np.median(m)),
           "networks": [{"structure": a, "predicted_ms": float(x), "measured_ms": float(y), "again_ms": float(z)}
                        for a, x, y, z in zip(archs, p, m, again)]}
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
        ax.set_title(f"{space} @ {res}, batch {batch}, {backend}: ±15 % {out['within_15']:.0%}, "
                     f"ρ {out['spearman']:.3f}", fontsize=8)
        fig.tight_layout()
        fig.savefig(plot)
        plt.close(fig)
    return out


__all__ = ["build_table", "validate", "fit_overhead", "conv_mweights", "conv_macts", "measure_conv", "measure_network", "space_convs", "fit_networks", "BACKENDS"]
