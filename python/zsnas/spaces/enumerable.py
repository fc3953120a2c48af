"""Enumerable spaces: every candidate counted, indexed and drawn uniformly (issue 13, item 2).

``NB201Space`` -- the NAS-Bench-201 cell space: 6 edges, 5 operations each, 5^6 = 15,625 cells.
``len(space)``, ``space[i]`` (the cell string of index i), ``space.index(cell)``, iteration in
index order, ``space.sample(rng)`` (uniform, numpy Generator) and ``space.mutate(cell, rng)`` (one
edge to another operation). Index i has the base-5 digits
(edge 1→0 first … edge 3→2 last) of the operations in ``OPS`` order, so index 0 is the all-none
cell. Exact counts (REFERENCE §7) come in closed form, so a whole-space front costs no network.

``NATSSizeSpace`` -- NATS-Bench's size space: 5 layer widths from {8, 16, …, 64}, 8^5 = 32,768
networks "nats:C1:C2:C3:C4:C5", with the same interface and closed-form counts.
"""
from __future__ import annotations

from typing import Iterator, Sequence, Tuple

import numpy as np

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node), the string's order
NATS_CHANNELS: Tuple[int, ...] = (8, 16, 24, 32, 40, 48, 56, 64)  # NATS-Bench's size-space widths


class _DigitSpace:
    """A space of `positions` independent choices from one tuple of `choices`: member i has the
    base-len(choices) digits of i, position 0 the lowest. Subclasses say how a member is written
    (_format) and read (_parse, ValueError naming what is wrong)."""

    name = ""
    what = "member"  # for messages
    choices: Tuple = ()
    positions = 0

    def _parse(self, text: str) -> Tuple:
        raise NotImplementedError

    def _format(self, options: Sequence) -> str:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.choices) ** self.positions

    def __getitem__(self, i: int) -> str:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"{self.name} space index {i} out of range [0, {len(self)})")
        options = []
        for _ in range(self.positions):
            i, d = divmod(i, len(self.choices))
            options.append(self.choices[d])
        return self._format(options)

    def index(self, text: str) -> int:
        i = 0
        for option in reversed(self._parse(text)):
            i = i * len(self.choices) + self.choices.index(option)
        return i

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def __contains__(self, text: str) -> bool:
        try:
            self.index(text)
        except ValueError:
            return False
        return True

    def sample(self, rng: np.random.Generator) -> str:
        return self[int(rng.integers(len(self)))]

    def mutate(self, text: str, rng: np.random.Generator) -> str:
        """One uniformly chosen position moved to another choice (uniform among the others)."""
        options = list(self._parse(text))
        k = int(rng.integers(self.positions))
        other = int(rng.integers(len(self.choices) - 1))
        cur = self.choices.index(options[k])
        options[k] = self.choices[other if other < cur else other + 1]
        return self._format(options)

    def structure(self, text: str) -> str:
        """What zsnas.score takes for a member: its canonical name."""
        return self._format(self._parse(text))

    def decode(self, text: str) -> str:
        """The member a string names; ValueError when it names none."""
        return self.structure(text)


class NB201Space(_DigitSpace):
    name = "nb201"
    resolution, num_classes = 32, 10
    choices, positions = OPS, len(EDGES)

    def _parse(self, cell: str) -> Tuple[str, ...]:
        return cell_ops(cell)

    def _format(self, ops: Sequence[str]) -> str:
        return cell_string(ops)

    def counts(self, cell: str) -> Tuple[int, int]:
        """(params, FLOPs) of the CIFAR-10 network of `cell` (REFERENCE §7's closed form, exact)."""
        ops = cell_ops(cell)
        n3, n1 = ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1")
        return 73306 + 243040 * n3 + 28000 * n1, 7783040 + 35389440 * n3 + 3932160 * n1  # MACs, no bias adds


class NATSSizeSpace(_DigitSpace):
    """NATS-Bench's size space (REFERENCE §10): the width of each of the 5 layers of the NB201
    skeleton with one fixed cell per stage, from NATS_CHANNELS (8, 16, …, 64): 8^5 = 32,768
    networks, named "nats:C1:C2:C3:C4:C5". Index i has the base-8 digits of the widths, layer 1
    first (index 0 is nats:8:8:8:8:8)."""

    name = "nats-sss"
    resolution, num_classes = 32, 10
    choices = channels = NATS_CHANNELS
    positions = 5

    def _parse(self, name: str) -> Tuple[int, ...]:
        from ..nn.named import parse_nats

        widths = parse_nats(name)
        bad = [w for w in widths if w not in self.channels]
        if bad:
            raise ValueError(f"{name!r}: width {bad[0]} is not one of the space's {self.channels}")
        return widths

    def _format(self, widths: Sequence[int]) -> str:
        return "nats:" + ":".join(map(str, widths))

    widths = _parse

    def counts(self, name: str, num_classes: int = 10, resolution: int = 32) -> Tuple[int, int]:
        """(params, MACs) in closed form: the stem, cell, reduction, cell, reduction, cell of
        nn.nb201.nats_size_network, conv and linear MACs (no bias adds, BN and pooling free)."""
        c1, c2, c3, c4, c5 = self.widths(name)
        h1, h2, h3 = resolution, (resolution + 1) // 2, ((resolution + 1) // 2 + 1) // 2

        def cell(ci, co):  # (params, MACs per pixel): 3x3 convs 0->1, 0->2 (from ci), 1->2, 1->3, 2->3;
            # skip 0->3 is Conv1x1 + BN when the width changes
            change = ci != co
            return (18 * ci * co + 27 * co * co + 10 * co + (ci * co + 2 * co if change else 0),
                    18 * ci * co + 27 * co * co + (ci * co if change else 0))

        def reduction(ci, co):  # conv_a 3x3 s2, conv_b 3x3, shortcut avgpool + Conv1x1
            return 10 * ci * co + 9 * co * co + 4 * co, 10 * ci * co + 9 * co * co

        parts = [(29 * c1, 27 * c1, h1), (*cell(c1, c1), h1), (*reduction(c1, c2), h2), (*cell(c2, c3), h2),
                 (*reduction(c3, c4), h3), (*cell(c4, c5), h3)]
        params = sum(p for p, _, _ in parts) + 2 * c5 + c5 * num_classes + num_classes
        macs = sum(m * h * h for _, m, h in parts) + c5 * num_classes
        return params, macs


def cell_string(ops: Sequence[str]) -> str:
    e = [f"{op}~{src}" for op, (_, src) in zip(ops, EDGES)]
    return f"|{e[0]}|+|{e[1]}|{e[2]}|+|{e[3]}|{e[4]}|{e[5]}|"


def cell_ops(cell: str) -> Tuple[str, ...]:
    """The six operations of a cell string, in EDGES order; ValueError naming what is wrong."""
    nodes = [n for n in str(cell).strip().split("+")]
    edges = [e for n in nodes for e in n.strip("|").split("|") if e]
    if len(nodes) != 3 or len(edges) != 6:
        raise ValueError(f"{cell!r} is not an NB201 cell string (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|)")
    ops = []
    for edge, (_, src) in zip(edges, EDGES):
        op, _, s = edge.partition("~")
        if op not in OPS or s != str(src):
            raise ValueError(f"{cell!r}: edge {edge!r} is not one of {', '.join(OPS)} from node {src}")
        ops.append(op)
    return tuple(ops)


__all__ = ["NB201Space", "NATSSizeSpace", "NATS_CHANNELS", "OPS", "EDGES", "cell_string", "cell_ops"]
