"""One forward pass with forward hooks on chosen modules, removed afterwards whatever happens:
what the structure-reading proxies and counters (ReLU codes, layers run, stage counts, the
convolutions of a module) share."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn


def forward_with_hooks(model: nn.Module, x: torch.Tensor, modules: Iterable[nn.Module],
                       hook: Callable[[nn.Module, tuple, torch.Tensor], None]):
    """model(x) under no_grad with `hook(module, inputs, output)` on each of `modules`; returns the output."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            return model(x)
    finally:
        for h in handles:
            h.remove()


__all__ = ["forward_with_hooks"]
