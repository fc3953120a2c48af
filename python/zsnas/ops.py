"""Torch ops over the compiled kernels in zsnas._kernels (raw pointers + stream handle).

Each op has: the custom op (dispatching to the CPU or CUDA kernel), its fake implementation
for torch.compile, and a pure-torch reference beside it that tests compare against.
"""
from __future__ import annotations

import torch

from . import _kernels

CUDA_COMPILED = bool(_kernels.cuda_compiled)


def abs_diff_sum_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Σ over every non-batch dim of |a − b|, per sample, in float64."""
    return (a.double() - b.double()).abs().flatten(1).sum(1)


@torch.library.custom_op("zsnas::abs_diff_sum", mutates_args=())
def abs_diff_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample L1 distance Σ_{c,h,w} |a − b| → float64 [B] (Zen-score's Δ before the mean).

    float32 inputs on CPU, or on CUDA when the CUDA kernels were compiled, take the fused
    kernel; anything else takes the pure-torch reference. No autograd (Zen-score needs none).
    """
    if a.shape != b.shape:
        raise ValueError(f"abs_diff_sum: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"abs_diff_sum: devices differ, {a.device} vs {b.device}")
    if a.dim() == 0:
        raise ValueError("abs_diff_sum: inputs need a batch dimension")
    fused = a.dtype == torch.float32 and b.dtype == torch.float32 and (
        a.device.type == "cpu" or (a.device.type == "cuda" and CUDA_COMPILED))
    if not fused:
        return abs_diff_sum_reference(a, b)
    a = a.contiguous()
    b = b.contiguous()
    rows = a.shape[0]
    cols = a.numel() // rows if rows else 0
    out = torch.empty(rows, dtype=torch.float64, device=a.device)
    if a.device.type == "cpu":
        _kernels.abs_diff_sum_cpu(a.data_ptr(), b.data_ptr(), out.data_ptr(), rows, cols)
    else:
        with torch.cuda.device(a.device):
            stream = torch.cuda.current_stream(a.device).cuda_stream
            _kernels.abs_diff_sum_cuda(a.data_ptr(), b.data_ptr(), out.data_ptr(), rows, cols, stream)
    return out


@abs_diff_sum.register_fake
def _abs_diff_sum_fake(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.new_empty((a.shape[0],), dtype=torch.float64)
