"""INT8 in the Q/DQ form TensorRT's explicit quantization reads: symmetric (zero point 0),
per-channel weight scales, activations calibrated by onnxruntime's static quantizer.

A randomly initialised network's BatchNorm statistics mean nothing (running mean 0, variance
1): its activations are not those the network would see, and fp32 and int8 could not be
compared at all. So BN statistics are calibrated first, by a few train-mode passes over the
calibration data (cumulative averages), and the network is exported with those folded in.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Optional, Union

import numpy as np

from .onnx import DEFAULT_OPSET, INPUT, ExportReport, _onnx_modules, build_for_export, export_model, op_counts, \
    ort_session

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _resize(x: np.ndarray, resolution: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(torch.from_numpy(x), size=(resolution, resolution), mode="bilinear",
                         align_corners=False).numpy()


def _normalise_images(x: np.ndarray) -> np.ndarray:
    """uint8 or [0, 1] NHWC/NCHW images -> ImageNet-normalised float32 NCHW."""
    if x.ndim != 4:
        raise ValueError(f"calibration data must be 4-D (N, 3, H, W) or (N, H, W, 3), got shape {x.shape}")
    if x.shape[1] != 3 and x.shape[-1] == 3:
        x = x.transpose(0, 3, 1, 2)
    if x.shape[1] != 3:
        raise ValueError(f"calibration data must have 3 channels, got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
        return (x - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
    return x.astype(np.float32)  # float data is taken as already normalised


def calibration_data(source: Union[None, str, os.PathLike, np.ndarray], samples: int, resolution: int,
                     seed: int = 0) -> np.ndarray:
    """(samples, 3, R, R) float32: Gaussian noise (None), a .npy array, or a folder of images."""
    if samples < 1:
        raise ValueError(f"calibration samples must be >= 1, got {samples}")
    if source is None:
        return np.random.default_rng(seed).standard_normal((samples, 3, resolution, resolution)).astype(np.float32)
    if isinstance(source, np.ndarray):
        x = _normalise_images(source)
    elif os.path.isdir(source):
        from PIL import Image

        files = sorted(f for f in os.listdir(source) if f.lower().endswith(IMAGE_SUFFIXES))[:samples]
        if not files:
            raise ValueError(f"calibration folder {source} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        imgs = [np.asarray(Image.open(os.path.join(source, f)).convert("RGB").resize((resolution, resolution),
                                                                                   Image.BILINEAR))
                for f in files]
        x = _normalise_images(np.stack(imgs))
    elif str(source).endswith(".npy") and os.path.isfile(source):
        x = _normalise_images(np.load(source))
    else:
        raise ValueError(f"calibration data {source}: give a .npy array or a folder of images")
    return _resize(x[:samples], resolution)


def calibrate_bn(model, data: np.ndarray, batch: int = 16) -> None:
    """Replace every BatchNorm's running statistics by the data's (cumulative averages over a
    train-mode pass in batches), then return to eval mode."""
    import torch
    from torch import nn

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    with torch.no_grad():
        for i in range(0, len(data), batch):
            chunk = torch.from_numpy(np.ascontiguousarray(data[i:i + batch]))
            if len(chunk) > 1:  # train-mode BN needs two samples
                model(chunk)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over an array, one sample a call."""

    def __init__(self, data: np.ndarray):
        self.data, self.i = data, 0

    def get_next(self):
        if self.i >= len(self.data):
            return None
        self.i += 1
        return {INPUT: self.data[self.i - 1:self.i]}

    def rewind(self):
        self.i = 0


def check_qdq(path: str) -> dict:
    """Q/DQ facts TensorRT's explicit quantization relies on: every zero point 0, per-channel
    weight scales on the convolutions. ValueError naming a node that breaks them."""
    onnx, _ = _onnx_modules()
    from onnx import numpy_helper

    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        raise ValueError(f"{path}: no QuantizeLinear/DequantizeLinear nodes")
    per_channel = 0
    for n in qdq:
        if len(n.input) > 2 and n.input[2] in inits and np.any(inits[n.input[2]] != 0):
            raise ValueError(f"{path}: node {n.name} has a non-zero zero point (not symmetric)")
        scale = inits.get(n.input[1])
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and scale is not None and scale.size > 1:
            per_channel += 1
    return {"qdq_nodes": len(qdq), "per_channel_weights": per_channel}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over samples of the cosine between two (N, classes) logit arrays."""
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)))


def weight_noise_cosine(model, x: np.ndarray, seed: int = 0) -> float:
    """Logit cosine of the fp32 network against itself with every conv/linear weight moved by
    uniform noise of its int8 rounding step (per output channel, max|w| / 127): the network's own
    sensitivity to an error of int8's size. Randomly initialised BN networks are chaotic (a 1e-4
    relative input change can cost several per cent of cosine), so int8's cosine is to be read
    beside this number, not beside 1.0 (one noise draw: a yardstick, not a strict bound)."""
    import torch
    from torch import nn

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    saved = [m.weight.detach().clone() for m in layers]
    g = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    try:
        with torch.no_grad():
            ref = model(xt).numpy()
            for m in layers:
                w = m.weight
                step = w.abs().flatten(1).amax(1).clamp_min(1e-12) / 127
                noise = (torch.rand(w.shape, generator=g, dtype=w.dtype) - 0.5) * step.view(-1, *[1] * (w.dim() - 1))
                w.add_(noise)
            moved = model(xt).numpy()
    finally:
        with torch.no_grad():
            for m, w in zip(layers, saved):
                m.weight.copy_(w)
    return _cosine(ref, moved)


PERCENTILE = 99.999  # of |activation|, for method="percentile"


def _calibration_methods():
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}


def int8(target: Any, path: Union[str, os.PathLike], calibration: Union[None, str, os.PathLike, np.ndarray] = None,
         samples: int = 64, resolution: Optional[int] = None, num_classes: Optional[int] = None,
         batch: Union[int, str] = "dynamic", opset: int = DEFAULT_OPSET, seed: int = 0,
         method: str = "minmax") -> ExportReport:
    """Static INT8 Q/DQ ONNX of `target`: BN statistics calibrated on the data, activations
    calibrated (`method`: "minmax" (default), "percentile" (99.999 % of |a|) or "entropy";
    symmetric), weights per channel. The report's `notes` and `checks` give fp32 vs int8
    agreement on held-out samples (cosine of the logits, top-1 agreement) beside the bound the
    network's own sensitivity gives (`weight_noise_cosine`)."""
    import torch
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    methods = _calibration_methods()
    if method not in methods:
        raise ValueError(f"int8: calibration method must be one of {', '.join(methods)}, not {method!r}")
    model, t, res, nc = build_for_export(target, resolution, num_classes, seed)
    data = calibration_data(calibration, samples + 8, res, seed)
    calib, held_out = data[:-8] if len(data) > 8 else data, data[-8:]
    calibrate_bn(model, calib)
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        fp32 = os.path.join(d, "fp32.onnx")
        export_model(model, fp32, res, batch, opset)
        out_tmp = os.path.join(d, "int8.onnx")
        quantize_static(fp32, out_tmp, _Reader(calib), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method],
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                       "CalibPercentile": PERCENTILE})
        facts = check_qdq(out_tmp)
        ref = ort_session(fp32).run(None, {INPUT: held_out})[0]
        got = ort_session(out_tmp).run(None, {INPUT: held_out})[0]
        ops = op_counts(out_tmp)
        os.replace(out_tmp, path)
    with torch.no_grad():
        torch_ref = model(torch.from_numpy(held_out)).numpy()
        bound = weight_noise_cosine(model, held_out, seed)
    cos = _cosine(ref, got)
    top1 = float(np.mean(ref.argmax(1) == got.argmax(1)))
    notes = [f"BN statistics calibrated on {len(calib)} {'random' if calibration is None else 'given'} samples",
             f"fp32 vs int8 on {len(held_out)} held-out samples: logit cosine {cos:.4f}, top-1 agreement {top1:.2f}",
             f"fp32 with int8-sized weight noise: logit cosine {bound:.4f} (the network's own sensitivity)",
             f"{facts['qdq_nodes']} Q/DQ nodes, {facts['per_channel_weights']} per-channel weight scales, zero points 0"]
    return ExportReport(path=path, target=t.name, resolution=res, num_classes=nc, batch=batch, opset=opset, ops=ops,
                        max_abs_error=float(np.abs(ref - torch_ref).max()), notes=notes,
                        checks={"logit_cosine": cos, "top1_agreement": top1,
                                                       "weight_noise_cosine": bound})


__all__ = ["int8", "calibrate_bn", "calibration_data", "check_qdq", "weight_noise_cosine"]
