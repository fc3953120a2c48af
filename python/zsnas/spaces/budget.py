"""Budgets for sampling and search: a dict such as ``{"params": 1e6, "layers": 18}`` or a
``zsnas.spaces.Budget`` (the C++ ``Budget``), checked from the Arch alone in C++.

Dict keys (every limit optional; ``None`` or -1 means unlimited):
``params`` / ``max_params``, ``flops`` / ``max_flops`` (conv + linear MACs at ``resolution``),
``layers`` / ``max_layers`` (Σ sub_layers), ``latency_ms`` / ``max_latency_ms`` (needs
``latency``: a callable ``zsnas.Arch -> ms``), ``resolution``, ``num_classes``; ``float("inf")``
is unlimited too. A dict takes
``resolution`` and ``num_classes`` from the search space when it does not name them; a
``Budget`` object is used as it is (its defaults are 224 and 1000).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional, Union

from .. import _core
from ..arch import Arch

Budget = _core.Budget
BudgetError = _core.BudgetError

_ALIASES = {
    "params": "max_params", "max_params": "max_params",
    "flops": "max_flops", "max_flops": "max_flops",
    "layers": "max_layers", "max_layers": "max_layers",
    "latency_ms": "max_latency_ms", "max_latency_ms": "max_latency_ms",
    "resolution": "resolution", "num_classes": "num_classes", "latency": "latency",
}
_INT_FIELDS = ("max_params", "max_flops", "max_layers", "resolution", "num_classes")

BudgetLike = Union[None, Budget, Mapping[str, Any]]


# The paper limits of the built-in spaces (REFERENCE §2): applied by search (API and CLI alike)
# to every limit the caller leaves out, unless default_budget=False / --no-default-budget.
PAPER_BUDGETS = {"res": {"max_params": 1_000_000, "max_layers": 18}, "mbv2": {"max_flops": 400_000_000, "max_layers": 14}}


def paper_budget(space_name: str) -> dict:
    """The paper's limits for a built-in space ({} for any other)."""
    return dict(PAPER_BUDGETS.get(space_name, {}))


def limit_fields(budget: Mapping[str, Any]) -> dict:
    """A budget dict with its keys in field form (params -> max_params, ...); unknown keys raise."""
    out = {}
    for key, value in budget.items():
        field = _ALIASES.get(key)
        if field is None:
            raise ValueError(f"unknown budget key {key!r} (known: {', '.join(sorted(_ALIASES))})")
        out[field] = value
    return out


def _unlimited(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and (value == -1 or value == math.inf))


def _as_int(field: str, value: Any) -> int:
    # 600e6 is a natural way to write a FLOPs limit; only whole numbers are accepted.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise ValueError(f"budget {field}={value!r} must be a whole number (or None / -1 for unlimited)")
    return int(value)


def make_budget(budget: BudgetLike, resolution: int = 224, num_classes: int = 1000) -> Optional[Budget]:
    """A C++ Budget from None / Budget / dict; `resolution`, `num_classes` fill in what a dict leaves out."""
    if budget is None or isinstance(budget, Budget):
        if budget is not None:
            budget.validate()
        return budget
    if not isinstance(budget, Mapping):
        raise TypeError(f"budget must be None, a dict or a zsnas.spaces.Budget, got {type(budget).__name__}")
    kwargs: dict[str, Any] = {"resolution": resolution, "num_classes": num_classes}
    for field, value in limit_fields(budget).items():
        if field == "latency":
            if value is not None:
                if not callable(value):
                    raise ValueError("budget latency must be a callable Arch -> milliseconds")
                fn: Callable[[Arch], float] = value
                kwargs["latency"] = lambda core, fn=fn: float(fn(Arch(core)))
            continue
        if _unlimited(value) and field.startswith("max_"):
            value = -1
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"budget {field}={value!r} must be a number (or None / -1 for unlimited)")
        kwargs[field] = _as_int(field, value) if field in _INT_FIELDS else float(value)
    return Budget(**kwargs)  # validates (ValueError naming the field)
