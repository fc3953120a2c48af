"""ContractNet: the base class every zsnas torch network derives from.

It fixes the model contract of ``zsnas.nn`` in one place (see that package's docstring):
``units`` (primary blocks, applied in order), ``tail`` (before global pooling),
``classifier`` (the final nn.Linear) and ``residual``. Subclasses only build those
three modules; ``forward_pre_gap`` and ``forward`` are defined here so that every network
agrees on what "the features" and "the logits" are.
"""
from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import nn
import torch.nn.functional as F


class ContractNet(nn.Module):
    """units -> tail -> pool (global average pool, flattened) -> classifier.

    Args:
        units: the primary blocks in order (stored as an ``nn.ModuleList``).
        classifier: the final ``nn.Linear``.
        tail: applied after the last unit, before pooling (default ``nn.Identity``).
        residual: whether the network was built with residual shortcuts.
    """

    def __init__(
        self,
        units: Iterable[nn.Module],
        classifier: nn.Linear,
        tail: Optional[nn.Module] = None,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.units = nn.ModuleList(units)
        if len(self.units) == 0:
            raise ValueError("ContractNet needs at least one unit")
        if not isinstance(classifier, nn.Linear):
            raise ValueError(f"classifier must be an nn.Linear, got {type(classifier).__name__}")
        self.tail = tail if tail is not None else nn.Identity()
        self.classifier = classifier
        self.residual = bool(residual)

    def forward_pre_gap(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before global pooling: tail(units(x))."""
        for unit in self.units:
            x = unit(x)
        return self.tail(x)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """What the classifier reads of the features: global average pooling (a ViT overrides it)."""
        return torch.flatten(F.adaptive_avg_pool2d(features, 1), 1) if features.dim() == 4 else features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.forward_pre_gap(x)))
