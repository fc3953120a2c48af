"""Stage-wise spaces as data: NAS-Bench-Zero's SS-R1 (ResNet basic blocks), SS-R2 (bottlenecks)
and SS-MB (MobileNetV2 inverted residuals) (REFERENCE §10; issue 13, item 1).

A space is a stem, S stages (3 or 4) and a 1×1 head; each stage picks a width and a depth from
finite choice sets and starts with a stride-2 block when it is a down-sampling stage (three
down-samplings, at positions the space names). A candidate is the tuple of choice indices
``(w_1, d_1, …, w_S, d_S)``: ``len(space)`` is the product of the choice counts, ``space[i]``
the i-th candidate (mixed radix, first stage's width fastest), ``space.index(c)``, and
``space.sample(rng)`` draws each choice uniformly and independently -- uniform over the space,
not a mutation chain. ``space.structure(c)`` is the zsnas structure string (so counts come from
the C++ counters and networks from the one builder), ``space.decode(structure)`` inverts it, and
``space.mutate(c, rng)`` changes one choice to another of its set, staying inside the space.

NAS-Bench-Zero does not publish its choice sets; these are in its spirit (CIFAR-100 scale):
widths {32, 48, 64, 96, 128} scaled ×1, ×2, ×4 by stage, depths {1, 2, 3, 4}.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Sequence, Tuple

import numpy as np

Candidate = Tuple[int, ...]


@dataclass(frozen=True)
class StageSpace:
    name: str
    block: str  # "basic" | "bottleneck" | "inverted"
    widths: Tuple[Tuple[int, ...], ...]  # per stage
    depths: Tuple[Tuple[int, ...], ...]
    downsample: Tuple[bool, ...]  # per stage: starts with a stride-2 block
    stem: int = 32
    stem_stride: int = 1
    head: int = 512
    kernel: int = 3
    expansion: int = 4  # bottleneck: width / 4 in the middle; inverted: ×6 (kernel 3) middle
    resolution: int = 32
    num_classes: int = 100
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        s = len(self.widths)
        if not (len(self.depths) == len(self.downsample) == s) or s not in (3, 4):
            raise ValueError(f"space {self.name}: 3 or 4 stages, each with widths, depths and a down-sampling flag")
        if sum(self.downsample) + (self.stem_stride > 1) != 3:
            raise ValueError(f"space {self.name}: three down-samplings (stem stride and stage flags)")
        if self.block not in ("basic", "bottleneck", "inverted"):
            raise ValueError(f"space {self.name}: block must be basic, bottleneck or inverted")

    # ---- the choice grid -------------------------------------------------------------------
    @property
    def radices(self) -> Tuple[int, ...]:
        out = []
        for w, d in zip(self.widths, self.depths):
            out += [len(w), len(d)]
        return tuple(out)

    def __len__(self) -> int:
        return int(np.prod(self.radices))

    def __getitem__(self, i: int) -> Candidate:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"{self.name} index {i} out of range [0, {len(self)})")
        c = []
        for r in self.radices:
            i, d = divmod(i, r)
            c.append(d)
        return tuple(c)

    def index(self, c: Sequence[int]) -> int:
        c = self._check(c)
        i = 0
        for d, r in zip(reversed(c), reversed(self.radices)):
            i = i * r + d
        return i

    def _check(self, c: Sequence[int]) -> Candidate:
        c = tuple(int(x) for x in c)
        if len(c) != len(self.radices) or any(not 0 <= x < r for x, r in zip(c, self.radices)):
            raise ValueError(f"{c} is not a candidate of {self.name} (choice counts {self.radices})")
        return c

    def sample(self, rng: np.random.Generator) -> Candidate:
        return tuple(int(rng.integers(r)) for r in self.radices)

    def mutate(self, c: Sequence[int], rng: np.random.Generator) -> Candidate:
        """One choice (uniform among those with more than one option) moved to another option."""
        c = list(self._check(c))
        free = [k for k, r in enumerate(self.radices) if r > 1]
        k = free[int(rng.integers(len(free)))]
        other = int(rng.integers(self.radices[k] - 1))
        c[k] = other if other < c[k] else other + 1
        return tuple(c)

    # ---- structure strings -----------------------------------------------------------------
    def _block(self, c_in: int, c_out: int, stride: int, n: int) -> str:
        k = self.kernel
        if self.block == "basic":
            return f"SuperResK{k}K{k}({c_in},{c_out},{stride},{c_out},{n})"
        if self.block == "bottleneck":
            return f"SuperResK1K{k}K1({c_in},{c_out},{stride},{max(8, c_out // self.expansion)},{n})"
        return f"SuperResIDWE{self.expansion}K{k}({c_in},{c_out},{stride},{c_out},{n})"

    def structure(self, c: Sequence[int]) -> str:
        c = self._check(c)
        parts = [f"SuperConvK3BNRELU(3,{self.stem},{self.stem_stride},1)"]
        prev = self.stem
        for s in range(len(self.widths)):
            w, d = self.widths[s][c[2 * s]], self.depths[s][c[2 * s + 1]]
            parts.append(self._block(prev, w, 2 if self.downsample[s] else 1, d))
            prev = w
        parts.append(f"SuperConvK1BNRELU({prev},{self.head},1,1)")
        return "".join(parts)

    def counts(self, structure: str) -> Tuple[int, int]:
        """(params, MACs) of a member's structure string at the space's resolution and classes,
        from the C++ counters (no network built: SS-R1's 8,000 members count in a second)."""
        from ..arch import Arch

        return Arch(structure).counts(self.resolution, self.num_classes)

    def decode(self, structure: str) -> Candidate:
        """The candidate whose structure string this is; ValueError when none is."""
        blocks = re.findall(r"\((\d+),(\d+),(\d+),(\d+)(?:,(\d+))?\)", structure)[1:-1]
        if len(blocks) != len(self.widths):
            raise ValueError(f"{structure!r} is not a member of {self.name}")
        c = []
        for s, b in enumerate(blocks):
            w, d = int(b[1]), int(b[4])
            if w not in self.widths[s] or d not in self.depths[s]:
                raise ValueError(f"{structure!r}: stage {s + 1} ({w} wide, {d} deep) is not in {self.name}")
            c += [self.widths[s].index(w), self.depths[s].index(d)]
        if self.structure(c) != structure:
            raise ValueError(f"{structure!r} is not a member of {self.name}")
        return tuple(c)


_W = (32, 48, 64, 96, 128)
_D = (1, 2, 3, 4)


def _scaled(mult: int) -> Tuple[int, ...]:
    return tuple(w * mult for w in _W)


NB_ZERO: Dict[str, StageSpace] = {
    "ss-r1": StageSpace("ss-r1", "basic", (_scaled(1), _scaled(2), _scaled(4)), (_D, _D, _D), (False, True, True),
                        stem_stride=2, notes="ResNet basic blocks, 3 stages"),
    "ss-r2": StageSpace("ss-r2", "bottleneck", (_scaled(2), _scaled(4), _scaled(8), _scaled(8)), (_D, _D, _D, _D),
                        (False, True, True, True), notes="ResNet bottleneck blocks, 4 stages"),
    "ss-mb": StageSpace("ss-mb", "inverted", (_scaled(1), _scaled(1), _scaled(2), _scaled(4)), (_D, _D, _D, _D),
                        (False, True, True, True), expansion=6, notes="MobileNetV2 inverted residuals, 4 stages"),
}


__all__ = ["StageSpace", "NB_ZERO", "Candidate"]
