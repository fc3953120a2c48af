"""Weight re-initialisation shared by the proxies.

Each proxy draws its weights from its own generator, module by module (weight, then bias), in
the tensors' logical (NCHW) order, so a seed gives the same weights whatever the memory format.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

Draw = Callable[[nn.Module], torch.Tensor]


@torch.no_grad()
def reinit_(model: nn.Module, draw_weight: Draw, draw_bias: Optional[Draw] = None,
            norm_types=(_BatchNorm, nn.GroupNorm), reset_running_stats: bool = False) -> nn.Module:
    """Conv2d/Linear weights from ``draw_weight(module)``, biases from ``draw_bias`` (zero when
    None); affine norms gamma=1 beta=0 (and fresh running statistics when asked)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.copy_(draw_weight(m))
            if m.bias is not None:
                if draw_bias is None:
                    m.bias.zero_()
                else:
                    m.bias.copy_(draw_bias(m))
        elif isinstance(m, norm_types):
            if m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()
            if reset_running_stats:
                m.reset_running_stats()
    return model


def empty_like_weight(m: nn.Module) -> torch.Tensor:
    """A fresh contiguous (NCHW) tensor shaped, placed and typed like ``m.weight``."""
    return torch.empty(m.weight.shape, device=m.weight.device, dtype=m.weight.dtype)
