"""Non-linear rank aggregation (AZ-NAS; REFERENCE.md §5).

    score_i = sum_M ln(rank_M(i) / m)

ranks ascending over the m candidates (the largest value gets rank m, so its term is 0),
ties get their average rank (scipy.stats.rankdata(method="average")), every proxy oriented
higher-is-better. The log makes a candidate that is poor on *any* proxy score badly.

-inf is an ordinary value here: it ranks lowest (below every finite value; several -inf
tie). NaN has no rank: it raises ValueError naming the proxy and the candidate index.
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Sequence, Union

import numpy as np
from scipy.stats import rankdata

AZ_NAS_PROXIES = ("expressivity", "progressivity", "trainability", "complexity")

Table = Union[Mapping[str, Sequence[float]], np.ndarray, Sequence[Sequence[float]]]


def _columns(table: Table) -> Dict[str, np.ndarray]:
    """name -> float64 values; a 2-D array is [m candidates, k proxies] (columns "0", "1", ...)."""
    if isinstance(table, Mapping):
        cols = {str(k): np.asarray(v, dtype=np.float64) for k, v in table.items()}
    else:
        arr = np.asarray(table, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"rank_aggregate: a table must be 2-D [candidates, proxies], got shape {arr.shape}")
        cols = {str(j): arr[:, j] for j in range(arr.shape[1])}
    if not cols:
        raise ValueError("rank_aggregate: no proxies given")
    sizes = {k: v.shape for k, v in cols.items()}
    for k, v in cols.items():
        if v.ndim != 1:
            raise ValueError(f"rank_aggregate: proxy {k!r} must be 1-D, got shape {v.shape}")
    if len({s[0] for s in sizes.values()}) != 1:
        raise ValueError(f"rank_aggregate: proxies have different numbers of candidates: {sizes}")
    return cols


def rank_aggregate(table: Table, higher_is_better: Union[bool, Mapping[str, bool], Sequence[bool]] = True) -> np.ndarray:
    """Aggregated score of each of m candidates (float64 [m]; higher is better, max 0).

    Args:
        table: ``{proxy name: values over the m candidates}`` or a 2-D array
            ``[m candidates, k proxies]``.
        higher_is_better: one flag for all proxies, or one per proxy (a mapping by name, or a
            sequence in column order); a False proxy is negated before ranking.
    """
    cols = _columns(table)
    names = list(cols)
    if isinstance(higher_is_better, Mapping):
        unknown = set(higher_is_better) - set(names)
        if unknown:
            raise ValueError(f"rank_aggregate: higher_is_better names unknown proxies {sorted(unknown)}")
        flags = [bool(higher_is_better.get(n, True)) for n in names]
    elif isinstance(higher_is_better, (bool, np.bool_)):
        flags = [bool(higher_is_better)] * len(names)
    else:
        flags = [bool(f) for f in higher_is_better]
        if len(flags) != len(names):
            raise ValueError(f"rank_aggregate: {len(flags)} higher_is_better flags for {len(names)} proxies")
    m = len(next(iter(cols.values())))
    total = np.zeros(m, dtype=np.float64)
    if m == 0:
        return total
    for name, up in zip(names, flags):
        v = cols[name]
        nan = np.flatnonzero(np.isnan(v))
        if nan.size:
            raise ValueError(f"rank_aggregate: proxy {name!r} is NaN at candidate index {int(nan[0])}")
        ranks = rankdata(v if up else -v, method="average")
        total += np.log(ranks / m)
    return total


def _az_table(results: Union[Iterable, Mapping[str, Sequence[float]]]) -> Dict[str, np.ndarray]:
    if isinstance(results, Mapping):
        missing = [k for k in AZ_NAS_PROXIES if k not in results]
        if missing:
            raise ValueError(f"az_nas_scores: missing {missing}; need {list(AZ_NAS_PROXIES)}")
        return {k: np.asarray(results[k], dtype=np.float64) for k in AZ_NAS_PROXIES}
    cols: Dict[str, list] = {k: [] for k in AZ_NAS_PROXIES}
    for i, r in enumerate(results):
        src = getattr(r, "sub_scores", r)  # a ProxyResult of "az", or an az_scores() dict
        if not isinstance(src, Mapping):
            raise ValueError(f"az_nas_scores: candidate {i} is a {type(r).__name__}, not a ProxyResult or dict")
        for k in AZ_NAS_PROXIES:
            if k not in src:
                raise ValueError(f"az_nas_scores: candidate {i} has no {k!r} (run the 'az' proxy)")
            cols[k].append(float(src[k]))
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def az_nas_scores(results: Union[Iterable, Mapping[str, Sequence[float]]]) -> np.ndarray:
    """AZ-NAS score of each candidate: rank aggregation over expressivity, progressivity,
    trainability and complexity (FLOPs; more is better under the budget, as in AZ-NAS).

    ``results``: a list of "az" ProxyResults (or az_scores() dicts), one per candidate, or a
    mapping of those four names to arrays.
    """
    return rank_aggregate(_az_table(results), higher_is_better=True)
