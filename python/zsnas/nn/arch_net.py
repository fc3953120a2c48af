"""Torch model of a zsnas Arch, built unit by unit from the C++ expansion (Arch.units()).

The C++ core decides what every block expands into; this module only turns each layer spec
into torch modules, so the builder and the C++ counters cannot disagree.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from ..arch import Arch, as_arch
from .common import ContractNet

BN_EPS = 1e-3  # ZenNAS / TF convention


class SqueezeExcite(nn.Module):
    """x * sigmoid(W2 relu(W1 avgpool(x))), 1x1 convs with bias (REFERENCE §1 SE, ratio 0.25)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=True)
        self.expand = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x):
        s = torch.mean(x, dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(s))))


def _layer(spec: dict, bn_eps: float) -> nn.Module:
    if spec["kind"] == "se":
        return SqueezeExcite(spec["in"], spec["hidden"])
    k = spec["kernel"]
    mods = [nn.Conv2d(spec["in"], spec["out"], k, stride=spec["stride"], padding=(k - 1) // 2,
                      groups=spec["groups"], bias=False)]
    if spec["bn"]:
        mods.append(nn.BatchNorm2d(spec["out"], eps=bn_eps))
    if spec["relu"]:
        mods.append(nn.ReLU(inplace=False))
    return nn.Sequential(*mods)


class Unit(nn.Module):
    """A chain of layers; with a shortcut (identity or 1x1 conv + BN) when residual; final ReLU."""

    def __init__(self, spec: dict, bn_eps: float):
        super().__init__()
        self.body = nn.Sequential(*[_layer(l, bn_eps) for l in spec["layers"]])
        self.residual = spec["residual"]
        self.shortcut: Optional[nn.Module] = None
        if spec["projection"]:
            self.shortcut = nn.Sequential(
                nn.Conv2d(spec["in"], spec["out"], 1, stride=spec["stride"], bias=False),
                nn.BatchNorm2d(spec["out"], eps=bn_eps),
            )
        self.final_relu = spec["final_relu"]
        self.block_index = spec["block_index"]

    def forward(self, x):
        y = self.body(x)
        if self.residual:
            y = y + (self.shortcut(x) if self.shortcut is not None else x)
        return torch.relu(y) if self.final_relu else y


class ArchNet(ContractNet):
    """nn.Module of an Arch: units → GAP → Linear."""

    def __init__(self, arch: Arch, residual: bool, num_classes: int, se: Optional[bool], bn_eps: float):
        units = [Unit(u, bn_eps) for u in arch.units(residual=residual, se=se)]
        super().__init__(units, nn.Linear(arch.out_channels, num_classes), residual=residual)
        self.arch = arch
        self.num_classes = num_classes


def build_model(arch: Union[str, Arch], residual: bool = True, num_classes: int = 1000,
                se: Optional[bool] = None, bn_eps: float = BN_EPS) -> ArchNet:
    """Build the torch model of `arch` (structure string or Arch).

    residual=False drops every shortcut and its add (the Zen-score network); se=None keeps the
    per-block SE flags, True/False forces squeeze-excitation on/off in every residual block.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return ArchNet(as_arch(arch), residual, num_classes, se, bn_eps)
