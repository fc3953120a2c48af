"""Pareto fronts of several objectives (issue 13, item 3): the non-dominated set, its 2-D
hypervolume, objective lists ("zen,-flops": maximise zen, minimise FLOPs) and a front plot.

Every objective is turned to "higher is better" by its sign first. The 2-D front is the
O(n log n) sweep (sort by the first objective, keep a point when it beats the best second
objective seen); more objectives take the O(n²) pairwise test. Points with a missing value are
left out. Duplicated points are all kept (none dominates another).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np


def parse_objectives(text: str, minimum: int = 2) -> List[Tuple[str, float]]:
    """"zen,-flops" -> [("zen", 1.0), ("flops", -1.0)]; at least `minimum` of them (a front
    needs two; a rank-aggregated search takes one)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        sign = -1.0 if part.startswith("-") else 1.0
        name = part.lstrip("+-").strip()
        if not name:
            raise ValueError(f"objective {part!r} names nothing")
        out.append((name, sign))
    if len(out) < minimum:
        if minimum == 1:
            raise ValueError(f"no proxy named in {text!r}")
        raise ValueError(f"a Pareto front needs at least two objectives, got {text!r} (e.g. zen,-flops)")
    if len({n for n, _ in out}) != len(out):
        raise ValueError(f"objectives {text!r} name one twice")
    return out


def non_dominated(points) -> np.ndarray:
    """Indices (ascending) of the points [n, m] (higher is better in every column) that no other
    point dominates (>= everywhere, > somewhere)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError("non_dominated: points must be [n, objectives]")
    ok = np.flatnonzero(np.isfinite(p).all(1))
    if len(ok) == 0:
        return ok
    q = p[ok]
    if q.shape[1] == 2:
        order = np.lexsort((-q[:, 1], -q[:, 0]))  # first objective descending, ties: second descending
        keep: List[int] = []
        best = -np.inf
        for k in order:
            x, y = q[k]
            if y > best:
                keep.append(k)
                best = y
            elif keep and y == best and x == q[keep[-1], 0]:  # a duplicate of the last kept point
                keep.append(k)
        return np.sort(ok[np.array(keep, dtype=int)])
    dominated = np.zeros(len(q), dtype=bool)
    for i in range(len(q)):
        ge = (q >= q[i]).all(1) & (q > q[i]).any(1)
        dominated[i] = ge.any()
    return ok[~dominated]


def hypervolume_2d(points, reference) -> float:
    """Area dominated by the points (higher is better in both) and bounded below by `reference`
    (points not better than it in both objectives add nothing)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    r = np.asarray(reference, dtype=np.float64)
    p = p[np.isfinite(p).all(1) & (p[:, 0] > r[0]) & (p[:, 1] > r[1])]
    if len(p) == 0:
        return 0.0
    front = p[non_dominated(p)]
    front = front[np.argsort(-front[:, 0])]
    area, prev_y = 0.0, r[1]
    for x, y in front:
        if y > prev_y:
            area += (x - r[0]) * (y - prev_y)
            prev_y = y
    return float(area)


def oriented(columns: dict, objectives: Sequence[Tuple[str, float]]) -> np.ndarray:
    """[n, m] of the objectives' columns times their signs (None -> NaN)."""
    cols = []
    for name, sign in objectives:
        if name not in columns:
            raise ValueError(f"objective {name!r} is not a column here (have {', '.join(columns)})")
        cols.append([np.nan if v is None else sign * float(v) for v in columns[name]])
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)


def front_plot(path: str, points: np.ndarray, front: np.ndarray, objectives, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (nx, sx), (ny, sy) = objectives[:2]
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.scatter(sx * points[:, 0], sy * points[:, 1], s=4, c="0.7", label="candidates")
    f = points[front]
    f = f[np.argsort(f[:, 0])]
    ax.step(sx * f[:, 0], sy * f[:, 1], where="post", color="C3", lw=1)
    ax.scatter(sx * f[:, 0], sy * f[:, 1], s=12, c="C3", label=f"front ({len(f)})")
    ax.set_xlabel(nx)
    ax.set_ylabel(ny)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


__all__ = ["parse_objectives", "non_dominated", "hypervolume_2d", "oriented", "front_plot"]
