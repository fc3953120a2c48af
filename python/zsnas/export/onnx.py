"""ONNX export of anything zsnas.score accepts: eval mode, BatchNorm folded into the convolutions,
a dynamic batch dimension, and the graph checked against torch in onnxruntime before it is kept.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np

DEFAULT_OPSET = 17
INPUT, OUTPUT = "input", "logits"


@dataclass
class ExportReport:
    path: str
    target: str
    resolution: int
    num_classes: int
    batch: Union[int, str]
    opset: int
    ops: Dict[str, int] = field(default_factory=dict)  # op type -> count in the graph
    max_abs_error: float = 0.0  # onnxruntime vs torch on the check input
    notes: List[str] = field(default_factory=list)
    checks: Dict[str, float] = field(default_factory=dict)  # int8: logit_cosine, top1_agreement (held-out)


def _onnx_modules():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ValueError("ONNX export needs onnx and onnxruntime: pip install 'zsnas[onnx]'") from None
    return onnx, onnxruntime


def build_for_export(target: Any, resolution: Optional[int], num_classes: Optional[int], seed: int = 0):
    """(torch model in eval mode, Target, resolution, classes) with residual links, as deployed.
    A network built from a name is initialised from `seed` (an nn.Module is exported as it is)."""
    import torch

    from ..targets import resolve_target

    t = resolve_target(target)
    res = int(resolution) if resolution is not None else t.resolution
    nc = int(num_classes) if num_classes is not None else t.num_classes
    if res < 1 or nc < 1:
        raise ValueError(f"export: resolution and num_classes must be >= 1, got {res}, {nc}")
    if t.kind == "arch":
        t.flops(res, nc)  # a stride that does not fit is named here
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = t.build(residual=True, num_classes=nc, resolution=res)
    return model.eval(), t, res, nc


def ort_session(path: str):
    from .profile import ort_cpu_session

    _onnx_modules()  # a clear message when onnxruntime is missing
    return ort_cpu_session(path, threads=1)


def export_model(model, path: str, resolution: int, batch: Union[int, str], opset: int) -> None:
    import torch

    fixed = batch if isinstance(batch, int) else 1
    x = torch.zeros(fixed, 3, resolution, resolution)
    dynamic = None if isinstance(batch, int) else {INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}
    with torch.no_grad():
        # The TorchScript exporter folds eval-mode BatchNorm into the preceding convolution.
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=opset, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes=dynamic, do_constant_folding=True)


def op_counts(path: str) -> Dict[str, int]:
    onnx, _ = _onnx_modules()
    counts: Dict[str, int] = {}
    for node in onnx.load(path).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def onnx(target: Any, path: Union[str, os.PathLike], resolution: Optional[int] = None,
         num_classes: Optional[int] = None, batch: Union[int, str] = "dynamic", opset: int = DEFAULT_OPSET,
         seed: int = 0, rtol: float = 1e-4) -> ExportReport:
    """Export `target` to ONNX at `path` and check it in onnxruntime against torch.

    resolution / num_classes: default the target's own. batch: "dynamic" (checked at two batch
    sizes) or a fixed size. A network named by a string is initialised from `seed`; an
    nn.Module is exported with its own weights. Raises ValueError when onnxruntime disagrees with torch by more
    than `rtol` of the output's scale, naming both numbers; nothing is left at `path` then.
    """
    import torch

    if not (batch == "dynamic" or (isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1)):
        raise ValueError(f"export: batch must be 'dynamic' or a whole number >= 1, got {batch!r}")
    onnx_mod, _ = _onnx_modules()
    model, t, res, nc = build_for_export(target, resolution, num_classes, seed)
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        export_model(model, tmp, res, batch, opset)
        onnx_mod.checker.check_model(tmp)
        session = ort_session(tmp)
        g = torch.Generator().manual_seed(seed)
        worst = 0.0
        for b in ((2, 3) if batch == "dynamic" else (batch,)):
            x = torch.randn(b, 3, res, res, generator=g)
            with torch.no_grad():
                want = model(x).numpy()
            got = session.run(None, {INPUT: x.numpy()})[0]
            scale = float(np.abs(want).max()) or 1.0
            err = float(np.abs(got - want).max())
            if err > rtol * scale:
                raise ValueError(f"export: onnxruntime differs from torch by {err:.3g} (output scale {scale:.3g}) "
                                 f"on {t.name} at batch {b}")
            worst = max(worst, err)
        ops = op_counts(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    notes = [] if "BatchNormalization" not in ops else ["BatchNormalization nodes remain (not after a convolution)"]
    return ExportReport(path=path, target=t.name, resolution=res, num_classes=nc, batch=batch, opset=opset, ops=ops,
                        max_abs_error=worst, notes=notes)


__all__ = ["onnx", "ExportReport", "build_for_export", "export_model", "ort_session", "op_counts"]
