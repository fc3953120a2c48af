"""Zen-NAS's "vanilla network" (§3.2): what Zen-score and Φ-score are defined on, whatever
network is given -- residual links removed (the builder's ``residual=False``), SE blocks
removed, every non-ReLU activation replaced by ReLU.
"""
from __future__ import annotations

from typing import Dict

from torch import nn

# Activations a vanilla network runs as ReLU (modules; a functional call inside a custom
# forward cannot be seen, which the SE block's sigmoid does not matter for: SE goes).
NON_RELU = (nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU,
            nn.PReLU, nn.Softplus, nn.Tanh, nn.Sigmoid, nn.Hardsigmoid, nn.Hardtanh)


def _is_se(m: nn.Module) -> bool:
    from .arch_net import SqueezeExcite

    return isinstance(m, SqueezeExcite) or type(m).__name__ in ("SqueezeExcitation", "SEModule", "SELayer")


def vanilla_(model: nn.Module) -> Dict[str, int]:
    """Remove SE blocks (nn.Identity) and turn non-ReLU activations into ReLU, in place;
    returns how many of each were changed."""
    counts = {"se_removed": 0, "activations_replaced": 0}

    def walk(parent: nn.Module) -> None:
        for name, child in list(parent.named_children()):
            if _is_se(child):
                setattr(parent, name, nn.Identity())
                counts["se_removed"] += 1
            elif isinstance(child, NON_RELU):
                setattr(parent, name, nn.ReLU())
                counts["activations_replaced"] += 1
            else:
                walk(child)

    walk(model)
    return counts


__all__ = ["vanilla_", "NON_RELU"]
