"""The analyses NAS researchers run on a table of proxy scores and trained accuracies, all from
scores already computed (``zsnas bench --report RUN`` reads a bench run directory):

* :func:`pearson` -- Pearson r;
* :func:`top_sweep` -- Kendall τ and Spearman ρ over the top x % by accuracy, for a sweep of x
  (the zero-shot NAS survey's Figures 13-14), :func:`sweep_plot`;
* :func:`br_at_k`, :func:`p_at_k` -- NAS-Bench-Zero §3.4's best rank among the proxy's top k and
  the share of the proxy's top k in the true top k;
* :func:`mbr_at_budgets` -- mBR (zsnas.evaluate.mean_best_rank) at budgets of any cost column
  (FLOPs, params, depth);
* :func:`kendall_matrix` -- the inter-proxy Kendall τ matrix (AZ-NAS Fig. 6), :func:`matrix_plot`;
* :func:`sample_and_pick` -- draw N architectures R times, pick the best by each proxy: mean ± std
  accuracy of the picks, and of the oracle (AZ-NAS's NB201 protocol; N = all is the survey's
  best-by-proxy Table 4);
* :func:`hybrid_search` -- every subset of a proxy list, rank-aggregated, ranked by τ or mBR
  (NAS-Bench-Zero §4.6).

Scores are higher-is-better; a missing score or accuracy (None/NaN) leaves that architecture out
of the analysis that needs it. Ranks: 0 = the most accurate.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import stats

SWEEP = (0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.50, 0.70, 1.00)
MIN_SWEEP_NETWORKS = 10  # a correlation over fewer is not reported (as evaluate's top-x τ)


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _paired(scores, accuracies):
    s, a = _arr(scores), _arr(accuracies)
    if len(s) != len(a):
        raise ValueError(f"{len(s)} scores but {len(a)} accuracies")
    keep = ~(np.isnan(s) | np.isnan(a))
    return s[keep], a[keep]


def _clean(x) -> Optional[float]:
    return None if x is None or math.isnan(float(x)) else float(x)


def pearson(scores, accuracies) -> Optional[float]:
    """Pearson r; None when it has no value: fewer than 2 pairs, a constant column, or an infinite
    score (az_trainability's −inf, a degenerate zen; the rank measures order those)."""
    s, a = _paired(scores, accuracies)
    if len(s) < 2 or np.ptp(s) == 0 or np.ptp(a) == 0 or not np.isfinite(s).all():
        return None
    return _clean(stats.pearsonr(s, a).statistic)


def top_sweep(scores, accuracies, fractions: Sequence[float] = SWEEP) -> List[dict]:
    """τ and ρ over the ceil(x·n) most accurate (ties in accuracy broken by order) for each x."""
    s, a = _paired(scores, accuracies)
    order = np.argsort(-a, kind="stable")
    out = []
    for x in fractions:
        top = order[: int(math.ceil(x * len(s)))]
        ok = len(top) >= MIN_SWEEP_NETWORKS
        with warnings.catch_warnings():  # a top slice of equal scores has no correlation: None, said so
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            out.append({"fraction": float(x), "n": int(len(top)),
                        "kendall": _clean(stats.kendalltau(s[top], a[top]).statistic) if ok else None,
                        "spearman": _clean(stats.spearmanr(s[top], a[top]).statistic) if ok else None})
    return out


def _true_ranks(a: np.ndarray) -> np.ndarray:
    """Rank of each architecture: how many are strictly more accurate (0 = best)."""
    return np.array([(a > v).sum() for v in a])


def _proxy_top(s: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-s, kind="stable")[:k]


def br_at_k(scores, accuracies, k: int) -> Optional[float]:
    """Best true rank among the proxy's top k, as a fraction of n (0 = it holds the best)."""
    s, a = _paired(scores, accuracies)
    if not 1 <= k <= len(s):
        return None
    return float(_true_ranks(a)[_proxy_top(s, k)].min()) / len(s)


def p_at_k(scores, accuracies, k: int) -> Optional[float]:
    """Share of the proxy's top k that are in the true top k (ties in accuracy broken by order)."""
    s, a = _paired(scores, accuracies)
    if not 1 <= k <= len(s):
        return None
    true_top = set(np.argsort(-a, kind="stable")[:k].tolist())
    return len(true_top & set(_proxy_top(s, k).tolist())) / k


def mbr_at_budgets(scores, accuracies, cost, budgets: Optional[Sequence[float]] = None) -> Optional[float]:
    """mBR at budgets of `cost` (default: 10 quantiles of it)."""
    from .evaluate import mean_best_rank

    return mean_best_rank(scores, accuracies, cost, budgets)


def kendall_matrix(columns: Dict[str, Sequence[float]]) -> Dict[str, Dict[str, Optional[float]]]:
    """τ between every two proxies, over the architectures both scored."""
    names = list(columns)
    out: Dict[str, Dict[str, Optional[float]]] = {n: {} for n in names}
    for i, p in enumerate(names):
        for q in names[i:]:
            x, y = _paired(columns[p], columns[q])
            t = _clean(stats.kendalltau(x, y).statistic) if len(x) >= 2 else None
            out[p][q] = out[q][p] = t
    return out


def sample_and_pick(columns: Dict[str, Sequence[float]], accuracies, n: Optional[int], repeats: int = 100,
                    seed: int = 0) -> Dict[str, dict]:
    """R draws of `n` architectures (without replacement; None = all, one draw): the accuracy of
    each proxy's pick (its highest score; ties: the mean accuracy of the tied), mean ± std over
    draws, and the oracle's (the best accuracy in each draw). Architectures missing an accuracy,
    or a score of any proxy, are left out so that every proxy picks from the same draws."""
    a = _arr(accuracies)
    keep = ~np.isnan(a)
    cols = {k: _arr(v) for k, v in columns.items()}
    for v in cols.values():
        keep &= ~np.isnan(v)
    idx = np.flatnonzero(keep)
    if n is None or n >= len(idx):
        n, repeats = len(idx), 1
    if n < 1:
        raise ValueError("sample_and_pick: no architecture has an accuracy and every score")
    rng = np.random.default_rng(seed)
    picks: Dict[str, List[float]] = {k: [] for k in list(cols) + ["oracle"]}
    for _ in range(repeats):
        draw = idx if n == len(idx) else rng.choice(idx, size=n, replace=False)
        picks["oracle"].append(float(a[draw].max()))
        for k, v in cols.items():
            best = v[draw].max()
            picks[k].append(float(a[draw][v[draw] == best].mean()))
    return {k: {"mean": float(np.mean(p)), "std": float(np.std(p)), "n": int(n), "repeats": int(repeats)}
            for k, p in picks.items()}


def hybrid_search(columns: Dict[str, Sequence[float]], accuracies, cost=None, by: str = "kendall",
                  budgets: Optional[Sequence[float]] = None, max_size: Optional[int] = None) -> List[dict]:
    """Every non-empty subset of the proxies, rank-aggregated (AZ-NAS's non-linear rank
    aggregation; a subset of one is the proxy itself), with its τ, ρ and mBR (at budgets of
    `cost` when given), sorted best first by `by` ("kendall" or "mbr")."""
    from .evaluate import rank_aggregate_columns

    if by not in ("kendall", "mbr"):
        raise ValueError(f"hybrid_search ranks by 'kendall' or 'mbr', not {by!r}")
    if by == "mbr" and cost is None:
        raise ValueError("hybrid_search by mBR needs a cost column")
    names = list(columns)
    a = _arr(accuracies)
    cols = {k: _arr(v) for k, v in columns.items()}
    keep = ~np.isnan(a)
    for v in cols.values():
        keep &= ~np.isnan(v)
    c = None if cost is None else _arr(cost)[keep]
    rows = []
    for size in range(1, (max_size or len(names)) + 1):
        for subset in itertools.combinations(names, size):
            s = cols[subset[0]][keep] if size == 1 else rank_aggregate_columns([cols[m][keep] for m in subset])
            row = {"proxies": list(subset), "kendall": _clean(stats.kendalltau(s, a[keep]).statistic),
                   "spearman": _clean(stats.spearmanr(s, a[keep]).statistic)}
            row["mbr"] = None if c is None else mbr_at_budgets(s, a[keep], c, budgets)
            rows.append(row)
    if by == "kendall":
        rows.sort(key=lambda r: -(r["kendall"] if r["kendall"] is not None else -2))
    else:
        rows.sort(key=lambda r: r["mbr"] if r["mbr"] is not None else math.inf)
    return rows


def sweep_plot(path: str, sweeps: Dict[str, List[dict]], key: str = "kendall") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    drawn = 0
    for name, sweep in sweeps.items():
        pts = [(p["fraction"] * 100, p[key]) for p in sweep if p[key] is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=name)
            drawn += 1
    ax.set_xscale("log")
    ax.set_xlabel("top x % by accuracy")
    ax.set_ylabel("Kendall τ" if key == "kendall" else "Spearman ρ")
    ax.axhline(0, color="k", lw=0.5)
    if drawn:  # too few architectures for any point: an empty plot, without a legend
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def matrix_plot(path: str, matrix: Dict[str, Dict[str, Optional[float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(matrix)
    m = np.array([[np.nan if matrix[p][q] is None else matrix[p][q] for q in names] for p in names])
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(names), 0.8 + 0.45 * len(names)), dpi=100)
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    for i in range(len(names)):
        for j in range(len(names)):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=5)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def read_run_table(run_dir: str):
    """(accuracies, {proxy: scores}) from a bench run's table.csv (what `zsnas bench` wrote). A run
    that did not get to its end (no table.csv, or scores.jsonl newer) is summarised first over
    the architectures it finished."""
    import csv
    import os

    from .evaluate import summarise_if_stale

    summarise_if_stale(str(run_dir))
    path = os.path.join(str(run_dir), "table.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path} holds no rows")
    names = [c for c in rows[0] if c not in ("key", "arch", "accuracy")]

    def num(v):
        return None if v in ("", None) else float(v)

    return [num(r["accuracy"]) for r in rows], {n: [num(r[n]) for r in rows] for n in names}


COSTS = ("flops", "params", "depth")


def report(run_dir: str, ks: Sequence[int] = (1, 10, 50), sample: Optional[int] = 100, repeats: int = 100,
           hybrid: Optional[Sequence[str]] = None, hybrid_by: str = "kendall", seed: int = 0,
           plots: bool = True, out_dir: Optional[str] = None) -> dict:
    """Every analysis over a bench run's scores (no re-scoring); writes analyses.json and the
    sweep and τ-matrix plots into `out_dir` (default: the run directory, which otherwise only
    gets the summary of a stopped run). mBR is reported at budgets of each cost column the run has (flops, params,
    depth: scored as proxies)."""
    import json
    import os

    from .rundir import write_atomic

    acc, cols = read_run_table(run_dir)
    out: dict = {"n": len(acc), "proxies": {}}
    costs = {c: cols[c] for c in COSTS if c in cols}
    for name, s in cols.items():
        e = {"pearson": pearson(s, acc), "sweep": top_sweep(s, acc)}
        for k in ks:
            e[f"br@{k}"], e[f"p@{k}"] = br_at_k(s, acc, k), p_at_k(s, acc, k)
        for c, v in costs.items():
            e[f"mbr_{c}"] = mbr_at_budgets(s, acc, v)
        out["proxies"][name] = e
    out["kendall_matrix"] = kendall_matrix(cols)
    out["sample_and_pick"] = sample_and_pick(cols, acc, sample, repeats, seed)
    if sample is not None:
        out["best_by_proxy"] = sample_and_pick(cols, acc, None)
    if hybrid:
        unknown = [h for h in hybrid if h not in cols]
        if unknown:
            raise ValueError(f"hybrid: {', '.join(unknown)} not in the run (it has {', '.join(cols)})")
        out["hybrid"] = hybrid_search({h: cols[h] for h in hybrid}, acc, cost=costs.get("flops"), by=hybrid_by)
    dest = str(run_dir if out_dir is None else out_dir)
    os.makedirs(dest, exist_ok=True)
    if plots:
        sweep_plot(os.path.join(dest, "sweep_kendall.png"), {n: e["sweep"] for n, e in out["proxies"].items()})
        matrix_plot(os.path.join(dest, "kendall_matrix.png"), out["kendall_matrix"])
    write_atomic(os.path.join(dest, "analyses.json"), json.dumps(out, indent=1, allow_nan=False))
    return out


def format_report(r: dict, ks: Sequence[int] = (1, 10, 50)) -> str:
    """The report as plain-text tables."""
    names = list(r["proxies"])
    w = max([5] + [len(n) for n in names])
    mbrs = [k for k in next(iter(r["proxies"].values())) if k.startswith("mbr_")]

    def f(v, p=4):
        return f"{'-':>8}" if v is None else f"{v:>8.{p}f}"

    heads = ["pearson"] + [f"BR@{k}" for k in ks] + [f"P@{k}" for k in ks] + [m.replace("mbr_", "mBR/") for m in mbrs]
    lines = [f"{'proxy':<{w}} " + " ".join(f"{h:>8}" for h in heads)]
    for n in names:
        e = r["proxies"][n]
        cells = [e["pearson"]] + [e[f"br@{k}"] for k in ks] + [e[f"p@{k}"] for k in ks] + [e[m] for m in mbrs]
        lines.append(f"{n:<{w}} " + " ".join(f(v) for v in cells))
    lines.append("(-: no value; Pearson r has none for a proxy with infinite scores, a correlation none over "
                 "equal scores)")
    fr = [p["fraction"] for p in r["proxies"][names[0]]["sweep"]]
    lines += ["", "Kendall τ over the top x % by accuracy:",
              f"{'proxy':<{w}} " + " ".join(f"{x * 100:>7g}%" for x in fr)]
    for n in names:
        lines.append(f"{n:<{w}} " + " ".join(f(p["kendall"], 3) for p in r["proxies"][n]["sweep"]))
    lines += ["", "inter-proxy Kendall τ:", f"{'':<{w}} " + " ".join(f"{n[:8]:>8}" for n in names)]
    for p in names:
        lines.append(f"{p:<{w}} " + " ".join(f(r["kendall_matrix"][p][q], 3) for q in names))
    sp = r["sample_and_pick"]
    one = next(iter(sp.values()))
    lines += ["", f"sample and pick: {one['repeats']} draws of {one['n']} architectures, accuracy of the pick "
                  f"(mean ± std)" + ("; best by proxy over all" if "best_by_proxy" in r else "")]
    for k, v in sp.items():
        extra = f"   all: {r['best_by_proxy'][k]['mean']:.3f}" if "best_by_proxy" in r else ""
        lines.append(f"{k:<{w}} {v['mean']:8.3f} ± {v['std']:.3f}{extra}")
    if r.get("hybrid"):
        lines += ["", "hybrid search (subsets, rank-aggregated):"]
        for h in r["hybrid"]:
            lines.append(f"  τ {f(h['kendall'], 3)}  ρ {f(h['spearman'], 3)}  mBR {f(h['mbr'], 4)}  "
                         f"{'+'.join(h['proxies'])}")
    return "\n".join(lines)


__all__ = ["report", "format_report", "read_run_table", "pearson", "top_sweep", "br_at_k", "p_at_k", "mbr_at_budgets", "kendall_matrix", "sample_and_pick",
           "hybrid_search", "sweep_plot", "matrix_plot", "SWEEP"]
