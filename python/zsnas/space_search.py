"""Search of the spaces defined in Python (zsnas.spaces: nb201, nats-sss, the NAS-Bench-Zero
stage spaces, the AutoFormer ViT spaces; also res / mbv2 through their C++ mutation), for a
Pareto front of several objectives (issue 13, item 3) or for AZ-NAS's best by aggregated rank
(the ViT search of item 4); and the exact front of an enumerable space to score a search against.
The res / mbv2 single-objective searches of the papers run in the C++ engine (zsnas.search).

    run = pareto_search("nb201", "synflow,-flops", iterations=2000, out="runs/front")
    run.front            # [{"id", "arch", "synflow", "flops"}, ...] (non-dominated, by id)
    exact = exact_front("nb201", "synflow,-flops", out="runs/nb201-exact")
    hypervolume_ratio(run.points, exact.points)

The Pareto search is SEMO (Laumanns et al., "simple evolutionary multi-objective optimiser") with
random immigrants: the first `warmup` candidates are uniform samples; after that each is, with
probability `explore`, a uniform sample, else a uniformly chosen member of the current front
mutated once. A candidate seen before is drawn again (an iteration is one new architecture
scored); a failing candidate is recorded as failed and never a parent. The proposals depend only
on the seed and the scores, so a resumed run replays its history.csv (told again, not re-scored)
and continues exactly as an uninterrupted one. Spaces: the enumerable ones (``nb201``,
``nats-sss``; the
NAS-Bench-Zero stage spaces ``ss-r1``, ``ss-r2``, ``ss-mb``) and the engine's structure spaces
(``res``, ``mbv2``, sampled and mutated within their paper budget).

Objectives are registered proxies or native counts (``params``, ``flops``), each scored by the
scorer backends like any proxy. The front does not depend on an objective's scale, but a
hypervolume does: a ``log:`` prefix (``log:synflow``) measures it on log10 of a positive
objective (synflow spans 40 decades on NB201, so its raw hypervolume is its maximum's).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import pareto as P
from .data import path_of as data_path_of
from .rundir import RunDirError, RunLock, complete_csv_records, write_atomic

WARMUP = 16
EXPLORE = 0.1
MAX_REDRAWS = 1000  # a space whose proposals are all seen this many times in a row is exhausted


# ---- spaces ----------------------------------------------------------------------------------
class _StructureSpace:
    """An engine space (res, mbv2) seen as sample / mutate over structure strings, every candidate
    within the space's paper budget (redrawn until it is)."""

    def __init__(self, name: str):
        from .spaces import get_space, paper_budget

        self.space = get_space(name)
        self.name, self.resolution, self.num_classes = name, self.space.resolution, self.space.num_classes
        self.budget = paper_budget(name)

    def _rng(self, rng: np.random.Generator):
        from .spaces import Rng

        return Rng(int(rng.integers(2 ** 63)))

    def sample(self, rng: np.random.Generator) -> str:
        return str(self.space.sample(self._rng(rng), budget=self.budget))

    def mutate(self, s: str, rng: np.random.Generator) -> str:
        for _ in range(MAX_REDRAWS):
            child = self.space.mutate(s, self._rng(rng))
            if self.space.within_budget(child, self.budget):
                return str(child)
        return s  # no child within budget: a duplicate, drawn again by the caller

    def structure(self, s: str) -> str:
        return s

    def decode(self, s: str) -> str:
        return s

    def counts(self, s: str) -> Tuple[int, int]:
        from .arch import Arch

        return Arch(s).counts(self.resolution, self.num_classes)


def discrete_space(name: Any):
    """The space `name` as sample(rng) / mutate(x, rng) / structure(x) / decode(str) (numpy rng);
    an object that has those (a StageSpace of one's own) passes through."""
    from .spaces.enumerable import NATSSizeSpace, NB201Space
    from .spaces.stages import NB_ZERO

    if not isinstance(name, str):
        if all(hasattr(name, m) for m in ("sample", "mutate", "structure", "decode", "name")):
            return name
        raise TypeError(f"space search: a space is a name or has sample/mutate/structure/decode, not "
                        f"{type(name).__name__}")
    if name == "nb201":
        return NB201Space()
    if name == "nats-sss":
        return NATSSizeSpace()
    if name in NB_ZERO:
        return NB_ZERO[name]
    if name in ("res", "mbv2"):
        return _StructureSpace(name)
    from .spaces.vit import AUTOFORMER

    if name in AUTOFORMER:
        return AUTOFORMER[name]
    raise ValueError(f"unknown space {name!r} (known: nb201, nats-sss, {', '.join(NB_ZERO)}, "
                     f"{', '.join(AUTOFORMER)}, res, mbv2)")


def _columns(objectives: Sequence[Tuple[str, float]]) -> List[str]:
    """The proxies the objectives read ("log:synflow" reads synflow), in order, once each."""
    out: List[str] = []
    for name, _ in objectives:
        col = name.split(":", 1)[1] if name.startswith("log:") else name
        if col not in out:
            out.append(col)
    return out


def objective_points(rows: Sequence[dict], objectives: Sequence[Tuple[str, float]]) -> np.ndarray:
    """[n, m] "higher is better" values of the rows (log: applied; NaN where a value is missing)."""
    cols = {}
    for name, _ in objectives:
        col = name.split(":", 1)[1] if name.startswith("log:") else name
        vals = np.array([np.nan if r.get(col) is None else float(r[col]) for r in rows], dtype=np.float64)
        if name.startswith("log:"):
            with np.errstate(divide="ignore", invalid="ignore"):
                vals = np.where(vals > 0, np.log10(vals), np.nan)
        cols[name] = vals
    return P.oriented(cols, objectives)


def hypervolume_ratio(points, exact_points, reference=None) -> float:
    """Hypervolume of `points` over that of `exact_points` (both [n, 2], higher is better), from
    `reference` (default: the exact front's nadir moved a tenth of its range further, so that its
    extreme points count)."""
    e = np.asarray(exact_points, dtype=np.float64)
    e = e[np.isfinite(e).all(1)]
    if reference is None:
        lo, hi = np.min(e, axis=0), np.max(e, axis=0)
        ref = lo - 0.1 * (hi - lo)
    else:
        ref = np.asarray(reference, dtype=np.float64)
    whole = P.hypervolume_2d(e, ref)
    if whole <= 0:
        raise ValueError("the exact front has no hypervolume above the reference point")
    return P.hypervolume_2d(points, ref) / whole


# ---- scoring -------------------------------------------------------------------------------
@dataclass
class SpaceSearchConfig:
    space: str
    objectives: str  # "synflow,-flops" as given; az: the proxies aggregated
    iterations: int
    seed: int = 0
    warmup: int = WARMUP
    explore: float = EXPLORE
    batch: int = 1
    strategy: str = "pareto"  # pareto | az
    top_k: int = 1024  # az: parents from the top k by aggregated rank
    mutations: int = 1  # mutations per child
    budget: Dict[str, float] = field(default_factory=dict)  # az / pareto: params, flops limits
    proxy_seed: Optional[int] = None  # the proxies' seed (None: `seed`); a search compared with an exact
    # front must score with the front's
    latency_table: Optional[str] = None  # for the latency_ms objective (zsnas.latency.tables)
    latency_batch: int = 1
    latency_precision: str = "fp32"
    data: Optional[dict] = None  # {"path", "sha256"}: the data-fed proxies' images (zsnas.data); None: noise

    @property
    def score_seed(self) -> int:
        return self.seed if self.proxy_seed is None else self.proxy_seed

    def scoring(self) -> Dict[str, int]:
        """What a proxy's value depends on besides the architecture."""
        return {"proxy seed": self.score_seed, "batch_size": self.batch_size, "repeats": self.repeats,
                "resolution": self.resolution, "num_classes": self.num_classes,
                "latency table": (self.latency_table, self.latency_batch, self.latency_precision),
                "data": self.data}
    resolution: int = 0  # 0: the space's
    num_classes: int = 0
    batch_size: int = 64
    repeats: int = 1
    format: str = field(default="zsnas-space-search-1")


def _requests(structures: Sequence[str], cfg: SpaceSearchConfig, columns: Sequence[str], device: str, counts=None):
    """Score requests; `counts(structure) -> (params, MACs)` (an enumerable space's closed form, at
    its native setting) spares the params / flops proxies building the network."""
    from .scoring.request import ScoreRequest
    from .targets import resolve_target

    out = []
    for s in structures:
        t = resolve_target(s)
        t.resolution, t.num_classes = cfg.resolution, cfg.num_classes
        params, flops = counts(s) if counts is not None else (None, None)
        out.append(ScoreRequest(target=t, proxies=tuple(columns), resolution=cfg.resolution,
                                num_classes=cfg.num_classes, batch_size=cfg.batch_size, repeats=cfg.repeats,
                                seed=cfg.score_seed, device=device, params=params,
                                flops=None if flops is None else float(flops),
                                data=data_path_of(cfg.data)))
    return out


def _closed_form_counts(sp, cfg: SpaceSearchConfig):
    native = (getattr(sp, "resolution", None), getattr(sp, "num_classes", None)) == (cfg.resolution, cfg.num_classes)
    return getattr(sp, "counts", None) if native else None


LATENCY = "latency_ms"  # an objective column from a latency table, not a proxy


def _latency_ms(cfg: SpaceSearchConfig, structure: str) -> float:
    from .latency.tables import open_latency_table, target_ms

    model = open_latency_table(cfg.latency_table, cfg.latency_precision, cfg.latency_batch)
    return target_ms(model, structure, cfg.resolution, cfg.latency_batch, cfg.latency_precision)


def _rows_of(scorer, structures, cfg, columns, device, counts=None) -> List[Tuple[Dict[str, float], str]]:
    proxies = [c for c in columns if c != LATENCY]
    rows = scorer.score(_requests(structures, cfg, proxies, device, counts)) if proxies else \
        [None] * len(structures)
    out = []
    for s, r in zip(structures, rows):
        if LATENCY in columns:
            from .scoring.request import ScoreRow

            r = r or ScoreRow()
            try:
                r.values[LATENCY] = _latency_ms(cfg, s)
            except (ValueError, RuntimeError) as e:
                r.errors[LATENCY] = f"{type(e).__name__}: {e}"
        bad = [c for c in columns if c not in r.values or not math.isfinite(r.values[c])]
        err = r.error or (f"{bad[0]} is not a finite number" if bad else "")
        out.append(({c: r.values.get(c, math.nan) for c in columns}, err))
    return out


# ---- the history file ------------------------------------------------------------------------
class _History:
    """history.csv: one row per scored candidate (id, parent, status, arch, objective columns,
    error), appended and fsynced per round; a torn last line (a kill mid-write) is dropped.
    Columns in name order, so that objectives over the same columns read the same file."""

    def __init__(self, path: Optional[Path], columns: Sequence[str]):
        self.path, self.columns = path, sorted(columns)
        self.header = ["id", "parent", "status", "arch"] + self.columns + ["error"]

    def read(self) -> List[dict]:
        if self.path is None or not self.path.exists():
            return []
        with open(self.path, newline="") as fh:  # as written: an error's "\r" stays one
            text = fh.read()
        records, ends = complete_csv_records(text)
        if not records or records[0] != self.header:
            raise RunDirError(f"{self.path}: not the history of this search (header differs)")
        rows = []
        for rec in records[1:]:
            if len(rec) != len(self.header):
                break
            d = dict(zip(self.header, rec))
            rows.append({"id": int(d["id"]), "parent": int(d["parent"]), "status": d["status"], "arch": d["arch"],
                         "error": d["error"],
                         **{c: (float(d[c]) if d[c] not in ("", "nan") else math.nan) for c in self.columns}})
        good = ends[len(rows)]  # the header and every row read
        if good != len(text):
            write_atomic(self.path, text[:good])
        return rows

    def start(self) -> None:
        if self.path is not None:
            write_atomic(self.path, self._line(self.header))

    def _line(self, fields) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(fields)
        return buf.getvalue()

    def append(self, rows: Sequence[dict]) -> None:
        if self.path is None or not rows:
            return
        text = "".join(self._line([r["id"], r["parent"], r["status"], r["arch"]] +
                                  [repr(float(r[c])) for c in self.columns] + [r["error"]]) for r in rows)
        with open(self.path, "a") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


# ---- the run ---------------------------------------------------------------------------------
@dataclass
class SpaceSearchRun:
    config: SpaceSearchConfig
    history: List[dict]
    front_ids: List[int]
    out: Optional[Path] = None
    elapsed: float = 0.0
    rejected: int = 0  # children over the budget, redrawn

    @property
    def objectives(self) -> List[Tuple[str, float]]:
        return P.parse_objectives(self.config.objectives, minimum=1 if self.config.strategy == "az" else 2)

    @property
    def front(self) -> List[dict]:
        by_id = {r["id"]: r for r in self.history}
        return [by_id[i] for i in self.front_ids]

    @property
    def points(self) -> np.ndarray:
        """The front's objective points ("higher is better", log: applied)."""
        return objective_points(self.front, self.objectives)

    def top(self, n: int = 10) -> List[dict]:
        """az: the best `n` by aggregated rank over the history (best first); pareto: the front."""
        if self.config.strategy != "az":
            return self.front[:n]
        by_id = {r["id"]: r for r in self.history}
        return [by_id[i] for i in _TopK.ranking_of(self.history, self.objectives)[:n]]

    @property
    def best(self) -> Optional[dict]:
        top = self.top(1)
        return top[0] if top and self.config.strategy == "az" else None

    def summary(self) -> str:
        ok = sum(r["status"] == "ok" for r in self.history)
        if self.config.strategy == "az":
            b = self.best
            return (f"az search of {self.config.space} ({self.config.objectives}): best of {ok} scored "
                    f"({len(self.history) - ok} failed): {b['arch'] if b else 'none'}")
        return (f"{len(self.front_ids)} non-dominated of {ok} scored ({len(self.history) - ok} failed), "
                f"objectives {self.config.objectives}, space {self.config.space}")


def write_front(out: Optional[Path], run: SpaceSearchRun, plot: bool) -> None:
    if out is None:
        return
    obj = run.objectives
    cols = _columns(obj)
    lines = [",".join(["id", "arch"] + cols)]
    lines += [",".join([str(r["id"]), f'"{r["arch"]}"'] + [repr(float(r[c])) for c in cols]) for r in run.front]
    write_atomic(out / "pareto.csv", "\n".join(lines) + "\n")
    if plot:
        ok = [r for r in run.history if r["status"] == "ok"]
        pts = objective_points(ok, obj)
        front = P.non_dominated(pts)
        P.front_plot(str(out / "pareto.png"), pts, front, obj,
                     title=f"{run.config.space}: {len(front)} non-dominated of {len(ok)}")


class _Front:
    """Pareto parents: the non-dominated ids of the candidates told so far (higher is better in
    every column), one drawn uniformly."""

    def __init__(self):
        self.ids: List[int] = []
        self.pts: List[np.ndarray] = []

    def parent(self, rng: np.random.Generator) -> Optional[int]:
        return self.ids[int(rng.integers(len(self.ids)))] if self.ids else None

    def add(self, cid: int, p: np.ndarray) -> None:
        if not np.isfinite(p).all():
            return
        for q in self.pts:
            if (q >= p).all() and (q > p).any():
                return
        keep = [k for k, q in enumerate(self.pts) if not ((p >= q).all() and (p > q).any())]
        self.ids = [self.ids[k] for k in keep] + [cid]
        self.pts = [self.pts[k] for k in keep] + [p]


class _TopK:
    """AZ-NAS parents: one drawn uniformly from the top k of the whole history by non-linear rank
    aggregation (REFERENCE §5; ties by id)."""

    def __init__(self, k: int):
        self.k = k
        self.ids: List[int] = []
        self.pts: List[np.ndarray] = []

    def add(self, cid: int, p: np.ndarray) -> None:
        if np.isfinite(p).all():
            self.ids.append(cid)
            self.pts.append(p)

    @staticmethod
    def _order(ids: Sequence[int], pts: np.ndarray) -> List[int]:
        from .proxies.rank import rank_aggregate

        score = rank_aggregate(np.asarray(pts, dtype=np.float64).reshape(len(ids), -1))
        return [ids[i] for i in np.lexsort((np.asarray(ids), -score))]

    @classmethod
    def ranking_of(cls, history: Sequence[dict], objectives) -> List[int]:
        ok = [r for r in history if r["status"] == "ok"]
        pts = objective_points(ok, objectives)
        keep = np.isfinite(pts).all(1)
        return cls._order([r["id"] for r, k in zip(ok, keep) if k], pts[keep]) if keep.any() else []

    def parent(self, rng: np.random.Generator) -> Optional[int]:
        if not self.ids:
            return None
        top = self._order(self.ids, np.stack(self.pts))[:self.k]
        return top[int(rng.integers(len(top)))]


def _data_settings(data: Optional[str], resolution: int, num_classes: int) -> Optional[dict]:
    """The run's data entry (zsnas.data.settings), checked against the space's networks."""
    from .data import check_fits, settings

    entry = settings(data)
    if entry is not None:
        check_fits(entry["path"], 3, resolution, num_classes)
    return entry


def space_search(space: Any, objectives: str, iterations: int = 1000, seed: int = 0,
                 out: Union[str, os.PathLike, None] = None, resume: bool = False, *, strategy: str = "pareto",
                 budget: Optional[Dict[str, float]] = None, top_k: int = 1024, mutations: Optional[int] = None,
                 proxy_seed: Optional[int] = None, latency_table: Union[str, os.PathLike, None] = None,
                 latency_batch: int = 1, latency_precision: str = "fp32",
                 warmup: int = WARMUP, explore: Optional[float] = None, batch: int = 1,
                 resolution: Optional[int] = None, num_classes: Optional[int] = None, batch_size: int = 64,
                 repeats: int = 1, device: Optional[str] = None, backend: str = "local", workers: int = 1,
                 threads: Optional[int] = None, cache: Union[str, os.PathLike, None] = "auto",
                 progress: bool = True, plot: bool = True, data: Optional[str] = None) -> SpaceSearchRun:
    """Search a space of zsnas.spaces (nb201, nats-sss, ss-*, autoformer-*, res, mbv2) by
    `objectives`, the one loop of both strategies (module docstring):

    strategy "pareto": keep the non-dominated set ("synflow,-flops": maximise synflow, minimise
        FLOPs); parents uniform from the front, `explore` (default 0.1) of the children fresh
        samples, one mutation each.
    strategy "az": AZ-NAS's search; the proxies of `objectives` aggregated by non-linear rank over
        the whole history, parents uniform from its top `top_k`, two mutations a child (ZenNAS /
        AZ-NAS), no fresh samples after the warm-up; run.best is the best aggregate.

    proxy_seed: the proxies' seed (default `seed`): searches of several seeds scored against one
    exact front keep its proxy seed.
    latency_table / latency_batch / latency_precision: what the objective "latency_ms" reads
    (zsnas.latency.tables: predicted ms; "-latency_ms" minimises it).
    budget: {"params": 6e6, "flops": 1.2e9} -- a child over it is redrawn (not an iteration),
    counted by the space's own counts (C++ for ViTs and structure spaces). out gets config.json,
    history.csv (and pareto.csv / pareto.png or best.json); resume=True continues the run in out
    (iterations may change, nothing else). data: images for the data-fed proxies (zsnas.data)."""
    from .devices import resolve_device
    from .progress import progress_bar
    from .scoring.backends import get_scorer

    if strategy not in ("pareto", "az"):
        raise ValueError(f"space search: strategy must be pareto or az, not {strategy!r}")
    obj = P.parse_objectives(objectives, minimum=1 if strategy == "az" else 2)
    sp = discrete_space(space)
    space = sp.name
    mutations = (2 if strategy == "az" else 1) if mutations is None else mutations
    explore = (0.0 if strategy == "az" else EXPLORE) if explore is None else explore
    for label, v in (("iterations", iterations), ("batch", batch), ("batch_size", batch_size),
                     ("repeats", repeats), ("top_k", top_k), ("mutations", mutations)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{strategy} search: {label} must be a whole number >= 1, got {v!r}")
    if not 0.0 <= float(explore) <= 1.0:
        raise ValueError(f"{strategy} search: explore must be within [0, 1], got {explore!r}")
    limits = {k: float(v) for k, v in (budget or {}).items() if v is not None and math.isfinite(float(v))}
    unknown_limit = [k for k in limits if k not in ("params", "flops")]
    if unknown_limit:
        raise ValueError(f"{strategy} search: budget {unknown_limit[0]!r} is not params or flops")
    if limits and not hasattr(sp, "counts"):
        raise ValueError(f"{strategy} search: space {space} has no counts to check a budget against")
    cfg = SpaceSearchConfig(space=space, objectives=objectives, iterations=int(iterations), seed=int(seed),
                       warmup=int(warmup), explore=float(explore), batch=int(batch), strategy=strategy,
                       top_k=int(top_k), mutations=int(mutations), budget=limits,
                       proxy_seed=None if proxy_seed is None else int(proxy_seed),
                       latency_table=None if latency_table is None else str(Path(latency_table).resolve()),
                       latency_batch=int(latency_batch), latency_precision=str(latency_precision),
                       resolution=int(resolution or sp.resolution), num_classes=int(num_classes or sp.num_classes),
                       batch_size=int(batch_size), repeats=int(repeats))
    cfg.data = _data_settings(data, cfg.resolution, cfg.num_classes)
    columns = _columns(obj)
    from .proxies import available_proxies

    unknown = [c for c in columns if c not in available_proxies() and c != LATENCY]
    if unknown:
        raise ValueError(f"{strategy} search: objective {unknown[0]!r} is not a registered proxy (nor {LATENCY})")
    if LATENCY in columns:
        if latency_table is None:
            raise ValueError(f"{strategy} search: the {LATENCY} objective needs latency_table= (a JSON block table or "
                             f"a TinyNAS-format folder)")
        from .latency.tables import open_latency_table

        open_latency_table(latency_table, latency_precision, latency_batch)  # a bad table fails here
    device = resolve_device(device)
    out_path = Path(out) if out is not None else None
    with contextlib.ExitStack() as stack:
        if out_path is not None:
            config_file = out_path / "config.json"
            if resume:
                if not config_file.is_file():
                    raise RunDirError(f"cannot resume {out_path}: it holds no {strategy} search (no config.json)")
                saved = json.loads(config_file.read_text())
                mine = asdict(cfg)
                diff = [k for k in mine if k != "iterations" and saved.get(k) != mine[k]]
                if diff:
                    raise RunDirError(f"cannot resume {out_path}: {diff[0]} was {saved.get(diff[0])!r}, "
                                      f"now {mine[diff[0]]!r}")
            elif config_file.exists():
                raise RunDirError(f"{out_path} already holds a search (config.json): resume it or choose another out")
            stack.enter_context(RunLock(out_path))
            write_atomic(config_file, json.dumps(asdict(cfg), indent=1))
        hist = _History(out_path / "history.csv" if out_path is not None else None, columns)
        prior = {r["arch"]: r for r in hist.read()} if resume else {}
        if not resume:
            hist.start()
        if cache == "auto":
            cache = out_path / "scores.sqlite" if out_path is not None else None
        scorer = stack.enter_context(get_scorer(backend, workers=workers, threads=threads,
                                                cache=None if cache is None else str(cache)))
        rng = np.random.default_rng(cfg.seed)
        counts = _closed_form_counts(sp, cfg)
        selector = _TopK(cfg.top_k) if strategy == "az" else _Front()
        history: List[dict] = []
        seen, rejected = set(), 0
        bar = progress_bar(cfg.iterations, f"{strategy} search {space}", enabled=progress)
        stack.callback(bar.close)
        t0 = time.perf_counter()
        exhausted = False
        while len(history) < cfg.iterations and not exhausted:
            proposals: List[Tuple[Any, int]] = []  # (candidate, parent id)
            want = min(cfg.batch, cfg.iterations - len(history))
            redraws = 0
            while len(proposals) < want:
                n = len(history) + len(proposals)
                parent = selector.parent(rng) if n >= cfg.warmup else None
                if parent is None or (cfg.explore > 0 and rng.random() < cfg.explore):
                    cand, parent = sp.sample(rng), -1
                else:
                    cand = sp.decode(history[parent]["arch"])
                    for _ in range(cfg.mutations):
                        cand = sp.mutate(cand, rng)
                s = sp.structure(cand)
                if limits and _over(sp.counts(s), limits):
                    rejected += 1
                    redraws += 1
                    if redraws >= MAX_REDRAWS * 10:
                        raise ValueError(f"{strategy} search of {space}: {redraws} children in a row over the budget "
                                         f"{limits}; loosen it")
                    continue
                if s in seen:
                    redraws += 1
                    if redraws >= MAX_REDRAWS:
                        exhausted = True
                        break
                    continue
                seen.add(s)
                redraws = 0
                proposals.append((s, parent))
            fresh = [s for s, _ in proposals if s not in prior]
            scored = dict(zip(fresh, _rows_of(scorer, fresh, cfg, columns, device, counts))) if fresh else {}
            new_rows = []
            for s, parent in proposals:
                cid = len(history)
                if s in prior:
                    p = prior.pop(s)
                    row = {**p, "id": cid, "parent": parent}
                else:
                    values, err = scored[s]
                    row = {"id": cid, "parent": parent, "status": "failed" if err else "ok", "arch": s,
                           "error": err, **values}
                    new_rows.append(row)
                history.append(row)
                if row["status"] == "ok":
                    selector.add(cid, objective_points([row], obj)[0])
            hist.append(new_rows)
            bar.update(len(proposals))
            bar.set_postfix_str(f"front {len(selector.ids)}" if strategy == "pareto" else f"rejected {rejected}",
                                refresh=False)
        run = SpaceSearchRun(cfg, history, sorted(selector.ids) if strategy == "pareto" else [], out_path,
                        time.perf_counter() - t0, rejected=rejected)
        if strategy == "pareto":
            write_front(out_path, run, plot)
        elif out_path is not None:
            write_atomic(out_path / "best.json", json.dumps(run.top(10), indent=1))
        return run


def _over(counts: Tuple[int, int], limits: Dict[str, float]) -> bool:
    params, flops = counts
    return params > limits.get("params", math.inf) or flops > limits.get("flops", math.inf)


def pareto_search(space: Any, objectives: str, iterations: int = 1000, seed: int = 0,
                  out: Union[str, os.PathLike, None] = None, resume: bool = False, **kw) -> SpaceSearchRun:
    """space_search(strategy="pareto"): the non-dominated set of `objectives` ("synflow,-flops")."""
    return space_search(space, objectives, iterations, seed, out, resume, strategy="pareto", **kw)


def az_search(space: Any, proxies: str = "az_expressivity,az_trainability,az_complexity", iterations: int = 1000,
              seed: int = 0, out: Union[str, os.PathLike, None] = None, resume: bool = False, **kw) -> SpaceSearchRun:
    """space_search(strategy="az"): AZ-NAS's search, by default with the proxies AZ-NAS uses on
    ViTs (expressivity, trainability, complexity: no progressivity)."""
    return space_search(space, proxies, iterations, seed, out, resume, strategy="az", **kw)


def load_space_run(out: Union[str, os.PathLike], objectives: Optional[str] = None) -> SpaceSearchRun:
    """A space search's run directory (Pareto, az, exact front) as a SpaceSearchRun, its front recomputed
    under `objectives` (default: the run's own; any objectives over the run's columns)."""
    out = Path(out)
    config_file = out / "config.json"
    if not config_file.is_file():
        raise RunDirError(f"{out} holds no Pareto search (no config.json)")
    saved = json.loads(config_file.read_text())
    if not str(saved.get("format", "")).startswith(("zsnas-space-search", "zsnas-pareto-search", "zsnas-exact-front")):
        raise RunDirError(f"{out} holds no Pareto search (config.json is not one)")
    cfg = SpaceSearchConfig(**saved)
    least = 1 if cfg.strategy == "az" else 2
    history = _History(out / "history.csv", _columns(P.parse_objectives(cfg.objectives, least))).read()
    if objectives is not None:
        missing = [c for c in _columns(P.parse_objectives(objectives, least))
                   if c not in _columns(P.parse_objectives(cfg.objectives, least))]
        if missing:
            raise ValueError(f"{out}: the run has no column {missing[0]!r} (its objectives: {cfg.objectives})")
        cfg.objectives = objectives
    ok = [r for r in history if r["status"] == "ok"]
    front = P.non_dominated(objective_points(ok, P.parse_objectives(cfg.objectives, least)))
    return SpaceSearchRun(cfg, history, sorted(ok[i]["id"] for i in front), out)


# ---- the exact front of an enumerable space ---------------------------------------------------
def exact_front(space: str, objectives: str, out: Union[str, os.PathLike, None] = None, *,
                resolution: Optional[int] = None, num_classes: Optional[int] = None, batch_size: int = 64,
                seed: int = 0, device: Optional[str] = None, backend: str = "local", workers: int = 1,
                threads: Optional[int] = None, chunk: int = 64, progress: bool = True,
                plot: bool = True, data: Optional[str] = None) -> SpaceSearchRun:
    """Score every member of an enumerable space (nb201, ss-r1, …) by the objectives and return
    its exact front as a SpaceSearchRun (history in index order). With `out`, history.csv is written
    as it goes and a second call scores only what is missing (resumable); pareto.csv and
    pareto.png as for a search."""
    from .devices import resolve_device
    from .progress import progress_bar
    from .scoring.backends import get_scorer

    obj = P.parse_objectives(objectives)
    sp = discrete_space(space)
    space = sp.name
    if not hasattr(sp, "__len__"):
        raise ValueError(f"exact front: space {space!r} is not enumerable")
    n = len(sp)
    cfg = SpaceSearchConfig(space=space, objectives=objectives, iterations=n, seed=int(seed),
                       resolution=int(resolution or sp.resolution), num_classes=int(num_classes or sp.num_classes),
                       batch_size=int(batch_size), format="zsnas-exact-front-1")
    cfg.data = _data_settings(data, cfg.resolution, cfg.num_classes)
    columns = _columns(obj)
    device = resolve_device(device)
    out_path = Path(out) if out is not None else None
    with contextlib.ExitStack() as stack:
        if out_path is not None:
            stack.enter_context(RunLock(out_path))
            config_file = out_path / "config.json"
            if config_file.exists():  # the same scores under other objectives of the same columns are fine
                saved, mine = json.loads(config_file.read_text()), asdict(cfg)
                diff = [k for k in mine if k != "objectives" and saved.get(k) != mine[k]]
                if diff or set(_columns(P.parse_objectives(saved.get("objectives", "")))) != set(columns):
                    what = diff[0] if diff else "objective columns"
                    raise RunDirError(f"{out_path} holds another exact front ({what} differs)")
            write_atomic(config_file, json.dumps(asdict(cfg), indent=1))
        hist = _History(out_path / "history.csv" if out_path is not None else None, columns)
        history = hist.read()
        if not history:
            hist.start()
        scorer = stack.enter_context(get_scorer(backend, workers=workers, threads=threads))
        bar = progress_bar(n, f"exact front {space}", enabled=progress, initial=len(history))
        stack.callback(bar.close)
        t0 = time.perf_counter()
        while len(history) < n:
            ids = list(range(len(history), min(n, len(history) + chunk)))
            structures = [sp.structure(sp[i]) for i in ids]
            rows = []
            for i, s, (values, err) in zip(ids, structures, _rows_of(scorer, structures, cfg, columns, device,
                                                                     _closed_form_counts(sp, cfg))):
                rows.append({"id": i, "parent": -1, "status": "failed" if err else "ok", "arch": s, "error": err,
                             **values})
            hist.append(rows)
            history += rows
            bar.update(len(rows))
        ok = [r for r in history if r["status"] == "ok"]
        pts = objective_points(ok, obj)
        run = SpaceSearchRun(cfg, history, sorted(ok[i]["id"] for i in P.non_dominated(pts)), out_path,
                        time.perf_counter() - t0)
        write_front(out_path, run, plot)
        return run


__all__ = ["space_search", "pareto_search", "az_search", "exact_front", "load_space_run", "SpaceSearchRun", "SpaceSearchConfig", "hypervolume_ratio", "objective_points",
           "discrete_space"]
