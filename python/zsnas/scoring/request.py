"""Score requests and score rows: plain data that crosses process and machine boundaries.

A request names a target (zsnas.targets.Target, picklable), the proxies to run and every
setting that changes their values; a row holds, per proxy, the value, sub-scores, degenerate
count, seconds, or the error it raised. Scorers (zsnas.scoring.backends) turn a batch of
requests into rows in request order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ..targets import Target


@dataclass(frozen=True)
class ScoreRequest:
    target: Target
    proxies: Tuple[str, ...]
    resolution: int
    num_classes: int
    batch_size: int
    repeats: int = 1
    seed: int = 0
    device: str = "cpu"
    flops: Optional[float] = None  # known counts (engine, table) spare the proxies a counting pass
    params: Optional[int] = None
    data: Optional[str] = None  # a data source path (zsnas.data) for the data-fed proxies; None: noise

    def with_proxies(self, proxies: Tuple[str, ...]) -> "ScoreRequest":
        from dataclasses import replace

        return replace(self, proxies=tuple(proxies))


@dataclass
class ScoreRow:
    values: Dict[str, float] = field(default_factory=dict)
    sub_scores: Dict[str, Dict[str, float]] = field(default_factory=dict)
    degenerate: Dict[str, int] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str:
        """The first proxy's error ("" when every proxy succeeded)."""
        return next(iter(self.errors.values()), "")

    def merge(self, other: "ScoreRow") -> "ScoreRow":
        for k in ("values", "sub_scores", "degenerate", "seconds", "errors"):
            getattr(self, k).update(getattr(other, k))
        return self


__all__ = ["ScoreRequest", "ScoreRow"]
