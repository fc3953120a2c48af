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

import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .. import defaults
from ..data import resolve as resolve_data
from ..errors import ProxyFailed
from ..proxies.registry import ProxyResult, get_proxy
from .report import ScoreReport
from .request import ScoreRequest, ScoreRow

_AZ_FAMILY = ("az", "az_expressivity", "az_progressivity", "az_trainability", "az_complexity")


def _settings(name: str, batch_size: Optional[int], repeats: Optional[int]) -> Tuple[int, int]:
    from ..proxies.classic import CLASSIC_PROXIES

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
    backend: str = "local",
    ray_address: Optional[str] = None,
    data: Optional[str] = None,
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
        backend: "local" (this process), "pool" or "ray" (a worker or an actor on the cluster
            at ``ray_address``, e.g. one with the GPU): the same runner, the same values.
        data: a CIFAR-10/100 python folder or an .npz (zsnas.data): the data-fed proxies draw
            their batches from it instead of Gaussian noise and random labels.

    Raises ProxyFailed (naming the proxy and the network) when a proxy raises.
    """
    from ..devices import resolve_device
    from ..progress import progress_bar
    from ..proxies.registry import available_proxies
    from ..targets import resolve_target
    from .runner import check_request_proxies, run_request

    names = [p.strip() for p in proxies.split(",")] if isinstance(proxies, str) else list(proxies)
    names = [n for n in names if n]
    if not names:
        from .. import proxies as _builtin  # noqa: F401

        raise ValueError(f"score: no proxies given; registered proxies: {', '.join(available_proxies())}")
    for label, v in (("resolution", resolution), ("batch_size", batch_size), ("repeats", repeats),
                     ("num_classes", num_classes)):
        if v is not None and int(v) < 1:
            raise ValueError(f"score: {label} must be >= 1, got {v}")
    plan = {n: _settings(n, batch_size, repeats) for n in names}
    for n, (bs, _) in plan.items():
        check_request_proxies([n], bs)  # unknown names raise, listing the registered proxies
    device = resolve_device(device)
    data = resolve_data(data)

    t0 = time.perf_counter()
    target = resolve_target(x)
    res = int(resolution) if resolution is not None else target.resolution
    nc = int(num_classes) if num_classes is not None else target.num_classes
    flops = target.flops(res, nc) if target.kind == "arch" else None  # raises when a stride does not fit
    params = target.params(nc) if target.kind == "arch" else None
    report = ScoreReport(target=target.name, resolution=res, device=device, seed=int(seed), notes=list(target.notes))
    if data is not None:
        report.notes.append(f"the data-fed proxies drew their batches from {data}")

    # One request per (batch, repeats): proxies sharing a setting share a family pass (AZ-NAS).
    groups: Dict[Tuple[int, int], List[str]] = {}
    for n in names:
        groups.setdefault(plan[n], []).append(n)
    # One unit per Zen-score repeat (it reports them), one per other proxy.
    total = sum(reps if n == "zen" else 1 for n, (_, reps) in plan.items())
    bar = progress_bar(total, "scoring", unit="step", enabled=progress)
    requests = [ScoreRequest(target=target, proxies=tuple(members), resolution=res, num_classes=nc, batch_size=bs,
                             repeats=reps, seed=int(seed), device=device, flops=flops, params=params, data=data)
                for (bs, reps), members in groups.items()]
    row = ScoreRow()
    if backend != "local":
        from .backends import get_scorer

        with get_scorer(backend, address=ray_address) as scorer:
            for r in scorer.score(requests):
                row.merge(r)
    else:
        try:
            for req in requests:
                bar.set_postfix_str(",".join(req.proxies), refresh=False)
                row.merge(run_request(req, progress=bar.update))
                bar.update(sum(1 for m in req.proxies if m != "zen"))
        finally:
            bar.close()
    for name in names:
        if name in row.errors:
            raise ProxyFailed(f"proxy {name!r} failed on {target.name} at resolution {res}, batch "
                              f"{plan[name][0]}: {row.errors[name]}")
        report.results[name] = ProxyResult(name=name, value=row.values[name], sub_scores=row.sub_scores[name],
                                           degenerate=row.degenerate[name], seconds=row.seconds[name])
        report.settings[name] = {"batch_size": get_proxy(name).fixed_batch or plan[name][0], "repeats": plan[name][1]}
    if sum(n in _AZ_FAMILY for n in names) > 1:
        report.notes.append("the az* proxies shared one AZ-NAS pass (their seconds are that pass's)")
    if any(n in _AZ_FAMILY for n in names):
        report.notes.append("a single network has no AZ-NAS score: it exists over a set of candidates "
                            "(zsnas.proxies.rank.az_nas_scores); 'az' reports expressivity as its value")
    report.seconds = time.perf_counter() - t0
    return report


__all__ = ["score", "ScoreReport", "ScoreRequest", "ScoreRow", "ProxyFailed"]
