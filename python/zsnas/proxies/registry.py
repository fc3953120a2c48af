"""Proxy registry: every zero-cost proxy is a function registered under a name.

A proxy is a pure function of (context) -> ProxyResult. The context says how to build a
fresh copy of the network (with or without residual links), on which device, at which
resolution, with which seed. Users extend zsnas with their own proxy in a few lines:

    @zsnas.proxies.register_proxy("my_proxy")
    def my_proxy(ctx):
        model = ctx.build(residual=True).to(ctx.device)
        x = ctx.randn(ctx.batch_size, 3, ctx.resolution, ctx.resolution)
        return float(model(x).abs().mean())
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from ..errors import ProxyFailed  # noqa: F401  (re-exported: zsnas.proxies.registry.ProxyFailed)


@dataclass
class ProxyResult:
    """Value of one proxy on one network. `value` is oriented higher-is-better."""

    name: str
    value: float
    sub_scores: Dict[str, float] = field(default_factory=dict)
    degenerate: int = 0  # how many features/pairs hit a documented degenerate case
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class ProxyContext:
    """Everything a proxy needs to evaluate one network."""

    build: Callable[..., torch.nn.Module]  # build(residual: bool = True) -> fresh nn.Module (CPU)
    resolution: int = 32
    batch_size: int = 64
    repeats: int = 1
    device: torch.device = torch.device("cpu")
    seed: int = 0
    num_classes: int = 10
    in_channels: int = 3
    flops: Optional[float] = None  # conv+linear MACs at `resolution`, when known
    params: Optional[int] = None  # exact parameter count, when known
    progress: Optional[Callable[[int], None]] = None  # proxies with repeats call it with each one done
    target: Any = None  # the zsnas.targets.Target scored, when known (structure-level proxies: depth)
    data: Optional[str] = None  # a data source (zsnas.data): batch() draws its images and labels, not noise
    memo: Dict[Any, Any] = field(default_factory=dict)  # work shared by the proxies of one request

    def shared(self, key: Any, compute: Callable[[], Any]) -> Any:
        """compute() once per request for every proxy asking under `key` (work several proxies
        read: one NTK, one pass of ReLU codes, ...); `key` names the work and what it depends on."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def generator(self, salt: int = 0) -> torch.Generator:
        """A generator on ctx.device seeded from (seed, salt): proxies never touch the global RNG."""
        g = torch.Generator(device=self.device)
        g.manual_seed((self.seed * 1_000_003 + salt) % (2**63))
        return g

    def randn(self, *shape, generator: Optional[torch.Generator] = None, dtype=torch.float32):
        g = generator if generator is not None else self.generator()
        return torch.randn(*shape, generator=g, device=self.device, dtype=dtype)


@dataclass(frozen=True)
class ProxySpec:
    name: str
    fn: Callable[[ProxyContext], "ProxyResult | float"]
    needs_residual: bool = True  # informational: which variant the proxy builds by default
    description: str = ""
    min_batch_size: int = 1  # proxies over sample pairs (kernels, correlations) are meaningless on one
    version: int = 1  # bumped when the proxy's values change: score caches key on it
    # the inputs a proxy takes whatever batch_size says ("3x1000" for TE-NAS's protocols, "none"
    # for the structural counts); "" when it takes batch_size. Reports show it in the batch column.
    fixed_batch: str = ""

    def check(self, batch_size: int) -> None:
        """ValueError when the proxy cannot mean anything at this batch size."""
        if int(batch_size) < self.min_batch_size:
            raise ValueError(f"proxy {self.name!r} needs batch_size >= {self.min_batch_size} (it compares samples "
                             f"with each other; on {batch_size} its value is a constant), got {batch_size}")


_REGISTRY: Dict[str, ProxySpec] = {}


def register_proxy(name: str, *, description: str = "", needs_residual: bool = True, min_batch_size: int = 1,
                   version: int = 1, fixed_batch: str = ""):
    """Decorator registering `fn(ctx) -> ProxyResult | float` under `name`. Bump `version` when
    a change of the code changes its values, so that score caches do not serve the old ones.
    `fixed_batch` names the inputs a proxy takes whatever the batch size ("none": no inputs)."""

    def deco(fn):
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"proxy {name!r} is already registered")
        _REGISTRY[name] = ProxySpec(name, fn, needs_residual, description or (fn.__doc__ or "").strip(),
                                    int(min_batch_size), int(version), str(fixed_batch))
        return fn

    return deco


def import_modules(specs: Sequence[str]) -> List[str]:
    """Import the user's proxy modules (a dotted module name, or a path to a .py file) so that
    their register_proxy decorators run; returns the specs as workers must import them (file
    paths made absolute). ValueError naming the module when one does not import."""
    done = []
    for spec in specs:
        spec = str(spec).strip()
        if not spec:
            continue
        try:
            if spec.endswith(".py") or os.sep in spec:
                path = os.path.abspath(spec)
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"no such file {path}")
                name = "zsnas_user_" + os.path.splitext(os.path.basename(path))[0]
                if name not in sys.modules:
                    loader_spec = importlib.util.spec_from_file_location(name, path)
                    module = importlib.util.module_from_spec(loader_spec)
                    sys.modules[name] = module
                    try:
                        loader_spec.loader.exec_module(module)
                    except BaseException:
                        del sys.modules[name]
                        raise
                spec = path
            else:
                importlib.import_module(spec)
        except Exception as e:  # noqa: BLE001 -- any failure of the user's module is named
            raise ValueError(f"cannot import proxy module {spec!r}: {type(e).__name__}: {e}") from e
        done.append(spec)
    return done


def get_proxy(name: str) -> ProxySpec:
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown proxy {name!r}; registered proxies: {known}")
    return _REGISTRY[name]


def available_proxies() -> list[str]:
    return sorted(_REGISTRY)


def run_proxy(name: str, ctx: ProxyContext) -> ProxyResult:
    """Run one registered proxy, timing it and normalising its return value."""
    import time

    spec = get_proxy(name)
    spec.check(ctx.batch_size)
    t0 = time.perf_counter()
    out = spec.fn(ctx)
    dt = time.perf_counter() - t0
    if not isinstance(out, ProxyResult):
        out = ProxyResult(name=name, value=float(out))
    out.name = name
    out.seconds = dt
    if isinstance(out.value, float) and math.isnan(out.value):
        raise FloatingPointError(f"proxy {name!r} produced NaN")
    return out
