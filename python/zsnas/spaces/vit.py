"""AutoFormer's ViT search spaces as AZ-NAS searched them (issue 13, item 4; REFERENCE §10).

Choice sets (AutoFormer Table 1 and the AZ-NAS/AutoFormer space-{T,S,B} configs): embedding dim
and depth are global, the MLP ratio and the head count are chosen per layer, and the Q-K-V dim
of a layer is heads × 64 (AutoFormer's change_qkv). A member is the text
"vit:E:D:r_1,...,r_D:h_1,...,h_D" that zsnas._core parses and counts (csrc/core/vit.h).

    tiny  (autoformer-t): E {192, 216, 240}, D {12, 13, 14}, r {3.5, 4}, heads {3, 4}
    small (autoformer-s): E {320, 384, 448}, D {12, 13, 14}, r {3, 3.5, 4}, heads {5, 6, 7}
    base  (autoformer-b): E {528, 576, 624}, D {14, 15, 16}, r {3, 3.5, 4}, heads {9, 10}

``sample`` is uniform over the members (a depth is drawn with weight (|r|·|h|)^D, the number of
members of that depth), unlike AutoFormer's sampler, which draws each choice uniformly and so
over-weights shallow members; ``mutate`` moves one choice (the embedding dim, the depth -- layers
added at the end are drawn uniformly, removed ones are the last --, or one layer's ratio or
heads) to another value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class ViTSpace:
    name: str
    embed: Tuple[int, ...]
    depth: Tuple[int, ...]
    mlp_ratio: Tuple[float, ...]
    heads: Tuple[int, ...]
    resolution: int = 224
    num_classes: int = 1000
    notes: str = field(default="", compare=False)

    # ---- members ---------------------------------------------------------------------------
    def _arch(self, text: str) -> dict:
        from .. import _core

        a = _core.vit_arch(text)
        for key, allowed in (("embed", self.embed), ("depth", self.depth)):
            if a[key] not in allowed:
                raise ValueError(f"{text!r}: {key} {a[key]} is not one of {self.name}'s {allowed}")
        for key, allowed in (("mlp_ratio", self.mlp_ratio), ("heads", self.heads)):
            for layer, v in enumerate(a[key], start=1):
                if v not in allowed:
                    raise ValueError(f"{text!r}: layer {layer}'s {key} {v:g} is not one of {self.name}'s {allowed}")
        return a

    @staticmethod
    def format(embed: int, ratios: Sequence[float], heads: Sequence[int]) -> str:
        return (f"vit:{embed}:{len(ratios)}:" + ",".join(f"{r:g}" for r in ratios) + ":" +
                ",".join(str(h) for h in heads))

    def structure(self, text: str) -> str:
        """The canonical text of a member; ValueError naming a choice outside the space."""
        return self._arch(text)["text"]

    decode = structure

    def __contains__(self, text: str) -> bool:
        try:
            self._arch(text)
        except ValueError:
            return False
        return True

    def __len__(self) -> int:
        per_layer = len(self.mlp_ratio) * len(self.heads)
        return len(self.embed) * sum(per_layer ** d for d in self.depth)

    def extremes(self) -> Tuple[str, str]:
        """(smallest, largest) member: every choice at its minimum / maximum."""
        lo, hi = min(self.depth), max(self.depth)
        return (self.format(min(self.embed), [min(self.mlp_ratio)] * lo, [min(self.heads)] * lo),
                self.format(max(self.embed), [max(self.mlp_ratio)] * hi, [max(self.heads)] * hi))

    def counts(self, text: str) -> Tuple[int, int]:
        """(params, Conv2d + Linear MACs) at the space's resolution and classes (C++)."""
        from .. import _core

        c = _core.vit_counts(text, resolution=self.resolution, num_classes=self.num_classes)
        return int(c["params"]), int(c["macs"])

    # ---- drawing ---------------------------------------------------------------------------
    def _layer(self, rng: np.random.Generator) -> Tuple[float, int]:
        return (self.mlp_ratio[int(rng.integers(len(self.mlp_ratio)))], self.heads[int(rng.integers(len(self.heads)))])

    def sample(self, rng: np.random.Generator) -> str:
        per_layer = len(self.mlp_ratio) * len(self.heads)
        weights = np.array([float(per_layer) ** d for d in self.depth])
        depth = self.depth[int(rng.choice(len(self.depth), p=weights / weights.sum()))]
        embed = self.embed[int(rng.integers(len(self.embed)))]
        layers = [self._layer(rng) for _ in range(depth)]
        return self.format(embed, [r for r, _ in layers], [h for _, h in layers])

    def mutate(self, text: str, rng: np.random.Generator) -> str:
        a = self._arch(text)
        embed, ratios, heads = a["embed"], list(a["mlp_ratio"]), list(a["heads"])

        def other(options, current):
            k = int(rng.integers(len(options) - 1))
            i = options.index(current)
            return options[k if k < i else k + 1]

        slots = [("embed", -1)] * (len(self.embed) > 1) + [("depth", -1)] * (len(self.depth) > 1)
        slots += [("mlp_ratio", i) for i in range(len(ratios))] * (len(self.mlp_ratio) > 1)
        slots += [("heads", i) for i in range(len(heads))] * (len(self.heads) > 1)
        what, i = slots[int(rng.integers(len(slots)))]
        if what == "embed":
            embed = other(self.embed, embed)
        elif what == "depth":
            depth = other(self.depth, len(ratios))
            while len(ratios) < depth:
                r, h = self._layer(rng)
                ratios.append(r)
                heads.append(h)
            ratios, heads = ratios[:depth], heads[:depth]
        elif what == "mlp_ratio":
            ratios[i] = other(self.mlp_ratio, ratios[i])
        else:
            heads[i] = other(self.heads, heads[i])
        return self.format(embed, ratios, heads)


AUTOFORMER: Dict[str, ViTSpace] = {
    "autoformer-t": ViTSpace("autoformer-t", (192, 216, 240), (12, 13, 14), (3.5, 4.0), (3, 4),
                             notes="AutoFormer-Tiny (searched model 5.7 M params)"),
    "autoformer-s": ViTSpace("autoformer-s", (320, 384, 448), (12, 13, 14), (3.0, 3.5, 4.0), (5, 6, 7),
                             notes="AutoFormer-Small (searched model 22.9 M params)"),
    "autoformer-b": ViTSpace("autoformer-b", (528, 576, 624), (14, 15, 16), (3.0, 3.5, 4.0), (9, 10),
                             notes="AutoFormer-Base (searched model 54 M params)"),
}
PUBLISHED_PARAMS_M = {"autoformer-t": 5.7, "autoformer-s": 22.9, "autoformer-b": 54.0}

__all__ = ["ViTSpace", "AUTOFORMER", "PUBLISHED_PARAMS_M"]
