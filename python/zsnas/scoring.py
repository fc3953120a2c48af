"""zsnas.score(): evaluate registered zero-cost proxies on one network, as a ScoreReport.

    report = zsnas.score("SuperConvK3BNRELU(3,24,2,1)...", proxies=["zen", "az"], resolution=224)
    print(report)            # a table
    report.to_json()         # machine-readable

The target is a ZenNAS structure string or Arch (built with zsnas.nn.build_model), a named
model ("resnet50", or an NB201 arch string "|op~0|+...") or any nn.Module following the zsnas
model contract. Each proxy builds its own fresh network from the context (Zen-score without
residual links); a plain nn.Module cannot be rebuilt without them, so it is deep-copied and
used as it is, and the report says so.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from .proxies.classic import CLASSIC_PROXIES
from .proxies.registry import ProxyContext, ProxyResult, available_proxies, get_proxy, run_proxy

# Per-proxy defaults when the caller gives none (REFERENCE.md §3: stand-alone Zen-score is the
# authors' CLI setting B=16, 32 repeats; AZ-NAS and the classic proxies use one batch of 64).
DEFAULT_BATCH = {"zen": 16}
DEFAULT_REPEATS = {"zen": 32}
FALLBACK_BATCH = 64

_AZ_FAMILY = ("az", "az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
_BUILTIN_PROXY_MODULES = ("zsnas.proxies.zen", "zsnas.proxies.az", "zsnas.proxies.classic")


def _load_builtin_proxies() -> None:
    """Import the proxy modules so their register_proxy decorators have run."""
    for mod in _BUILTIN_PROXY_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError as e:  # a module not written/built yet must not hide the others
            if mod.rsplit(".", 1)[-1] not in str(e):
                raise


def _finite_or_str(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _finite_or_str(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite_or_str(x) for x in v]
    return v


@dataclass
class ScoreReport:
    """Every proxy's ProxyResult for one network, with the settings each ran under."""

    target: str
    resolution: int
    device: str
    seed: int
    results: Dict[str, ProxyResult] = field(default_factory=dict)
    settings: Dict[str, Dict[str, int]] = field(default_factory=dict)  # proxy -> batch_size, repeats
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> ProxyResult:
        return self.results[name]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["results"] = {k: r.to_dict() for k, r in self.results.items()}
        return d

    def to_json(self, indent: Optional[int] = 2) -> str:
        """Strict JSON: non-finite numbers (a -inf trainability, say) become "-inf"/"inf" strings."""
        return json.dumps(_finite_or_str(self.to_dict()), indent=indent, allow_nan=False)

    def __str__(self) -> str:
        lines = [f"zsnas score  {self.target}", f"resolution {self.resolution}, device {self.device}, seed {self.seed}"]
        head = f"{'proxy':18s} {'value':>14s} {'batch':>5s} {'reps':>4s} {'degen':>5s} {'seconds':>8s}  sub-scores"
        lines += [head, "-" * len(head)]
        for name, r in self.results.items():
            s = self.settings.get(name, {})
            subs = ", ".join(f"{k}={v:.6g}" for k, v in r.sub_scores.items() if not k.startswith("repeat_"))
            lines.append(f"{name:18s} {r.value:14.6g} {s.get('batch_size', ''):>5} {s.get('repeats', ''):>4} "
                         f"{r.degenerate:5d} {r.seconds:8.3f}  {subs}")
        lines.append(f"total {self.seconds:.3f} s")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _resolve_target(x, num_classes: Optional[int]):
    """(builder(residual) -> nn.Module, description, default resolution, flops(res) or None, params or None, notes)."""
    notes: List[str] = []
    if isinstance(x, nn.Module):
        module = x

        def build(residual: bool = True) -> nn.Module:
            try:
                return copy.deepcopy(module)
            except Exception as e:
                raise ValueError(f"score: cannot deep-copy the given {type(module).__name__} ({e})") from e

        notes.append("the target is an nn.Module: it cannot be rebuilt without residual links, so every "
                     "proxy (Zen-score included) ran on a deep copy of it as given")
        return build, type(module).__name__, 224, None, None, notes

    from .nn.named import NAMED_MODELS, named_model  # torch-side; imported lazily

    if isinstance(x, str) and (x.strip().startswith("|") or x.strip().lower() in NAMED_MODELS):
        name = x.strip()
        default_res = 32 if name.startswith("|") else 224

        def build(residual: bool = True) -> nn.Module:
            return named_model(name, num_classes=num_classes, residual=residual)

        return build, name, default_res, None, None, notes

    from .arch import Arch
    from .nn import build_model

    try:
        arch = Arch(x)
    except Exception as e:
        raise ValueError(
            f"score: {x!r} is not a structure string, a named model ({', '.join(NAMED_MODELS)}, NB201 '|op~0|+...') "
            f"or an nn.Module: {e}"
        ) from e
    nc = 1000 if num_classes is None else int(num_classes)

    def build(residual: bool = True) -> nn.Module:
        return build_model(arch, residual=residual, num_classes=nc)

    def flops(resolution: int) -> float:
        return float(arch.flops(resolution=resolution, num_classes=nc))

    return build, str(arch), 224, flops, int(arch.params(num_classes=nc)), notes


def score(
    x: Union[str, "object", nn.Module],
    proxies: Union[str, Sequence[str]] = ("zen",),
    resolution: Optional[int] = None,
    batch_size: Optional[int] = None,
    repeats: Optional[int] = None,
    device: Union[str, torch.device] = "cpu",
    seed: int = 0,
    num_classes: Optional[int] = None,
) -> ScoreReport:
    """Run ``proxies`` on network ``x`` and return a ScoreReport.

    Args:
        x: structure string or Arch, a named model ("resnet18".."resnet152", an NB201 arch
            string), or an nn.Module with the zsnas contract.
        proxies: registered proxy names (``zsnas.proxies.available_proxies()``).
        resolution: input size; default 32 for NB201 cells, else 224.
        batch_size, repeats: override every proxy's default (Zen-score: 16 and 32; others 64, 1;
            the AZ-NAS proxies are one pass and ignore ``repeats``).
        device: "cpu", "cuda", "cuda:1", ...
        seed: every proxy draws from generators seeded with it.
        num_classes: classifier width (default 1000; NB201: 10).
    """
    _load_builtin_proxies()
    names = [proxies] if isinstance(proxies, str) else list(proxies)
    if not names:
        raise ValueError(f"score: no proxies given; registered proxies: {', '.join(available_proxies())}")
    for n in names:
        get_proxy(n)  # raises ValueError listing the registered proxies
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("score: device 'cuda' requested but torch sees no CUDA device")
    for label, v in (("resolution", resolution), ("batch_size", batch_size), ("repeats", repeats)):
        if v is not None and int(v) < 1:
            raise ValueError(f"score: {label} must be >= 1, got {v}")

    t0 = time.perf_counter()
    build, desc, default_res, flops_fn, params, notes = _resolve_target(x, num_classes)
    res = int(resolution) if resolution is not None else default_res
    flops = flops_fn(res) if flops_fn is not None else None
    nc = num_classes if num_classes is not None else (10 if desc.startswith("|") else 1000)
    report = ScoreReport(target=desc, resolution=res, device=str(device), seed=int(seed), notes=notes)

    shared: Dict[tuple, ProxyResult] = {}  # one AZ pass serves every az_* proxy with the same settings
    for name in names:
        bs = int(batch_size) if batch_size is not None else DEFAULT_BATCH.get(name, FALLBACK_BATCH)
        reps = int(repeats) if repeats is not None else DEFAULT_REPEATS.get(name, 1)
        if name in _AZ_FAMILY or name in CLASSIC_PROXIES:
            reps = 1  # one pass (AZ-NAS, the classic proxies): these methods have no repeats
        ctx = ProxyContext(build=build, resolution=res, batch_size=bs, repeats=reps, device=device,
                           seed=int(seed), num_classes=int(nc), flops=flops, params=params)
        if name in _AZ_FAMILY:
            key = (bs, reps)
            if key not in shared:
                shared[key] = run_proxy("az", ctx)
            base = shared[key]
            value = base.value if name == "az" else base.sub_scores[name[len("az_"):]]
            result = dataclasses.replace(base, name=name, value=value, sub_scores=dict(base.sub_scores))
        else:
            result = run_proxy(name, ctx)
        report.results[name] = result
        report.settings[name] = {"batch_size": bs, "repeats": reps}
    if sum(n in _AZ_FAMILY for n in names) > 1:
        report.notes.append("the az* proxies shared one AZ-NAS pass (their seconds are that pass's)")
    if any(n in _AZ_FAMILY for n in names):
        report.notes.append("a single network has no AZ-NAS score: it exists over a set of candidates "
                            "(zsnas.proxies.rank.az_nas_scores); 'az' reports expressivity as its value")
    report.seconds = time.perf_counter() - t0
    return report
