"""zsnas.score(): evaluate registered zero-cost proxies on one network, as a ScoreReport.

    report = zsnas.score("SuperConvK3BNRELU(3,24,2,1)...", proxies=["zen", "az"], resolution=224)
    print(report)            # a table
    report.to_json()         # machine-readable

The target is anything zsnas.targets.resolve_target accepts: a structure string or Arch, a zoo
name, a ResNet name, an NB201 cell string, a run's best.json, or an nn.Module following the
zsnas model contract. Unless given, resolution and classes are the target's own (zoo entries
and search results carry theirs; NB201 cells 32 px / 10 classes; else 224 / 1000). Each proxy
builds its own fresh network (Zen-score without residual links); a plain nn.Module cannot be
rebuilt without them, so it is deep-copied and used as it is, and the report says so.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from . import defaults
from .proxies.classic import CLASSIC_PROXIES
from .proxies.registry import ProxyContext, ProxyFailed, ProxyResult, available_proxies, get_proxy, run_proxy

_AZ_FAMILY = ("az", "az_expressivity", "az_progressivity", "az_trainability", "az_complexity")


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


def _settings(name: str, batch_size: Optional[int], repeats: Optional[int]) -> "tuple[int, int]":
    bs = int(batch_size) if batch_size is not None else defaults.SCORE_BATCH.get(name, defaults.SCORE_FALLBACK_BATCH)
    reps = int(repeats) if repeats is not None else defaults.SCORE_REPEATS.get(name, 1)
    if name in _AZ_FAMILY or name in CLASSIC_PROXIES:
        reps = 1  # one pass (AZ-NAS, the classic proxies): these methods have no repeats
    return bs, reps


def score(
    x: Union[str, "object", nn.Module],
    proxies: Union[str, Sequence[str]] = defaults.SCORE_PROXIES,
    resolution: Optional[int] = None,
    batch_size: Optional[int] = None,
    repeats: Optional[int] = None,
    device: Union[str, torch.device, None] = defaults.DEVICE,
    seed: int = defaults.SEED,
    num_classes: Optional[int] = None,
    progress: bool = False,
) -> ScoreReport:
    """Run ``proxies`` on network ``x`` and return a ScoreReport.

    Args:
        x: structure string or Arch, a zoo name, "resnet18".."resnet152", an NB201 cell string,
            a run's best.json, or an nn.Module with the zsnas contract.
        proxies: registered proxy names (``zsnas.proxies.available_proxies()``).
        resolution, num_classes: default: the target's own (zsnas.defaults).
        batch_size, repeats: override every proxy's default (Zen-score: 16 and 32; others 64, 1;
            the AZ-NAS proxies are one pass and ignore ``repeats``).
        device: "auto" (cuda when available), "cpu", "cuda", "cuda:1", ...
        seed: every proxy draws from generators seeded with it.
        progress: show a progress display (a bar on a terminal, plain lines otherwise).
    """
    from . import proxies as _builtin  # noqa: F401  (importing registers the built-in proxies)
    from .devices import resolve_device
    from .progress import progress_bar
    from .targets import resolve_target

    names = [p.strip() for p in proxies.split(",")] if isinstance(proxies, str) else list(proxies)
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"score: no proxies given; registered proxies: {', '.join(available_proxies())}")
    for label, v in (("resolution", resolution), ("batch_size", batch_size), ("repeats", repeats),
                     ("num_classes", num_classes)):
        if v is not None and int(v) < 1:
            raise ValueError(f"score: {label} must be >= 1, got {v}")
    plan = {n: _settings(n, batch_size, repeats) for n in names}
    for n, (bs, _) in plan.items():
        get_proxy(n).check(bs)  # unknown names raise, listing the registered proxies
    device = torch.device(resolve_device(device))

    t0 = time.perf_counter()
    target = resolve_target(x)
    res = int(resolution) if resolution is not None else target.resolution
    nc = int(num_classes) if num_classes is not None else target.num_classes
    flops = target.flops(res, nc) if target.kind == "arch" else None  # raises when a stride does not fit
    params = target.params(nc) if target.kind == "arch" else None
    report = ScoreReport(target=target.name, resolution=res, device=str(device), seed=int(seed),
                         notes=list(target.notes))

    def build(residual: bool = True) -> nn.Module:
        return target.build(residual=residual, num_classes=nc)

    # One unit per repeat for proxies that report them (Zen-score), one per other proxy.
    total = sum(reps if n == "zen" else 1 for n, (_, reps) in plan.items())
    bar = progress_bar(total, "scoring", unit="step", enabled=progress)
    shared: Dict[tuple, ProxyResult] = {}  # one AZ pass serves every az_* proxy with the same settings
    try:
        for name in names:
            bs, reps = plan[name]
            ctx = ProxyContext(build=build, resolution=res, batch_size=bs, repeats=reps, device=device,
                               seed=int(seed), num_classes=nc, flops=flops, params=params,
                               progress=bar.update if name == "zen" else None)
            bar.set_postfix_str(name, refresh=False)
            try:
                if name in _AZ_FAMILY:
                    key = (bs, reps)
                    if key not in shared:
                        shared[key] = run_proxy("az", ctx)
                    base = shared[key]
                    value = base.value if name == "az" else base.sub_scores[name[len("az_"):]]
                    result = dataclasses.replace(base, name=name, value=value, sub_scores=dict(base.sub_scores))
                else:
                    result = run_proxy(name, ctx)
            except (KeyboardInterrupt, MemoryError):
                raise
            except Exception as e:  # noqa: BLE001 -- named with the proxy and the network
                raise ProxyFailed(f"proxy {name!r} failed on {target.name} at resolution {res}, batch {bs}: "
                                  f"{type(e).__name__}: {e}") from e
            if name != "zen":
                bar.update(1)
            report.results[name] = result
            report.settings[name] = {"batch_size": bs, "repeats": reps}
    finally:
        bar.close()
    if sum(n in _AZ_FAMILY for n in names) > 1:
        report.notes.append("the az* proxies shared one AZ-NAS pass (their seconds are that pass's)")
    if any(n in _AZ_FAMILY for n in names):
        report.notes.append("a single network has no AZ-NAS score: it exists over a set of candidates "
                            "(zsnas.proxies.rank.az_nas_scores); 'az' reports expressivity as its value")
    report.seconds = time.perf_counter() - t0
    return report
