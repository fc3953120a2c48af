"""Benchmark zero-cost proxies against a table of trained accuracies (e.g. NAS-Bench-201).

* :func:`correlations` -- Kendall τ, Spearman ρ, τ within the top 5 % / 20 % by accuracy and
  the mean best-rank (mBR, REFERENCE.md §8) of one proxy's scores.
* :func:`evaluate` -- scores every architecture of a CSV with a list of registered proxies (and
  rank aggregations of them), in parallel worker processes, resumably, then writes
  ``scores.jsonl`` (one line per architecture, appended as it finishes), ``table.csv``,
  ``results.json`` and one scatter plot per proxy into ``out``.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import stats

from . import defaults
from .rundir import RunLock, write_atomic

TOP_FRACTIONS = (0.05, 0.20)
DEFAULT_BUDGETS = 10  # mBR: this many FLOPs budgets at evenly spaced quantiles


# --------------------------------------------------------------------------------------------
# correlations
# --------------------------------------------------------------------------------------------

def _clean(x) -> Optional[float]:
    """JSON-safe float: NaN -> None."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _as_array(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def default_budgets(flops: Sequence[float], m: int = DEFAULT_BUDGETS) -> List[float]:
    """``m`` FLOPs budgets at the quantiles k/m, k = 1..m, of ``flops`` (linear interpolation):
    the tightest lets about 1/m of the candidates through, the last is unconstrained."""
    f = _as_array(flops)
    f = f[np.isfinite(f)]
    if len(f) == 0:
        raise ValueError("default_budgets: no finite FLOPs value")
    return [float(q) for q in np.quantile(f, [k / m for k in range(1, m + 1)])]


def mean_best_rank(scores, accuracies, flops, budgets: Optional[Sequence[float]] = None) -> Optional[float]:
    """mBR = Σ_s r_s / (M·N) (REFERENCE.md §8); lower is better, 0 = always the best pick.

    For each budget s the proxy picks the highest-scoring candidate with FLOPs <= s; r_s is
    the true rank (0 = best accuracy) of that pick among the candidates meeting the budget
    (so a perfect proxy scores 0 under every budget). When several candidates tie for the
    highest score the pick is ambiguous and r_s is the mean rank over the tied ones. Rank =
    the number of feasible candidates with a strictly higher accuracy. N = number of
    candidates with a score; budgets that no candidate meets are skipped (M counts the rest).
    Candidates with a missing (None/NaN) score or accuracy are left out.
    """
    s, a, f = _as_array(scores), _as_array(accuracies), _as_array(flops)
    if not (len(s) == len(a) == len(f)):
        raise ValueError(f"mean_best_rank: lengths differ (scores {len(s)}, accuracies {len(a)}, flops {len(f)})")
    keep = ~(np.isnan(s) | np.isnan(a) | np.isnan(f))
    s, a, f = s[keep], a[keep], f[keep]
    n = len(s)
    if n == 0:
        return None
    if budgets is None:
        budgets = default_budgets(f)
    total, m = 0.0, 0
    for b in budgets:
        feas = f <= b
        if not feas.any():
            continue
        sf, af = s[feas], a[feas]
        best = sf.max()
        picks = np.flatnonzero(sf == best)
        ranks = [(af > af[i]).sum() for i in picks]
        total += float(np.mean(ranks))
        m += 1
    return total / (m * n) if m else None


def correlations(scores, accuracies, flops=None, budgets=None) -> dict:
    """Rank correlations of one proxy's ``scores`` (higher-is-better) with ``accuracies``.

    Returns ``{"n", "kendall", "spearman", "kendall_top5", "n_top5", "kendall_top20", "n_top20",
    "mbr"}``: Kendall τ-b and Spearman ρ (scipy) over the candidates whose score and accuracy are
    not missing (None/NaN; ±inf scores are kept -- they rank last/first); ``kendall_topP`` = τ
    over the ``n_topP`` = ceil(P·n) most accurate of those (ties in accuracy broken by order),
    None when that is fewer than ``defaults.MIN_TOP_NETWORKS`` (10) networks (τ over two is
    always ±1); ``mbr`` = :func:`mean_best_rank` over ``budgets`` (default
    :func:`default_budgets`, 10 quantiles), None without ``flops``. An undefined correlation
    (fewer than 2 candidates, a constant column) is None.
    """
    s, a = _as_array(scores), _as_array(accuracies)
    if len(s) != len(a):
        raise ValueError(f"correlations: {len(s)} scores but {len(a)} accuracies")
    keep = ~(np.isnan(s) | np.isnan(a))
    sk, ak = s[keep], a[keep]
    n = int(keep.sum())

    def tau(x, y):
        if len(x) < 2:
            return None
        return _clean(stats.kendalltau(x, y).statistic)

    out = {"n": n, "kendall": tau(sk, ak),
           "spearman": _clean(stats.spearmanr(sk, ak).statistic) if n >= 2 else None}
    order = np.argsort(-ak, kind="stable")
    for frac in TOP_FRACTIONS:
        top = order[: int(math.ceil(frac * n))]
        pct = int(round(frac * 100))
        out[f"kendall_top{pct}"] = tau(sk[top], ak[top]) if len(top) >= defaults.MIN_TOP_NETWORKS else None
        out[f"n_top{pct}"] = int(len(top))
    out["mbr"] = None
    if flops is not None:
        out["mbr"] = _clean(mean_best_rank(s, a, flops, budgets))
    return out


# --------------------------------------------------------------------------------------------
# rank aggregation (AZ-NAS §5) of several proxies into one score
# --------------------------------------------------------------------------------------------

AGGREGATIONS = ("log", "sum")


def rank_aggregate_columns(columns: Sequence[Sequence[float]], how: str = "log") -> np.ndarray:
    """Aggregate proxy columns (each oriented higher-is-better, same candidates, no NaN): "log"
    is AZ-NAS's non-linear Σ ln(rank/m); "sum" is TE-NAS's plain sum of ranks (ties averaged)."""
    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    if how == "sum":
        return np.sum([stats.rankdata(c) for c in cols], axis=0).astype(np.float64)
    if how != "log":
        raise ValueError(f"rank aggregation must be one of {', '.join(AGGREGATIONS)}, not {how!r}")
    from .proxies.rank import rank_aggregate

    return np.asarray(rank_aggregate(np.stack(cols, axis=1)), dtype=np.float64)


def _parse_aggregates(aggregate) -> List[Tuple[str, Tuple[str, ...], str]]:
    """"a+b+c" | "sum:a+b" | ["a+b", "c+d"] | [["a", "b"]] -> [(name, members, how)]; a "sum:"
    prefix asks for TE-NAS's rank sum instead of AZ-NAS's log-rank aggregation."""
    if aggregate is None:
        return []
    if isinstance(aggregate, str):
        aggregate = [aggregate]
    out = []
    for spec in aggregate:
        how = "log"
        if isinstance(spec, str) and ":" in spec:
            how, _, spec = spec.partition(":")
            if how not in AGGREGATIONS:
                raise ValueError(f"aggregate {how}:{spec}: the rank aggregation must be one of "
                                 f"{', '.join(AGGREGATIONS)} (log is the default)")
        members = tuple(p.strip() for p in (spec.split("+") if isinstance(spec, str) else spec) if p.strip())
        if len(members) < 2:
            raise ValueError(f"aggregate {spec!r} needs at least two proxies joined by '+'")
        out.append((("sum:" if how == "sum" else "") + "+".join(members), members, how))
    return out


# --------------------------------------------------------------------------------------------
# reading the table
# --------------------------------------------------------------------------------------------

_ARCH_NAMES = ("arch_str", "arch", "arch_string", "structure", "structure_str", "genotype")
_ID_NAMES = ("index", "id", "idx", "arch_index")


def _find_column(header: Sequence[str], given: Optional[str], candidates: Iterable[str], what: str,
                 contains: Optional[str] = None, required: bool = True) -> Optional[str]:
    if given is not None:
        if given not in header:
            raise ValueError(f"{what} column {given!r} is not in the CSV header {list(header)}")
        return given
    lower = {h.lower(): h for h in header}
    for c in candidates:
        if c in lower:
            return lower[c]
    if contains is not None:
        for h in header:
            if contains in h.lower():
                return h
    if required:
        raise ValueError(f"cannot find the {what} column in the CSV header {list(header)}; name it explicitly")
    return None


def _scaled(row: dict, col: Optional[str]) -> Optional[float]:
    """A count column; names ending in _m / _M are millions, _g / _G billions."""
    if col is None or row.get(col) in (None, ""):
        return None
    v = float(row[col])
    low = col.lower()
    if low.endswith("_m"):
        v *= 1e6
    elif low.endswith("_g"):
        v *= 1e9
    return v


def read_table(csv_path: str, arch_column: Optional[str] = None, acc_column: Optional[str] = None,
               limit: Optional[int] = None) -> List[dict]:
    """Rows ``{"key", "arch", "accuracy", "params", "flops"}`` of an architecture table.

    Columns are found by name unless given: arch = arch_str/arch/structure/... ; accuracy = the
    first name containing "acc"; id = index/id (else the row number); params / FLOPs = the first
    name containing "param" / "flops" (a ``_m`` suffix means millions). ``limit`` keeps the
    first rows only. A blank or NaN accuracy becomes None (reported by :func:`evaluate` as
    ``missing_accuracy``, left out of every correlation).
    """
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        arch_c = _find_column(header, arch_column, _ARCH_NAMES, "architecture")
        acc_c = _find_column(header, acc_column, (), "accuracy", contains="acc")
        id_c = _find_column(header, None, _ID_NAMES, "id", required=False)
        par_c = _find_column(header, None, (), "params", contains="param", required=False)
        flo_c = _find_column(header, None, (), "flops", contains="flops", required=False)
        rows, seen = [], set()
        for i, r in enumerate(reader):
            if limit is not None and len(rows) >= limit:
                break
            key = str(r[id_c]) if id_c else str(i)
            if key in seen:
                raise ValueError(f"{csv_path}: duplicate id {key!r} in column {id_c!r}")
            seen.add(key)
            acc = r.get(acc_c)
            try:
                acc = float(acc) if acc not in (None, "") else None
            except ValueError:
                raise ValueError(f"{csv_path}: row {i + 2}, column {acc_c!r}: {acc!r} is not a number") from None
            if acc is not None and math.isnan(acc):
                acc = None
            params = _scaled(r, par_c)
            rows.append({"key": key, "arch": r[arch_c].strip(), "accuracy": acc,
                         "params": int(round(params)) if params is not None else None,
                         "flops": _scaled(r, flo_c)})
    if not rows:
        raise ValueError(f"{csv_path}: no rows")
    return rows


# --------------------------------------------------------------------------------------------
# scoring one architecture (runs in the workers)
# --------------------------------------------------------------------------------------------

def build_network(arch: str, num_classes: int = 10, residual: bool = True):
    """Default builder: NB201 arch strings ("|...") and ResNet names via ``zsnas.nn.named``,
    anything else as a zsnas structure string."""
    from .targets import resolve_target

    return resolve_target(arch).build(residual=residual, num_classes=num_classes)


def _target(arch: str, builder: Callable, resolution: int, num_classes: int):
    from .targets import Target, resolve_target

    if builder is build_network:
        t = resolve_target(arch)
        t.resolution, t.num_classes = resolution, num_classes
        return t
    return Target(arch, "builder", resolution, num_classes, structure=arch, module=builder)


# --------------------------------------------------------------------------------------------
# the results file: one JSON line per finished row, appended atomically
# --------------------------------------------------------------------------------------------

def _json_float(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _sanitize(obj):
    """Replace non-finite floats by strings ("inf", "-inf", "nan") for strict JSON."""
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    return _json_float(obj)


def _from_json_float(v):
    return float(v) if isinstance(v, str) else v


def _load_scores(path: str) -> Dict[str, dict]:
    """Merge every complete line of ``path`` by key; a torn last line (crash) is cut off."""
    done: Dict[str, dict] = {}
    if not os.path.exists(path):
        return done
    with open(path, "rb") as fh:
        data = fh.read()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    for line in data.decode("utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        cur = done.setdefault(r["key"], {"key": r["key"], "arch": r["arch"], "values": {},
                                         "degenerate": {}, "seconds": {}, "errors": {}})
        if cur["arch"] != r["arch"]:
            raise ValueError(f"{path}: id {r['key']!r} was scored as {cur['arch']!r} and as {r['arch']!r}")
        for k in ("values", "degenerate", "seconds", "errors"):
            cur[k].update({n: _from_json_float(v) for n, v in r.get(k, {}).items()})
    return done


def _line(record: dict) -> str:
    rec = dict(record, values={k: _json_float(v) for k, v in record["values"].items()})
    return json.dumps(rec, sort_keys=True) + "\n"


def _append_line(fh, record: dict) -> None:
    fh.write(_line(record))
    fh.flush()
    os.fsync(fh.fileno())


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------

def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


def scatter_plot(path: str, name: str, scores, accuracies, corr: dict) -> None:
    """Scatter of proxy value vs accuracy. When the values span more than three decades (synflow,
    floors of degenerate networks) the x axis is the proxy's rank instead, which is what τ sees."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, a = _as_array(scores), _as_array(accuracies)
    keep = ~(np.isnan(s) | np.isnan(a))
    s, a = s[keep], a[keep]
    xlabel = f"{name} (higher is better)"
    if len(s):
        fin = np.abs(s[np.isfinite(s)])
        typical = float(np.median(fin)) if len(fin) else 0.0
        pos = s[s > 0]
        wide = (not np.isfinite(s).all()) or (typical > 0 and float(fin.max()) / typical > 1e3) or (
            len(pos) and float(pos.max()) / float(pos.min()) > 1e3)
        if wide:
            s = stats.rankdata(s, method="average")
            xlabel = f"rank of {name} (values span decades; higher is better)"
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.scatter(s, a, s=6, alpha=0.5)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    ax.set_title(f"{name}\nτ={fmt(corr.get('kendall'))} ρ={fmt(corr.get('spearman'))} n={corr.get('n')}", fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("accuracy", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------

def _settings(seed, batch_size, resolution, num_classes, use_table_counts, data=None) -> dict:
    s = {"seed": int(seed), "batch_size": int(batch_size), "resolution": int(resolution),
         "num_classes": int(num_classes), "use_table_counts": bool(use_table_counts)}
    if data is not None:  # only then: runs on noise keep the settings they were made with
        from .data import settings

        s["data"] = settings(data)
    return s


def evaluate(
    csv_path: str,
    proxies: Union[str, Sequence[str]] = defaults.BENCH_PROXIES,
    aggregate=None,
    out: str = defaults.BENCH_OUT,
    workers: int = defaults.BENCH_WORKERS,
    resume: bool = True,
    limit: Optional[int] = None,
    device: Optional[str] = defaults.DEVICE,
    seed: int = defaults.SEED,
    *,
    batch_size: int = defaults.BENCH_BATCH_SIZE,
    resolution: int = defaults.BENCH_RESOLUTION,
    num_classes: int = defaults.BENCH_NUM_CLASSES,
    arch_column: Optional[str] = None,
    acc_column: Optional[str] = None,
    budgets: Optional[Sequence[float]] = None,
    use_table_counts: bool = True,
    builder: Callable = build_network,
    extra_imports: Sequence[str] = (),
    threads: int = defaults.BENCH_THREADS,
    plots: bool = True,
    progress: bool = True,
    backend: Optional[str] = None,
    ray_address: Optional[str] = None,
    cache: Optional[str] = "auto",
    data: Optional[str] = None,
) -> dict:
    """Score every architecture of ``csv_path`` and correlate each proxy with the accuracy.

    Args:
        csv_path: table with an architecture column and an accuracy column (see :func:`read_table`).
        proxies: registered proxy names (list or "a,b,c").
        aggregate: rank aggregations reported as extra proxies: "a+b+c" or a list of them; their
            members are scored too.
        out: run directory: ``config.json``, ``scores.jsonl`` (one JSON line per architecture,
            appended and fsynced as each finishes), ``table.csv``, ``results.json``, ``plots/``;
            locked while this runs (a second run on it refuses, naming the pid).
        workers: worker processes or Ray actors, each with ``threads`` torch threads. With a
            process pool, a script must call evaluate() under ``if __name__ == "__main__":``
            (the workers re-import it); a worker that dies has its architectures scored again.
        backend: "local", "pool" or "ray" (zsnas.scoring.backends); default local, or pool
            when workers > 1. ray_address: a running Ray cluster (default: a local one).
        cache: a score cache file shared with other benches and searches ("auto" =
            OUT/scores.sqlite, None = none); results report its hits and misses.
        data: a CIFAR-10/100 python folder or an .npz (zsnas.data): the data-fed proxies draw
            their batches from it instead of noise; part of the run's settings (a resume on
            other data is refused).
        resume: keep what ``scores.jsonl`` already holds and score only the missing
            (architecture, proxy) pairs; False starts the file afresh. A proxy that failed on an
            architecture counts as done (its error is kept).
        limit: score only the first ``limit`` rows.
        device: "auto" (cuda when available), "cpu", "cuda", ...
        use_table_counts: give the table's params / FLOPs columns to the proxies (ctx.params /
            ctx.flops) instead of counting; they also set the mBR budgets.
        builder: ``builder(arch, num_classes=, residual=)`` -> nn.Module; must be picklable
            (module level) when workers > 1.
        extra_imports: modules (dotted names or .py files) defining user proxies; imported here
            and in every worker.

    Returns the results dict also written to ``results.json``: per proxy the correlations, the
    number of failures and degenerate values and the mean seconds per architecture;
    ``missing_accuracy`` (the ids whose accuracy is blank or NaN, left out of every
    correlation); plus ``table`` (one dict per row: key, arch, accuracy, and every proxy's value
    or None). Ctrl-C / SIGTERM raise KeyboardInterrupt after the rows scored so far are saved.
    """
    from .devices import resolve_device
    from .proxies.registry import import_modules
    from .scoring.runner import check_request_proxies, proxy_version

    names = [p.strip() for p in (proxies.split(",") if isinstance(proxies, str) else proxies) if p.strip()]
    aggs = _parse_aggregates(aggregate)
    needed = list(dict.fromkeys(names + [m for _, ms, _ in aggs for m in ms]))
    if not needed:
        raise ValueError("evaluate: no proxy given")
    for label, v in (("workers", workers), ("threads", threads), ("batch_size", batch_size),
                     ("resolution", resolution), ("num_classes", num_classes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"evaluate: {label} must be a whole number >= 1, got {v!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"evaluate: limit must be >= 1, got {limit}")
    extra_imports = import_modules(extra_imports)
    check_request_proxies(needed, batch_size)  # unknown names fail here, before any work
    device = resolve_device(device)

    rows = read_table(csv_path, arch_column, acc_column, limit)
    from .data import resolve as resolve_data

    data = resolve_data(data)
    settings = _settings(seed, batch_size, resolution, num_classes, use_table_counts, data)
    versions = {n: proxy_version(n) for n in needed}
    stale: List[str] = []
    with RunLock(out):
        cfg_path, scores_path = os.path.join(out, "config.json"), os.path.join(out, "scores.jsonl")
        if resume and os.path.exists(cfg_path) and os.path.exists(scores_path):
            with open(cfg_path) as fh:
                old_cfg = json.load(fh)
            old = old_cfg.get("settings", {})
            if old != settings:
                raise ValueError(f"{out} holds scores made with settings {old}, not {settings}: "
                                 "use another out directory or resume=False")
            # a proxy whose values changed since (its version) is scored again, not mixed in
            stale = [n for n, v in old_cfg.get("versions", {}).items() if n in versions and v != versions[n]]
        else:
            resume = False
        if not resume and os.path.exists(scores_path):
            os.remove(scores_path)
        done = _load_scores(scores_path)
        if stale:  # rewrite the scores without them first: a stop mid-way must not revive old values
            for d in done.values():
                for n in stale:
                    for k in ("values", "degenerate", "seconds", "errors"):
                        d[k].pop(n, None)
            write_atomic(scores_path, "".join(_line(d) for d in done.values()))
        write_atomic(cfg_path, json.dumps({"csv": os.path.abspath(csv_path), "arch_column": arch_column,
                                           "acc_column": acc_column, "limit": limit, "proxies": names,
                                           "aggregate": [n for n, _, _ in aggs],
                                           "budgets": None if budgets is None else list(budgets),
                                           "settings": settings, "versions": versions, "device": str(device)},
                                          indent=1))

        from .scoring.request import ScoreRequest

        todo, requests = [], []
        for r in rows:
            have = done.get(r["key"])
            if have is not None and have["arch"] != r["arch"]:
                raise ValueError(f"{scores_path}: id {r['key']!r} holds {have['arch']!r} but the CSV has {r['arch']!r}")
            missing = [n for n in needed if have is None or (n not in have["values"] and n not in have["errors"])]
            if missing:
                todo.append(r)
                requests.append(ScoreRequest(
                    target=_target(r["arch"], builder, resolution, num_classes), proxies=tuple(missing),
                    resolution=resolution, num_classes=num_classes, batch_size=batch_size, seed=seed,
                    device=device, params=r["params"] if use_table_counts else None,
                    flops=r["flops"] if use_table_counts else None, data=data))

        from .scoring.backends import get_scorer

        backend = backend or ("pool" if workers > 1 else "local")
        if cache == "auto":
            cache = os.path.join(out, "scores.sqlite")
        with get_scorer(backend, workers=workers, threads=threads, address=ray_address, imports=extra_imports,
                        cache=cache) as scorer:
            try:
                _run_requests(scorer, todo, requests, scores_path, done, progress)
            except KeyboardInterrupt:  # a stop: the finished rows' summary, for --report, then stop
                finished = [r for r in rows if r["key"] in done]
                if finished:  # none yet: nothing to summarise (and nothing may mask the stop)
                    _summarise(finished, done, names, aggs, out, budgets, False, settings)
                raise
            store = getattr(scorer, "cache", None)
            cache_stats = None if store is None else store.stats()
        # rescored: proxies whose version changed since the scores were made
        return _summarise(rows, done, names, aggs, out, budgets, plots, settings,
                          run_info={"cache": cache_stats, "rescored": stale})


def summarise_finished(out: str) -> dict:
    """Rewrite table.csv and results.json of a stopped (or killed) bench run over the
    architectures it finished, from config.json and scores.jsonl: what ``zsnas bench --report``
    reads. Refuses a run that is still going (its lock)."""
    cfg_path, scores_path = os.path.join(out, "config.json"), os.path.join(out, "scores.jsonl")
    if not (os.path.isfile(cfg_path) and os.path.isfile(scores_path)):
        raise ValueError(f"{out} holds no bench run (no config.json and scores.jsonl): "
                         f"run `zsnas bench DATA --out {out}` first")
    with RunLock(out):
        with open(cfg_path) as fh:
            cfg = json.load(fh)
        done = _load_scores(scores_path)
        rows = [r for r in read_table(cfg["csv"], cfg.get("arch_column"), cfg.get("acc_column"), cfg.get("limit"))
                if r["key"] in done]
        if not rows:
            raise ValueError(f"{out}: no architecture of {cfg['csv']} is finished yet")
        return _summarise(rows, done, cfg["proxies"], _parse_aggregates(cfg["aggregate"]), out, cfg.get("budgets"),
                          False, cfg["settings"])


def summarise_if_stale(out: str) -> None:
    """:func:`summarise_finished` when table.csv is missing or older than scores.jsonl (a run
    that did not get to its end): what readers of a run's summary call first."""
    table, scores = os.path.join(out, "table.csv"), os.path.join(out, "scores.jsonl")
    if not os.path.isfile(table) or (os.path.isfile(scores) and os.path.getmtime(scores) > os.path.getmtime(table)):
        summarise_finished(out)


def _run_requests(scorer, rows, requests, scores_path, done, progress) -> None:
    """Score `requests` (one per table row in `rows`), appending each row's line as it finishes."""
    from .interrupts import StopSignals
    from .progress import progress_bar

    if not requests:
        return
    bar = progress_bar(len(requests), "scoring", unit="arch", enabled=progress)
    try:
        with open(scores_path, "a") as fh, StopSignals() as stop:
            for i, row in scorer.iter_scores(requests):
                r = rows[i]
                res = {"key": r["key"], "arch": r["arch"], "values": row.values, "degenerate": row.degenerate,
                       "seconds": row.seconds, "errors": row.errors}
                with stop.critical():
                    _append_line(fh, res)
                    cur = done.setdefault(r["key"], {"key": r["key"], "arch": r["arch"], "values": {},
                                                     "degenerate": {}, "seconds": {}, "errors": {}})
                    for k in ("values", "degenerate", "seconds", "errors"):
                        cur[k].update(res[k])
                if row.errors:
                    bar.set_postfix_str(f"failed: {r['key']} {next(iter(row.errors))}", refresh=False)
                bar.update(1)
    finally:
        bar.close()


def _summarise(rows, done, names, aggs, out, budgets, plots, settings, run_info: Optional[dict] = None) -> dict:
    """table.csv, results.json (with `run_info`: this run's cache statistics and rescored proxies)
    and the plots, from the finished rows."""
    acc = [r["accuracy"] for r in rows]
    columns: Dict[str, List[Optional[float]]] = {}
    for n in list(dict.fromkeys(names + [m for _, ms, _ in aggs for m in ms])):
        columns[n] = [done.get(r["key"], {}).get("values", {}).get(n) for r in rows]
    for agg_name, members, how in aggs:
        ok = [i for i in range(len(rows)) if all(columns[m][i] is not None and not math.isnan(columns[m][i]) for m in members)]
        vals: List[Optional[float]] = [None] * len(rows)
        if ok:
            agg = rank_aggregate_columns([[columns[m][i] for i in ok] for m in members], how)
            for i, v in zip(ok, agg):
                vals[i] = float(v)
        columns[agg_name] = vals
    flops = [r["flops"] for r in rows]
    if any(f is None for f in flops):
        flops = columns.get("flops")
    reported = names + [n for n, _, _ in aggs]

    results = {"settings": settings, "n_rows": len(rows), "proxies": {},
               "missing_accuracy": [r["key"] for r in rows if r["accuracy"] is None], **(run_info or {})}
    if plots:
        os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    for n in reported:
        corr = correlations(columns[n], acc, flops=flops, budgets=budgets)
        entry = {**corr}
        if n in done_names(done):
            recs = [done.get(r["key"], {}) for r in rows]
            entry["failed"] = sum(1 for d in recs if n in d.get("errors", {}))
            entry["degenerate"] = sum(1 for d in recs if d.get("degenerate", {}).get(n, 0))
            secs = [d["seconds"][n] for d in recs if n in d.get("seconds", {})]
            entry["seconds_per_arch"] = float(np.mean(secs)) if secs else None
            errs = [d["errors"][n] for d in recs if n in d.get("errors", {})]
            if errs:
                entry["first_error"] = errs[0]
        results["proxies"][n] = entry
        if plots:
            scatter_plot(os.path.join(out, "plots", _safe_name(n) + ".png"), n, columns[n], acc, corr)

    table = [{"key": r["key"], "arch": r["arch"], "accuracy": r["accuracy"],
              **{n: columns[n][i] for n in reported}} for i, r in enumerate(rows)]
    with open(os.path.join(out, "table.csv.tmp"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["key", "arch", "accuracy", *reported])
        w.writeheader()
        for t in table:
            w.writerow({k: ("" if v is None else v) for k, v in t.items()})
    os.replace(os.path.join(out, "table.csv.tmp"), os.path.join(out, "table.csv"))
    write_atomic(os.path.join(out, "results.json"), json.dumps(_sanitize(results), indent=1, allow_nan=False))
    results["table"] = table
    return results


def done_names(done: Dict[str, dict]) -> set:
    names = set()
    for d in done.values():
        names.update(d.get("values", {}))
        names.update(d.get("errors", {}))
    return names


def format_table(results: dict) -> str:
    """Plain-text table of the per-proxy numbers of :func:`evaluate`'s results."""
    cols = ("n", "kendall", "spearman", "kendall_top5", "kendall_top20", "mbr", "failed", "degenerate", "seconds_per_arch")
    heads = ("n", "tau", "rho", "tau@5%", "tau@20%", "mBR", "fail", "degen", "s/arch")
    names = list(results["proxies"])
    w0 = max([5] + [len(n) for n in names])
    lines = [f"{'proxy':<{w0}} " + " ".join(f"{h:>8}" for h in heads)]
    for n in names:
        e = results["proxies"][n]
        cells = []
        for c in cols:
            v = e.get(c)
            if v is None:
                cells.append(f"{'-':>8}")
            elif isinstance(v, int):
                cells.append(f"{v:>8d}")
            else:
                cells.append(f"{v:>8.4f}")
        lines.append(f"{n:<{w0}} " + " ".join(cells))
    for pct in (int(round(f * 100)) for f in TOP_FRACTIONS):
        small = sorted({e.get(f"n_top{pct}") for e in results["proxies"].values()
                        if e.get(f"n_top{pct}") is not None and e[f"n_top{pct}"] < defaults.MIN_TOP_NETWORKS})
        if small:
            lines.append(f"note: tau@{pct}% is '-' where the top {pct} % holds fewer than "
                         f"{defaults.MIN_TOP_NETWORKS} networks (here {', '.join(map(str, small))})")
    missing = results.get("missing_accuracy") or []
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        lines.append(f"note: {len(missing)} rows have no accuracy (blank or NaN) and are left out of every "
                     f"correlation: ids {shown}")
    return "\n".join(lines)


__all__ = ["correlations", "mean_best_rank", "default_budgets", "evaluate", "read_table", "build_network", "rank_aggregate_columns", "scatter_plot", "format_table"]
