"""Resolve a model name to a built network: "resnet18".."resnet152" or an NB201 arch string.

Used by the CLI and proxies to score reference networks (the Zen-NAS ResNet anchors,
NAS-Bench-201 cells) by name instead of by a zsnas structure string.
"""
from __future__ import annotations

from typing import Optional

from torch import nn

from .nb201 import nats_size_network, nb201_network
from .resnet import RESNET_LAYOUTS, resnet

NAMED_MODELS: tuple = tuple(f"resnet{d}" for d in sorted(RESNET_LAYOUTS))


def named_model(name: str, num_classes: Optional[int] = None, residual: bool = True) -> nn.Module:
    """Build a named network.

    Args:
        name: "resnet18", "resnet34", "resnet50", "resnet101", "resnet152" (case-insensitive),
            a NAS-Bench-201 arch string (anything starting with ``|``), or a NATS size-space
            network ``nats:C1:C2:C3:C4:C5``.
        num_classes: classifier width; default 1000 for ResNets, 10 for NB201 (CIFAR-10).
        residual: False drops the residual shortcuts (see ``resnet`` / ``nb201_network``).
    """
    if not isinstance(name, str):
        raise ValueError(f"model name must be a str, got {type(name).__name__}")
    key = name.strip()
    if key.startswith("|"):
        return nb201_network(key, num_classes=10 if num_classes is None else num_classes, residual=residual)
    low = key.lower()
    if low.startswith("nats:"):
        return nats_size_network(parse_nats(key), num_classes=10 if num_classes is None else num_classes,
                                 residual=residual)
    if low in NAMED_MODELS:
        depth = int(low[len("resnet"):])
        return resnet(depth, num_classes=1000 if num_classes is None else num_classes, residual=residual)
    raise ValueError(
        f"unknown model name {name!r}; known names: {', '.join(NAMED_MODELS)}, "
        "a NAS-Bench-201 arch string starting with '|', or a NATS size-space network 'nats:C1:C2:C3:C4:C5'"
    )


def parse_nats(name: str) -> tuple:
    """'nats:8:16:24:32:64' -> (8, 16, 24, 32, 64); ValueError naming what is wrong."""
    parts = name.strip().split(":")
    try:
        widths = tuple(int(p) for p in parts[1:])
    except ValueError:
        widths = ()
    if parts[0].lower() != "nats" or len(widths) != 5 or min(widths) < 1:
        raise ValueError(f"{name!r} is not a NATS size-space network 'nats:C1:C2:C3:C4:C5' (five widths >= 1)")
    return widths
