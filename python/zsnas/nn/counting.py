"""Independent torch-side counters (parameters, multiply-accumulates), used as test oracles.

They look only at the built torch module (never at an Arch), so they check the C++ counters
and the builders against each other. MAC convention (REFERENCE.md §1, the community one):
conv and linear layers only, per sample;
  Conv2d: k_h * k_w * (C_in / groups) * C_out * H_out * W_out
  Linear: in_features * out_features
Biases, BN, activations and pooling are not charged. (NAS-Bench-201's own table charges a
Linear's bias add as well, +out_features; see ``linear_bias`` below.)
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of parameters of ``model`` (every parameter, trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def layer_macs(mod: nn.Module, out: torch.Tensor, linear_bias: bool = False) -> int:
    """MACs per sample of one Conv2d or Linear application with output `out` (0 for others)."""
    if isinstance(mod, nn.Conv2d):
        kh, kw = mod.kernel_size
        # out[0]: one sample; numel = C_out * H_out * W_out.
        return kh * kw * (mod.in_channels // mod.groups) * out[0].numel()
    if isinstance(mod, nn.Linear):
        rows = out.numel() // (out.shape[0] * mod.out_features)  # extra dims beyond batch
        macs = mod.in_features * mod.out_features
        if linear_bias and mod.bias is not None:
            macs += mod.out_features
        return macs * rows
    return 0


def install_mac_hooks(model: nn.Module, linear_bias: bool = False):
    """Forward hooks charging Conv2d/Linear MACs per sample into ``total[0]``.

    Returns ``(total, handles)``; remove the handles when done. Proxies install these on the
    forward pass they run anyway, so counting costs no extra pass.
    """
    total = [0]

    def hook(mod: nn.Module, inp, out) -> None:
        total[0] += layer_macs(mod, out, linear_bias)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return total, handles


def install_stride_check(model: nn.Module):
    """Forward pre-hooks raising ValueError when a strided layer (conv or pool) meets a feature
    map smaller than its stride: the rule the C++ counters apply to structure strings."""

    def hook_for(name: str):
        def check(mod, inp) -> None:
            stride = mod.stride if isinstance(mod.stride, (tuple, list)) else (mod.stride, mod.stride)
            h, w = inp[0].shape[-2:]
            for size, s in ((h, stride[0]), (w, stride[1])):
                if s > 1 and size < s:
                    raise ValueError(f"{name or 'input'} ({type(mod).__name__}): stride {s} at input resolution "
                                     f"{size} shrinks the feature map below 1 pixel")
        return check

    handles = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            handles.append(m.register_forward_pre_hook(hook_for(name)))
    return handles


def count_macs(
    model: nn.Module,
    input_shape: Sequence[int],
    linear_bias: bool = False,
) -> int:
    """Conv2d + Linear multiply-accumulates of one forward pass, per sample.

    Args:
        model: the network; run once on zeros of ``(1, *input_shape)`` on the model's device
            (in eval mode, under no_grad; the mode is restored afterwards).
        input_shape: ``(C, H, W)`` of one sample (a leading batch dimension is not allowed).
        linear_bias: also charge ``out_features`` for each Linear with a bias (the NAS-Bench-201
            table's convention).

    Raises ValueError when a strided layer meets a map smaller than its stride.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) of positive sizes, got {tuple(input_shape)}")
    total, handles = install_mac_hooks(model, linear_bias)
    handles += install_stride_check(model)
    was_training = model.training
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1,) + shape, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]
