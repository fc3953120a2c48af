"""Named search spaces, seeded mutation and budget-constrained sampling (REFERENCE §2).

Built-in spaces (``get_space(name)``, ``SPACES``):

* ``"res"`` — ZenNAS Space I (CIFAR, 32×32, 10 classes). Mutable blocks may become
  SuperResK1K{3,5,7}K1 or SuperResK{3K3,5K5,7K7}; the stem and head SuperConv blocks change
  width only. Initial structure (the ZenNAS CIFAR scripts' start, 6 layers):
  ``SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,1,8,1)SuperResK3K3(16,32,2,16,1)``
  ``SuperResK3K3(32,64,2,32,1)SuperResK3K3(64,64,2,32,1)SuperConvK1BNRELU(64,128,1,1)``.
* ``"mbv2"`` — ZenNAS Space II (ImageNet, 224×224, 1000 classes): the 12
  SuperResIDWE{1,2,4,6}K{3,5,7} types; the 1×1 head to 2048 channels is fixed; the initial
  structure is AZ-NAS's.

Mutation: one uniformly chosen non-fixed block gets out and bottleneck widths
round8(f × current) with f drawn independently from {2.5, 2, 1.5, 1.25, 1, 1/1.25, 1/1.5, 1/2,
1/2.5}, clamped to [8, 2048]; sub_layers uniform in current−2 … current+2 (≥ 1); with
probability ``type_change_prob`` (ZenNAS ρ) a type drawn *uniformly* from the space's types.
``in`` and ``stride`` stay; then every block's ``in`` is re-chained to the previous ``out`` and
blocks with sub_layers ≥ 6 are split into (…,3) + (out,out,1,btl,n−3). Unlike the authors'
code, whose type lists are duplicated and ordered by Python's string hash (so the type
probabilities are skewed and change with PYTHONHASHSEED), zsnas draws types uniformly and every
draw comes from an explicit, checkpointable ``Rng`` (xoshiro256**), so a seed reproduces a run.

A user-defined space is a dict (or a JSON file of one); fields left out take the defaults shown
by ``get_space("res").to_dict()``::

    import zsnas
    from zsnas.spaces import SearchSpace, Rng

    bottlenecks = SearchSpace.from_dict({
        "name": "k1kxk1-small",
        "block_types": ["SuperResK1K3K1", "SuperResK1K5K1"],  # residual catalogue names
        "width_factors": [1, 2],            # widths only stay or double
        "min_channels": 16, "max_channels": 512,
        "depth_delta": 1, "max_sub_layers": 4,
        "fixed_blocks": [0, -1],            # stem and head never change
        "initial": "SuperConvK3BNRELU(3,16,1,1)SuperResK1K3K1(16,32,2,16,1)"
                   "SuperResK1K3K1(32,64,2,32,1)SuperConvK1BNRELU(64,256,1,1)",
        "resolution": 32, "num_classes": 10,
    })
    rng = Rng(seed=0)
    child = bottlenecks.mutate(bottlenecks.initial, rng, type_change_prob=0.5)
    net = bottlenecks.sample(rng, budget={"params": 300_000, "layers": 8})
    zsnas.spaces.register_space(bottlenecks)   # now get_space("k1kxk1-small") works too

Fields: ``name``, ``block_types``, ``width_factors``, ``min_channels``/``max_channels``,
``depth_delta``, ``min_sub_layers``/``max_sub_layers``, ``split_threshold`` (0: never split;
else ≥ 4), ``fixed_blocks`` (indices, negative from the end), ``mutate_conv_width`` (may stem/head
conv blocks change width), ``initial``, ``resolution``, ``num_classes``. An unknown block type
name, an unknown field or a bad range raises ValueError naming it.
"""
from __future__ import annotations

from .. import _core
from .budget import PAPER_BUDGETS, Budget, BudgetError, make_budget, paper_budget
from .space import Rng, SearchSpace, as_rng

SPACES: dict[str, SearchSpace] = {
    "res": SearchSpace(_core.res_space()),
    "mbv2": SearchSpace(_core.mbv2_space()),
}


def get_space(name_or_space) -> SearchSpace:
    """A registered space by name ("res", "mbv2", or one added by register_space); a
    SearchSpace or a space dict passes through SearchSpace.from_dict."""
    if isinstance(name_or_space, SearchSpace):
        return name_or_space
    if isinstance(name_or_space, dict):
        return SearchSpace.from_dict(name_or_space)
    if name_or_space not in SPACES:
        raise ValueError(f"unknown search space {name_or_space!r} (known: {', '.join(sorted(SPACES))})")
    return SPACES[name_or_space]


def register_space(space: SearchSpace, overwrite: bool = False) -> SearchSpace:
    """Make `space` available to get_space(space.name) (and so to zsnas.search(space=name))."""
    if not isinstance(space, SearchSpace):
        raise TypeError(f"register_space takes a SearchSpace, got {type(space).__name__}")
    if space.name in SPACES and not overwrite and SPACES[space.name] != space:
        raise ValueError(f"a different search space named {space.name!r} is already registered (overwrite=True replaces it)")
    SPACES[space.name] = space
    return space


__all__ = ["SPACES", "PAPER_BUDGETS", "paper_budget", "Budget", "BudgetError", "Rng", "SearchSpace", "as_rng", "get_space", "make_budget", "register_space"]
