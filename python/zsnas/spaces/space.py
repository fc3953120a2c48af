"""SearchSpace: the Python face of a C++ search space (csrc/core/space.h).

A space is data — block types, width factors, depth range, fixed blocks, initial structure —
so mutation, sampling and budget checks all run in C++ and need no torch.
"""
from __future__ import annotations

import json
import numbers
import os
from typing import Any, Mapping, Optional, Union

from .. import _core
from ..arch import Arch, as_arch
from .budget import BudgetLike, make_budget

Rng = _core.Rng
RngLike = Union[int, "_core.Rng"]


def as_rng(rng: RngLike) -> "_core.Rng":
    """An Rng as it is (it advances), or a fresh Rng(seed) from an integer seed."""
    if isinstance(rng, Rng):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        seed = int(rng)
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed={seed} must be in [0, 2**64)")
        return Rng(seed)
    raise TypeError(f"expected a zsnas.spaces.Rng or an integer seed, got {type(rng).__name__}")


class SearchSpace:
    """A search space: which blocks may change, and how (REFERENCE §2).

    Build one with ``SearchSpace.from_dict(d)`` / ``from_json(path)`` or take a built-in with
    ``zsnas.spaces.get_space("res" | "mbv2")``. Immutable; equal when their dicts are equal.
    """

    __slots__ = ("_spec",)

    def __init__(self, spec: "_core.SearchSpace"):
        if not isinstance(spec, _core.SearchSpace):
            raise TypeError("use SearchSpace.from_dict(d), from_json(path) or zsnas.spaces.get_space(name)")
        self._spec = spec

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SearchSpace":
        """Validate and build. Unknown block type names and bad ranges raise ValueError naming them."""
        if not isinstance(d, Mapping):
            raise TypeError(f"SearchSpace.from_dict takes a dict, got {type(d).__name__}")
        return cls(_core.SearchSpace(dict(d)))

    @classmethod
    def from_json(cls, path: Union[str, os.PathLike]) -> "SearchSpace":
        """A space from a JSON file; ValueError naming the file and what is wrong with it."""
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except OSError as e:
            raise ValueError(f"space file {path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"space file {path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
        if not isinstance(d, Mapping):
            raise ValueError(f"space file {path} must hold a JSON object, not {type(d).__name__}")
        try:
            return cls.from_dict(d)
        except (ValueError, TypeError) as e:
            raise ValueError(f"space file {path}: {e}") from None

    def to_dict(self) -> dict:
        return self._spec.to_dict()

    def to_json(self, path: Union[str, os.PathLike]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    # --- properties -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def block_types(self) -> list[str]:
        return self.to_dict()["block_types"]

    @property
    def resolution(self) -> int:
        return self._spec.resolution

    @property
    def num_classes(self) -> int:
        return self._spec.num_classes

    @property
    def initial(self) -> Arch:
        """The initial structure of a search in this space."""
        if not self._spec.initial:
            raise ValueError(f"search space {self.name!r} has no initial structure")
        return Arch(self._spec.initial)

    @property
    def core(self) -> "_core.SearchSpace":
        """The C++ space (for zsnas._core functions and the engine)."""
        return self._spec

    # --- operators ------------------------------------------------------------------------
    def mutable_blocks(self, arch: Union[str, Arch]) -> list[int]:
        """Indices of the blocks `mutate` may pick in `arch`."""
        return self._spec.mutable_blocks(as_arch(arch)._core)

    def mutate(self, arch: Union[str, Arch], rng: RngLike, type_change_prob: float = 1.0) -> Arch:
        """One mutation (REFERENCE §2): a uniformly chosen non-fixed block gets new widths, depth and
        (with probability `type_change_prob`) a type drawn uniformly from the space; then re-chain
        and split. `rng` advances; an integer seed starts a fresh Rng."""
        return Arch(_core.mutate(as_arch(arch)._core, self._spec, as_rng(rng), float(type_change_prob)))

    def sample(self, rng: RngLike, budget: BudgetLike = None, max_tries: int = 10000, steps: int = 8) -> Arch:
        """A random architecture: the initial structure mutated `steps` times, keeping only mutants
        within `budget` (dict or Budget; a dict takes this space's resolution / num_classes).
        Raises zsnas.spaces.BudgetError (a ValueError) naming the limit that rejected most when
        nothing within the budget turns up in `max_tries` mutations."""
        b = self.budget(budget)
        return Arch(_core.sample(self._spec, as_rng(rng), b, int(max_tries), int(steps)))

    def budget(self, budget: BudgetLike) -> Optional["_core.Budget"]:
        """The C++ Budget of `budget`, with this space's resolution / num_classes as dict defaults."""
        return make_budget(budget, self.resolution, self.num_classes)

    def within_budget(self, arch: Union[str, Arch], budget: BudgetLike) -> bool:
        b = self.budget(budget)
        return True if b is None else _core.within_budget(as_arch(arch)._core, b)

    def budget_violation(self, arch: Union[str, Arch], budget: BudgetLike) -> Optional[str]:
        """None when within budget, else e.g. ``"params 1234567 > max_params 1000000"``."""
        b = self.budget(budget)
        return None if b is None else _core.budget_violation(as_arch(arch)._core, b)

    # --- identity -------------------------------------------------------------------------
    def __eq__(self, other) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return f"SearchSpace(name={self.name!r}, block_types={self.block_types}, resolution={self.resolution})"

    def __reduce__(self):
        return (SearchSpace.from_dict, (self.to_dict(),))
