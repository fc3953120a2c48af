"""ScoreReport: every proxy's result for one network (zsnas.score), as a table or JSON."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..proxies.registry import ProxyResult


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
    # proxy -> batch_size (the proxy's fixed_batch where it ignores the batch size), repeats
    settings: Dict[str, Dict[str, object]] = field(default_factory=dict)
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
        head = f"{'proxy':18s} {'value':>14s} {'batch':>6s} {'reps':>4s} {'degen':>5s} {'seconds':>8s}  sub-scores"
        lines += [head, "-" * len(head)]
        for name, r in self.results.items():
            s = self.settings.get(name, {})
            subs = ", ".join(f"{k}={v:.6g}" for k, v in r.sub_scores.items() if not k.startswith("repeat_"))
            lines.append(f"{name:18s} {r.value:14.6g} {s.get('batch_size', ''):>6} {s.get('repeats', ''):>4} "
                         f"{r.degenerate:5d} {r.seconds:8.3f}  {subs}")
        lines.append(f"total {self.seconds:.3f} s")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


__all__ = ["ScoreReport"]
