"""Enumerable spaces: every candidate counted, indexed and drawn uniformly (issue 13, item 2).

``NB201Space`` -- the NAS-Bench-201 cell space: 6 edges, 5 operations each, 5^6 = 15,625 cells.
``len(space)``, ``space[i]`` (the cell string of index i), ``space.index(cell)``, iteration in
index order, ``space.sample(rng)`` (uniform, numpy Generator) and ``space.mutate(cell, rng)`` (one
edge to another operation). Index i has the base-5 digits
(edge 1→0 first … edge 3→2 last) of the operations in ``OPS`` order, so index 0 is the all-none
cell. Exact counts (REFERENCE §7) come in closed form, so a whole-space front costs no network.
"""
from __future__ import annotations

from typing import Iterator, Sequence, Tuple

import numpy as np

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node), the string's order


class NB201Space:
    name = "nb201"
    resolution, num_classes = 32, 10

    def __len__(self) -> int:
        return len(OPS) ** len(EDGES)

    def __getitem__(self, i: int) -> str:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"NB201 space index {i} out of range [0, {len(self)})")
        ops = []
        for _ in EDGES:
            i, d = divmod(i, len(OPS))
            ops.append(OPS[d])
        return cell_string(ops)

    def index(self, cell: str) -> int:
        ops = cell_ops(cell)
        i = 0
        for op in reversed(ops):
            i = i * len(OPS) + OPS.index(op)
        return i

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def __contains__(self, cell: str) -> bool:
        try:
            self.index(cell)
        except ValueError:
            return False
        return True

    def sample(self, rng: np.random.Generator) -> str:
        return self[int(rng.integers(len(self)))]

    def mutate(self, cell: str, rng: np.random.Generator) -> str:
        """One uniformly chosen edge moved to another operation (uniform among the other four)."""
        ops = list(cell_ops(cell))
        k = int(rng.integers(len(EDGES)))
        other = int(rng.integers(len(OPS) - 1))
        cur = OPS.index(ops[k])
        ops[k] = OPS[other if other < cur else other + 1]
        return cell_string(ops)

    def structure(self, cell: str) -> str:
        """What zsnas.score takes for `cell`: the cell string itself."""
        cell_ops(cell)
        return cell

    def decode(self, structure: str) -> str:
        """The member a string names (the cell itself); ValueError when it names none."""
        return self.structure(structure)

    def counts(self, cell: str) -> Tuple[int, int]:
        """(params, FLOPs) of the CIFAR-10 network of `cell` (REFERENCE §7's closed form, exact)."""
        ops = cell_ops(cell)
        n3, n1 = ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1")
        return 73306 + 243040 * n3 + 28000 * n1, 7783040 + 35389440 * n3 + 3932160 * n1  # MACs, no bias adds


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


__all__ = ["NB201Space", "OPS", "EDGES", "cell_string", "cell_ops"]
