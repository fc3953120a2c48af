"""The one resolver of what a user may name as a network, for score and info.

A target is a structure string or Arch, a zoo name (``zennet-cifar-1.0m``), a ResNet name, a
NAS-Bench-201 cell string (``|nor_conv_3x3~0|+|...``), a NATS size-space network
(``nats:8:16:24:32:64``), an AutoFormer-style ViT (``vit:192:12:3.5:3``), a search result (a run's ``best.json``,
whose first entry is scored, or a JSON object with a ``structure``), or an nn.Module. Each
carries its native setting — the resolution and classes it is meant for — which callers use
when the user gives none (zsnas.defaults).
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

from . import defaults


@dataclass(eq=False)
class Target:
    name: str
    kind: str  # "arch" (a structure string), "named" (ResNet / NB201 / NATS), "vit" (an AutoFormer-style ViT
    # text, built for a resolution), "module" (an nn.Module as given),
    # "builder" (module is a picklable builder(structure, num_classes=, residual=) -> nn.Module)
    resolution: int  # native setting
    num_classes: int
    structure: Optional[str] = None
    module: Any = None
    notes: List[str] = field(default_factory=list)

    def build(self, residual: bool = True, num_classes: Optional[int] = None, resolution: Optional[int] = None):
        """A fresh network; `resolution` matters to a ViT only (its position embeddings), default its own."""
        nc = self.num_classes if num_classes is None else int(num_classes)
        if self.kind == "vit":
            from .nn.vit import vit_network

            return vit_network(self.structure, num_classes=nc, residual=residual,
                               resolution=self.resolution if resolution is None else int(resolution))
        if self.kind == "arch":
            from .nn import build_model

            return build_model(self.structure, residual=residual, num_classes=nc)
        if self.kind == "named":
            from .nn.named import named_model

            return named_model(self.name, num_classes=nc, residual=residual)
        if self.kind == "builder":
            return self.module(self.structure, num_classes=nc, residual=residual)
        try:
            return copy.deepcopy(self.module)
        except Exception as e:
            raise ValueError(f"cannot deep-copy the given {type(self.module).__name__} ({e})") from e

    def params(self, num_classes: Optional[int] = None) -> Optional[int]:
        nc = self.num_classes if num_classes is None else int(num_classes)
        if self.kind == "arch":
            from .arch import Arch

            return int(Arch(self.structure).params(num_classes=nc))
        if self.kind == "named":
            from .nn.counting import count_params

            return count_params(self.build(num_classes=nc))
        if self.kind == "vit":
            from . import _core

            return int(_core.vit_counts(self.structure, resolution=self.resolution, num_classes=nc)["params"])
        return None

    def flops(self, resolution: int, num_classes: Optional[int] = None) -> Optional[int]:
        """Conv + linear MACs at `resolution`; ValueError when a stride does not fit it."""
        nc = self.num_classes if num_classes is None else int(num_classes)
        if self.kind == "arch":
            from .arch import Arch

            return int(Arch(self.structure).flops(resolution=int(resolution), num_classes=nc))
        if self.kind == "named":
            from .nn.counting import count_macs

            return int(count_macs(self.build(num_classes=nc).to("meta"), (3, int(resolution), int(resolution))))
        if self.kind == "vit":  # Conv2d + Linear MACs, as the hooks count (attention matmuls: _core.vit_counts)
            from . import _core

            return int(_core.vit_counts(self.structure, resolution=int(resolution), num_classes=nc)["macs"])
        return None


def _from_json_file(path: str) -> Target:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read a search result from it ({e})") from None
    entry = data[0] if isinstance(data, list) and data else data
    if not isinstance(entry, dict) or "structure" not in entry:
        raise ValueError(f"{path}: expected a run's best.json (a list of entries with a 'structure') "
                         f"or an object with a 'structure'")
    res = int(entry.get("resolution", defaults.SCORE_RESOLUTION))
    nc = int(entry.get("num_classes", defaults.SCORE_NUM_CLASSES))
    t = resolve_target(entry["structure"])
    t.resolution, t.num_classes = res, nc
    t.name = f"{t.name} (from {path})"
    return t


def resolve_target(x: Any) -> Target:
    """A Target for anything a user may name; ValueError listing what is accepted otherwise."""
    from .arch import Arch
    from .zoo import lookup

    if isinstance(x, Target):
        return x
    if isinstance(x, Arch):
        return Target(str(x), "arch", defaults.SCORE_RESOLUTION, defaults.SCORE_NUM_CLASSES, structure=str(x))
    if not isinstance(x, str):
        from torch import nn

        if isinstance(x, nn.Module):
            return Target(type(x).__name__, "module", defaults.SCORE_RESOLUTION, defaults.SCORE_NUM_CLASSES,
                          module=x, notes=["the target is an nn.Module: it cannot be rebuilt without residual links, "
                                           "so every proxy (Zen-score included) ran on a deep copy of it as given"])
        raise ValueError(f"cannot score a {type(x).__name__}: give a structure string, a name or an nn.Module")
    text = x.strip()
    entry = lookup(text)
    if entry is not None:
        return Target(text.lower(), "arch", entry.resolution, entry.num_classes, structure=entry.structure)
    if text.lower().endswith(".json") and os.path.isfile(text):
        return _from_json_file(text)
    from .nn.resnet import RESNET_LAYOUTS

    named = tuple(f"resnet{d}" for d in sorted(RESNET_LAYOUTS))
    if text.startswith("|"):
        return Target(text, "named", 32, 10)
    if text.lower().startswith("vit:"):
        from . import _core

        canonical = _core.vit_arch(text)["text"]
        return Target(canonical, "vit", 224, 1000, structure=canonical)
    if text.lower().startswith("nats:"):
        from .nn.named import parse_nats

        widths = parse_nats(text)
        return Target("nats:" + ":".join(map(str, widths)), "named", 32, 10)
    if text.lower() in named:
        return Target(text.lower(), "named", defaults.SCORE_RESOLUTION, defaults.SCORE_NUM_CLASSES)
    try:
        arch = Arch(text)
    except ValueError as e:
        from .zoo import ZOO

        raise ValueError(f"{text!r} is not a structure string ({e}), a zoo name ({', '.join(ZOO)}), a ResNet "
                         f"({', '.join(named)}), an NB201 cell string ('|op~0|+...') or a run's best.json") from None
    return Target(str(arch), "arch", defaults.SCORE_RESOLUTION, defaults.SCORE_NUM_CLASSES, structure=str(arch))


__all__ = ["Target", "resolve_target"]
