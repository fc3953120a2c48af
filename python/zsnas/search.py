"""zsnas.search(): evolution search over a space under a budget, driving the C++ engine.

    run = zsnas.search(space="res", budget={"params": 1e6, "layers": 18}, proxy="zen",
                       iterations=2000, strategy="zen", out="runs/zen-1m")
    run.best, run.best_scores, run.history

The engine (csrc/core/engine.h) proposes candidates within the budget and keeps the history;
this module scores them (registered proxies on torch, or the native C++ scorers), writes the run
directory and resumes it. Strategies: "zen" (Zen-NAS Algorithm 2), "az" (AZ-NAS: top-k parents
by non-linear rank aggregation over the whole history), "random".

Proxies: one name or a list. Every name is a registered proxy (zsnas.proxies); "az" stands for
its four numbers (az_expressivity, az_progressivity, az_trainability, az_complexity), which are
then aggregated by rank (REFERENCE §5) like any list of several proxies. "params", "flops",
"layers" and "latency" (−ms from the latency table) are computed by the engine in C++; a search
whose proxies are all native never builds a torch model.

Run directory (``out``):
    config.json        everything that defines the run (resume reads it)
    log.txt            what happened, with times
    checkpoint.bin     engine state, written atomically every ``checkpoint_every`` iterations,
                       every ``checkpoint_seconds``, at the end, and on Ctrl-C
    checkpoint.json    iteration / candidates of the last checkpoint (for people and scripts)
    history.csv        one row per candidate: id, iteration, parent, status, structure, params,
                       flops, layers, latency_ms, one column per score, error
    best.json, best.txt  the best architectures (best first) with params, FLOPs and scores
    best_score.png     best score against iterations
    .lock              held while a run writes the directory (a second run refuses, naming the pid)

``resume=True`` continues a run directory where its checkpoint stopped; the continued run is
identical to one that was never interrupted (same history, same best). Rows of history.csv
written after the last checkpoint — or by a run killed before its first checkpoint — are not
scored again: their recorded scores are told to the engine as it re-proposes the same
candidates, and the rows are checked to come out byte-identical. A directory without
config.json is refused (nothing is created). ``iterations`` may be changed on resume (never
below the iterations done) to extend a finished run; zen's ρ schedule, a fraction of T, then
follows the new T. SIGTERM and SIGINT write a checkpoint and raise
:class:`zsnas.interrupts.Interrupted` (a KeyboardInterrupt; the CLI exits 143 / 130).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _core, __version__, defaults
from .arch import Arch
from .data import path_of as data_path_of
from .rundir import RunDirError, RunLock, complete_csv_records, write_atomic

NATIVE = ("params", "flops", "layers", "latency")
AZ_KEYS = ("expressivity", "progressivity", "trainability", "complexity")
STRATEGIES = ("zen", "az", "random")



# ---- configuration --------------------------------------------------------------------------
@dataclass
class SearchConfig:
    """Everything that defines a search; stored as config.json in the run directory."""

    space: dict
    budget: dict
    proxies: List[str]
    strategy: str = defaults.SEARCH_STRATEGY
    iterations: int = defaults.SEARCH_ITERATIONS
    population: int = defaults.SEARCH_POPULATION
    top_k: int = defaults.SEARCH_TOP_K
    seed: int = defaults.SEED
    resolution: int = 32
    num_classes: int = 10
    batch_size: int = defaults.SEARCH_BATCH_SIZE
    repeats: int = defaults.SEARCH_REPEATS
    latency_table: Optional[str] = None  # a JSON block table or a TinyNAS-format folder (zsnas.latency.tables)
    latency_batch: int = 1
    latency_precision: str = "fp32"
    latency_device: str = "cpu"
    rho: List[float] = field(default_factory=lambda: [1.0, 0.1, 0.5])
    warmup: int = 10
    mutations: int = 2
    random_steps: int = 8
    max_rejections: int = 100000
    checkpoint_every: int = defaults.SEARCH_CHECKPOINT_EVERY
    batch: int = 1  # candidates asked per engine round trip (changes the dynamics, so part of the run)
    prefilter: Optional[List[Any]] = None  # [cheap proxy, fraction kept]: two-stage search
    imports: List[str] = field(default_factory=list)  # the user's proxy modules (re-imported on resume)
    data: Optional[dict] = None  # {"path", "sha256"}: the data-fed proxies' images (zsnas.data); None: noise
    zsnas_version: str = __version__

    @property
    def columns(self) -> List[str]:
        return score_columns(self.proxies)

    @property
    def native(self) -> bool:
        return all(c in NATIVE for c in self.columns)


def score_columns(proxies: Sequence[str]) -> List[str]:
    """Engine score columns for a proxy list: "az" becomes its four AZ-NAS numbers."""
    cols: List[str] = []
    for p in proxies:
        cols.extend(f"az_{k}" for k in AZ_KEYS) if p == "az" else cols.append(p)
    if len(set(cols)) != len(cols):
        raise ValueError(f"proxy list {list(proxies)} names a score twice")
    return cols


def _proxy_list(proxy: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(proxy, str):
        names = [p.strip() for p in proxy.split(",") if p.strip()]
    else:
        names = list(proxy)
    if not names:
        raise ValueError("give at least one proxy")
    if all(n in NATIVE for n in names):  # no torch needed
        return names
    from . import proxies as _registered  # noqa: F401  (importing registers the built-in proxies)
    from .proxies.registry import available_proxies

    known = set(available_proxies()) | set(NATIVE)
    for n in names:
        if n not in known:
            raise ValueError(f"unknown proxy {n!r}; registered proxies: {', '.join(sorted(known))}")
    return names


def _budget_dict(budget: Any, latency_table: Optional[str], space_name: Optional[str] = None) -> dict:
    """Normalised budget dict: max_params / max_flops / max_layers / max_latency_ms (-1 = none).

    With `space_name`, the space's paper limits (zsnas.spaces.PAPER_BUDGETS) fill in every limit
    a dict leaves out; a Budget object is taken as it is.
    """
    from .spaces.budget import limit_fields, make_budget, paper_budget

    if isinstance(budget, _core.Budget):
        if budget.latency is not None:
            raise ValueError("search() takes latency limits from a latency table (latency_table=...), "
                             "not from a callable: the engine checks budgets in C++")
        b = budget
    else:
        if budget is not None and not isinstance(budget, dict):
            raise ValueError(f"budget must be a dict such as {{'params': 1e6}} or a zsnas.spaces.Budget, "
                             f"not {type(budget).__name__}")
        fields = {**(paper_budget(space_name) if space_name else {}), **limit_fields(budget or {})}
        for k in ("resolution", "num_classes", "latency"):
            if k in fields:
                raise ValueError(f"search() budget: {k!r} is not a limit here (resolution / num_classes are "
                                 f"search settings; latency limits use latency_ms with a latency_table)")
        latency_ms = fields.pop("max_latency_ms", None)  # the engine checks it against the table
        b = make_budget(fields)
        b.max_latency_ms = -1.0 if latency_ms is None or latency_ms == math.inf else float(latency_ms)
    out = {"max_params": b.max_params, "max_flops": b.max_flops, "max_layers": b.max_layers,
           "max_latency_ms": float(b.max_latency_ms)}
    if out["max_latency_ms"] >= 0 and not latency_table:
        raise ValueError("budget latency_ms needs a latency table: search(..., latency_table='table.json' or a "
                         "folder such as the one `zsnas lut build` or `zsnas lut import-tinynas` writes)")
    return out


def _make_budget(cfg: SearchConfig) -> "_core.Budget":
    b = _core.Budget(max_params=cfg.budget["max_params"], max_flops=cfg.budget["max_flops"],
                     max_layers=cfg.budget["max_layers"], resolution=cfg.resolution, num_classes=cfg.num_classes)
    b.max_latency_ms = cfg.budget["max_latency_ms"]  # validated by the engine once the table is attached
    return b


def _latency_table(cfg: SearchConfig):
    """The C++ latency model of the run (None without a table); a bad table fails here."""
    if not cfg.latency_table:
        return None
    from .latency.tables import open_latency_table

    return open_latency_table(cfg.latency_table, cfg.latency_precision, cfg.latency_batch)


def _engine_kwargs(cfg: SearchConfig, table) -> dict:
    return dict(strategy=cfg.strategy, iterations=cfg.iterations, population=cfg.population, top_k=cfg.top_k,
                seed=cfg.seed, scores=cfg.columns, rho_start=cfg.rho[0], rho_end=cfg.rho[1], rho_fraction=cfg.rho[2],
                warmup=cfg.warmup, mutations=cfg.mutations, random_steps=cfg.random_steps,
                max_rejections=cfg.max_rejections, latency_table=table, latency_batch=cfg.latency_batch,
                latency_precision=cfg.latency_precision, latency_device=cfg.latency_device)


def _space_spec(cfg: SearchConfig) -> "_core.SearchSpace":
    return _core.SearchSpace(cfg.space)


# ---- results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryEntry:
    """One candidate of a search (every unique structure the engine proposed within budget)."""

    id: int
    iteration: int
    parent: int
    status: str  # "ok" | "failed" | "filtered" | "pending"
    structure: str
    params: int
    flops: int
    layers: int
    latency_ms: float
    scores: Dict[str, float]
    error: str

    @property
    def arch(self) -> Arch:
        return Arch(self.structure)


class History(Sequence):
    """Every candidate of a run, in proposal order (backed by the engine; read lazily)."""

    def __init__(self, engine, columns: List[str]):
        self._engine, self._columns = engine, columns

    def __len__(self) -> int:
        return len(self._engine)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"history index {i} out of range ({n} candidates)")
        r = self._engine.record(i)
        return HistoryEntry(id=r["id"], iteration=r["iteration"], parent=r["parent"], status=r["status"],
                            structure=r["structure"], params=r["params"], flops=r["flops"], layers=r["layers"],
                            latency_ms=r["latency_ms"], scores=dict(zip(self._columns, r["scores"])), error=r["error"])

    def __iter__(self) -> Iterator[HistoryEntry]:
        for i in range(len(self)):
            yield self[i]

    def failed(self) -> List[HistoryEntry]:
        return [e for e in self if e.status == "failed"]


class Run:
    """A finished (or interrupted) search: best architecture, its scores, the history."""

    def __init__(self, engine, config: SearchConfig, out: Optional[Path], elapsed: float = 0.0, interrupted=False):
        self.engine, self.config, self.out = engine, config, out
        self.elapsed, self.interrupted = elapsed, interrupted
        self.cache: Optional[dict] = None  # {"path", "hits", "misses"} of this call's score cache

    @property
    def columns(self) -> List[str]:
        return self.config.columns

    @property
    def best_id(self) -> Optional[int]:
        return self.engine.best()

    @property
    def best(self) -> Optional[Arch]:
        b = self.best_id
        return None if b is None else Arch(self.engine.arch(b))

    @property
    def best_scores(self) -> Dict[str, float]:
        """The best candidate's proxy values (plus "aggregate", its Σ ln(rank/m), for several scores)."""
        b = self.best_id
        if b is None:
            return {}
        out = dict(zip(self.columns, self.engine.scores(b)))
        if len(self.columns) > 1:
            out["aggregate"] = self.engine.best_value()
        return out

    @property
    def history(self) -> History:
        return History(self.engine, self.columns)

    @property
    def counters(self) -> dict:
        return self.engine.counters()

    def top(self, n: int = 10) -> List[dict]:
        """The n best candidates (best first): structure, params, FLOPs, layers, scores, value."""
        rows = []
        for rank, (i, value) in enumerate(self.engine.ranking(n)):
            r = self.engine.record(i)
            rows.append({"rank": rank, "id": i, "structure": r["structure"], "resolution": self.config.resolution,
                         "num_classes": self.config.num_classes, "params": r["params"], "flops": r["flops"],
                         "layers": r["layers"], "latency_ms": None if math.isnan(r["latency_ms"]) else r["latency_ms"],
                         "scores": dict(zip(self.columns, r["scores"])), "value": value,
                         "value_kind": "score" if len(self.columns) == 1 else "aggregate Σ ln(rank/m)"})
        return rows

    def failure(self) -> Optional[str]:
        """Why the run has no best architecture (None when it has one)."""
        if self.best_id is not None:
            return None
        c = self.counters
        if c["candidates"] == 0:
            if c["proposals"] == 0:
                return "no candidate was proposed (iterations=0)"
            if c["rejected_invalid"] == c["rejected"] == c["proposals"]:
                return (f"all {c['proposals']} proposals are invalid at resolution {self.config.resolution} "
                        f"(a stride shrinks the feature map below 1 pixel)")
            why = ", ".join(f"{c['rejected_' + k]} over {k}" for k in ("params", "flops", "layers", "latency")
                            if c["rejected_" + k])
            return (f"no candidate fits the budget {_budget_text(self.config.budget)}: all {c['proposals']} "
                    f"proposals were rejected ({why or 'invalid'})")
        first = next((e for e in self.history if e.status == "failed"), None)
        return (f"all {c['candidates']} candidates failed" +
                (f"; the first (id {first.id}) with: {first.error}" if first is not None else ""))

    def summary(self) -> str:
        b = self.best
        if b is None:
            return "no candidate was scored successfully: " + (self.failure() or "")
        r = self.engine.record(self.best_id)
        scores = ", ".join(f"{k} {v:.6g}" for k, v in self.best_scores.items())
        lat = "" if math.isnan(r["latency_ms"]) else f"  latency {r['latency_ms']:.4g} ms"
        return (f"best: {b}\n  params {r['params'] / 1e6:.4f} M  FLOPs {r['flops'] / 1e6:.2f} M  "
                f"layers {r['layers']}{lat}\n  {scores}")

    def __repr__(self) -> str:
        c = self.counters
        return (f"Run(strategy={self.config.strategy!r}, iteration={c['iteration']}/{self.config.iterations}, "
                f"candidates={c['candidates']}, failed={c['failed']}, best={self.best!r})")


def _budget_text(budget: dict) -> str:
    parts = [f"{k[len('max_'):]} <= {v:g}" for k, v in budget.items() if v is not None and v >= 0]
    return "(" + (", ".join(parts) or "none") + ")"


# ---- scoring --------------------------------------------------------------------------------
class CandidateScorer:
    """Scores a batch of the engine's candidates on a scorer backend; native columns come from C++.

    Every candidate gets the same seed: a proxy's value is a function of the architecture, as the
    engine's duplicate cache assumes. The requests carry the counts the engine already has, so
    scoring never calls back into the engine.
    """

    def __init__(self, cfg: SearchConfig, device: str, scorer):
        self.cfg, self.device, self.scorer = cfg, device, scorer
        self.torch_columns = tuple(c for c in cfg.columns if c not in NATIVE)

    def request(self, core_arch, record: dict, proxies: Optional[Sequence[str]] = None):
        from .scoring.request import ScoreRequest
        from .targets import Target

        structure = str(core_arch)
        target = Target(structure, "arch", self.cfg.resolution, self.cfg.num_classes, structure=structure)
        return ScoreRequest(target=target, proxies=tuple(proxies or self.torch_columns), resolution=self.cfg.resolution,
                            num_classes=self.cfg.num_classes, batch_size=self.cfg.batch_size,
                            repeats=self.cfg.repeats, seed=self.cfg.seed, device=self.device,
                            flops=float(record["flops"]), params=int(record["params"]),
                            data=data_path_of(self.cfg.data))

    def __call__(self, engine, cands) -> "list[tuple[list[float], str]]":
        """(values in column order, error) per candidate (id, arch, parent, iteration)."""
        rows = self.scorer.score([self.request(core, engine.record(cid)) for cid, core, _p, _it in cands]) \
            if self.torch_columns else [None] * len(cands)
        out = []
        for (cid, _arch, _p, _it), row in zip(cands, rows):
            if row is not None and row.errors:
                out.append(([math.nan] * len(self.cfg.columns), row.error))
                continue
            out.append(([engine.native_score(cid, c) if c in NATIVE else row.values[c] for c in self.cfg.columns], ""))
        return out

    def prefilter(self, engine, cands) -> "tuple[list, dict]":
        """Two-stage search, stage one: (the candidates the expensive proxies score, {id: reason}
        for the rest). The best ceil(fraction × n) of the batch by the cheap proxy go on; ties by id."""
        name, fraction = self.cfg.prefilter
        if not cands:
            return [], {}
        if name in NATIVE:
            values, errors = [engine.native_score(c[0], name) for c in cands], [""] * len(cands)
        else:
            rows = self.scorer.score([self.request(c[1], engine.record(c[0]), proxies=(name,)) for c in cands])
            values = [r.values.get(name, math.nan) for r in rows]
            errors = [r.error for r in rows]
        k = math.ceil(float(fraction) * len(cands))
        order = sorted(range(len(cands)), key=lambda i: (math.isnan(values[i]), -values[i] if not math.isnan(values[i])
                                                         else 0.0, cands[i][0]))
        kept = {i for i in order[:k] if not math.isnan(values[i])}
        reasons = {}
        for i, c in enumerate(cands):
            if i in kept:
                continue
            reasons[c[0]] = (f"filtered: {name} failed: {errors[i]}" if errors[i] else
                             f"filtered: {name} {values[i]:.9g} not in the best {k} of its batch of {len(cands)}")
        return [c for i, c in enumerate(cands) if i in kept], reasons


# ---- the run directory ----------------------------------------------------------------------
@dataclass
class _PriorRow:
    """A history.csv row already scored, told again on resume instead of re-scored."""

    status: str
    values: List[float]
    error: str


class _RunDir:
    def __init__(self, out: Optional[Path]):
        self.out = out
        self.csv = None  # history.csv, binary
        self.curve: List[List[float]] = []
        self._replay = b""  # bytes of rows already in the file that the run regenerates
        self._replay_pos = 0

    def log(self, msg: str) -> None:
        if self.out is None:
            return
        with open(self.out / "log.txt", "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    def write_json(self, name: str, obj) -> None:
        if self.out is not None:
            write_atomic(self.out / name, json.dumps(obj, indent=2) + "\n")

    def new_csv(self, header: str) -> None:
        if self.out is not None:
            self.csv = open(self.out / "history.csv", "wb")
            self.csv.write(header.encode())

    def reopen_csv(self, header: str, keep: int, columns: List[str], verify: bool) -> Dict[str, _PriorRow]:
        """Continue history.csv after its first `keep` bytes (what the checkpoint covers).

        The complete rows after that point are returned as prior rows, by structure. With
        `verify` (the run continues under the settings that wrote them) the engine regenerates
        them and append() checks that they come out byte-identical before writing past them,
        so nothing is rewritten; a torn last record (kill -9 mid-write) is cut off. Without (T
        changed on resume) they are cut, and their scores serve the candidates that recur.
        """
        p = self.out / "history.csv"
        if not p.exists():
            if keep > len(header):
                raise RunDirError(f"{p} is missing but the checkpoint covers {keep} bytes of it")
            self.new_csv(header)
            return {}
        data = p.read_bytes()
        if not data.startswith(header.encode()):
            raise RunDirError(f"{p} does not start with this run's header {header.strip()!r}")
        if len(data) < keep:
            raise RunDirError(f"{p} holds {len(data)} bytes but the checkpoint covers {keep}: it was cut by hand")
        after = data[keep:].decode(errors="surrogateescape")  # a kill may tear a character too
        records, ends = complete_csv_records(after)
        cut = keep + len(after[:ends[-1]].encode(errors="surrogateescape")) if records else keep
        prior = _parse_rows(records, columns)
        self._replay, self._replay_pos = (data[keep:cut] if verify else b""), 0
        self.csv = open(p, "r+b")
        self.csv.seek(keep)
        if not self._replay:
            self.csv.truncate()
        return prior

    def csv_bytes(self) -> int:
        if self.csv is None:
            return 0
        self.csv.flush()
        return self.csv.tell()

    def append(self, rows: str) -> None:
        if self.csv is None or not rows:
            return
        data = rows.encode()
        left = len(self._replay) - self._replay_pos
        if left > 0:
            n = min(left, len(data))
            if data[:n] != self._replay[self._replay_pos:self._replay_pos + n]:
                raise RunDirError(f"{self.out / 'history.csv'} does not follow from this run's checkpoint and "
                                  f"config.json (a regenerated row differs); was it edited by hand?")
            self._replay_pos += n
            self.csv.seek(n, os.SEEK_CUR)
            data = data[n:]
            if self._replay_pos == len(self._replay):
                self.csv.truncate()  # whatever followed the last complete row
        if data:
            self.csv.write(data)

    def close(self) -> None:
        if self.csv is not None:
            self.csv.close()
            self.csv = None


def _parse_rows(records: List[List[str]], columns: List[str]) -> Dict[str, _PriorRow]:
    rows: Dict[str, _PriorRow] = {}
    first = 9  # id,iteration,parent,status,structure,params,flops,layers,latency_ms
    for r in records:
        if len(r) != first + len(columns) + 1:
            raise RunDirError(f"history.csv row {r[:1]} has {len(r)} fields, not {first + len(columns) + 1}")
        values = [float(v) if v else math.nan for v in r[first:first + len(columns)]]
        rows[r[4]] = _PriorRow(status=r[3], values=values, error=r[-1])
    return rows


def _checkpoint(engine, rd: _RunDir, elapsed: float) -> None:
    if rd.out is None:
        return
    engine.meta = json.dumps({"csv_bytes": rd.csv_bytes(), "curve": rd.curve[-2000:], "elapsed": elapsed})
    engine.save(str(rd.out / "checkpoint.bin"))
    rd.write_json("checkpoint.json", {"iteration": engine.iteration, "candidates": len(engine),
                                       "time": time.strftime("%Y-%m-%d %H:%M:%S")})


def _plot(rd: _RunDir, cfg: SearchConfig) -> None:
    if rd.out is None or not rd.curve:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001
        rd.log(f"no plot: matplotlib unavailable ({e})")
        return
    xs = [p[0] for p in rd.curve]
    ys = [p[1] for p in rd.curve]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(xs, ys, drawstyle="steps-post")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best " + (cfg.columns[0] if len(cfg.columns) == 1 else "aggregated rank score"))
    ax.set_title(f"{cfg.strategy} search, space {cfg.space.get('name')}, proxy {'+'.join(cfg.proxies)}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(rd.out / "best_score.png")
    plt.close(fig)


def _write_best(run: Run, rd: _RunDir, n: int = 10) -> None:
    if rd.out is None or run.best_id is None:
        return
    top = run.top(n)
    rd.write_json("best.json", top)
    (rd.out / "best.txt").write_text("\n".join(r["structure"] for r in top) + "\n")


# ---- the search -----------------------------------------------------------------------------
class RunExists(RunDirError):
    """`out` already holds a search and resume was not asked for."""


def search(space: Any = None, budget: Any = None, proxy: Union[str, Sequence[str], None] = None,
           iterations: Optional[int] = None, strategy: Optional[str] = None, population: Optional[int] = None,
           seed: Optional[int] = None, device: Optional[str] = None, out: Union[str, os.PathLike, None] = None,
           resume: bool = False, *, default_budget: bool = True, top_k: Optional[int] = None,
           resolution: Optional[int] = None, num_classes: Optional[int] = None, batch_size: Optional[int] = None,
           repeats: Optional[int] = None, latency_table: Union[str, os.PathLike, None] = None,
           latency_batch: Optional[int] = None, latency_precision: Optional[str] = None,
           latency_device: Optional[str] = None, rho: Optional[Sequence[float]] = None, warmup: Optional[int] = None,
           mutations: Optional[int] = None, random_steps: Optional[int] = None, max_rejections: Optional[int] = None,
           checkpoint_every: Optional[int] = None, checkpoint_seconds: float = defaults.SEARCH_CHECKPOINT_SECONDS,
           batch: Optional[int] = None, backend: str = "local", workers: int = 1, threads: Optional[int] = None,
           ray_address: Optional[str] = None, cache: Union[str, os.PathLike, None] = "auto",
           prefilter: Optional[Tuple[str, float]] = None, initial: Any = None,
           imports: Optional[Sequence[str]] = None, progress: bool = True, data: Optional[str] = None) -> Run:
    """Search `space` for the best architecture by `proxy` within `budget`.

    Defaults (zsnas.defaults; the CLI has the same): space "res", proxy "zen", strategy "zen",
    1000 iterations, the space's resolution / classes, batch 64 and one repeat, seed 0, device
    "auto" (cuda when available), and the space's paper budget.

    space: "res", "mbv2", a registered name, a zsnas.spaces.SearchSpace or a space dict.
        initial: where the search starts instead of the space's initial structure (a structure
        string or zoo name; part of the space, so part of the run).
    budget: {"params": 1e6, "flops": 400e6, "layers": 18, "latency_ms": 5} (any subset; None or
        inf = no limit). default_budget: the space's paper limits (res: params 1 M and 18
        layers; mbv2: 400 M FLOPs and 14 layers) fill in every limit `budget` leaves out;
        False searches with only the limits given.
    proxy: a registered proxy name, a comma-separated string or a list; several are aggregated
        by rank. strategy: "zen", "az" or "random". iterations: T. population: zen's N
        (default 512). top_k: az's k (default 1024).
    resolution / num_classes: default the space's (res: 32 / 10). batch_size / repeats: the
        proxies' batch and repeats (the search setting of REFERENCE §3).
    latency_table: what the latency_ms budget and the native "latency" score read, at
        latency_batch / latency_precision (default 1 / fp32): a JSON block table (exact block
        signatures; latency_device picks its entries), or a folder in TinyNAS's format -- one
        `zsnas lut build` measured on a machine, or TinyNAS's V100 TensorRT tables
        (`zsnas lut import-tinynas`, precisions fp32 / fp16 / int8) -- whose convolutions
        predict any network (zsnas.latency.tables). Both are evaluated in C++.
    out: run directory (None: nothing is written, nothing can be resumed). resume: continue the
        run in `out`; its config.json defines the run, and any argument given must agree with it
        (except iterations, which extends or shortens the run, and checkpoint_every).
    batch: candidates asked per engine round trip and scored together (default 1, which keeps
        zen's dynamics exactly sequential: Zen-NAS Algorithm 2). The same seed and batch give
        the same history whatever the backend.
    backend: where the proxies run: "local" (this process), "pool" (`workers` processes of
        `threads` torch threads) or "ray" (`workers` actors; on the cluster at `ray_address`,
        else a local token-authenticated one). Not part of the run: a resume may use another.
    prefilter: (cheap proxy, fraction), e.g. ("synflow", 0.25) or ("flops", 0.5): two-stage
        search. Each asked batch is ranked by the cheap proxy (native or registered) and only
        the best ceil(fraction × batch) get the expensive proxies; the rest are recorded with
        status "filtered" and their cheap score. Needs batch >= 2; part of the run.
    cache: a score cache file (SQLite; several processes may share one) that answers the
        (architecture, proxy, setting) scores it holds and keeps the new ones: "auto" =
        OUT/scores.sqlite (none without out), None = no cache. run.cache says hits / misses.
    imports: modules (or .py files) defining the proxies named, imported now and on resume.
    data: a CIFAR-10/100 python folder or an .npz (zsnas.data) the data-fed proxies draw their
        batches from instead of noise; part of the run (its SHA-256 is checked on resume).

    Returns a Run (run.best, run.best_scores, run.history, run.top(n); run.failure() says why a
    run has no best). Every argument is checked before anything is written: a bad one raises
    ValueError naming it. Ctrl-C / SIGTERM write a checkpoint and raise KeyboardInterrupt
    (zsnas.interrupts.Interrupted for a signal).
    """
    from .devices import resolve_device
    from .interrupts import StopSignals

    given = dict(space=space, initial=initial, budget=budget, proxy=proxy, iterations=iterations, strategy=strategy,
                 population=population, seed=seed, top_k=top_k, resolution=resolution, num_classes=num_classes,
                 batch_size=batch_size, repeats=repeats, latency_table=latency_table, latency_batch=latency_batch,
                 latency_precision=latency_precision, latency_device=latency_device, rho=rho, warmup=warmup,
                 mutations=mutations, random_steps=random_steps, max_rejections=max_rejections,
                 checkpoint_every=checkpoint_every, batch=batch,
                 prefilter=None if prefilter is None else list(prefilter), data=data)
    out_path = Path(out) if out is not None else None
    if resume:
        if out_path is None:
            raise ValueError("resume=True needs the run directory: out=...")
        if not (out_path / "config.json").is_file():
            what = "does not exist" if not out_path.exists() else "holds no search (no config.json)"
            raise RunDirError(f"cannot resume {out_path}: it {what}; nothing was changed")
    user_imports = _import_user_proxies(imports or ())
    device = resolve_device(device)
    if not resume:
        cfg = _new_config(given, default_budget, user_imports)
        _check_runnable(cfg)
    with contextlib.ExitStack() as stack:
        lock = stack.enter_context(RunLock(out_path)) if out_path is not None else None  # creates out
        rd = _RunDir(out_path)
        stack.callback(rd.close)
        extended = False
        if resume:
            cfg = _load_config(out_path / "config.json")
            _import_user_proxies(cfg.imports)
            extended = _check_agrees(cfg, given)
            _check_runnable(cfg)
        elif out_path is not None and (out_path / "config.json").exists():
            raise RunExists(f"{out_path} already holds a search (config.json): resume it or choose another out")
        from .scoring.backends import get_scorer

        if cache == "auto":
            cache = out_path / "scores.sqlite" if out_path is not None else None
        # A bad backend or cache file fails here, before the run directory is written.
        scorer = None if cfg.native else stack.enter_context(
            get_scorer(backend, workers=workers, threads=threads, address=ray_address, imports=cfg.imports,
                       cache=None if cache is None else str(cache)))
        table = _latency_table(cfg)
        core_space, core_budget, kwargs = _space_spec(cfg), _make_budget(cfg), _engine_kwargs(cfg, table)
        ckpt = out_path / "checkpoint.bin" if out_path is not None else None
        prior: Dict[str, _PriorRow] = {}
        elapsed0 = 0.0
        if resume and ckpt.exists():
            engine = _core.Engine.load(str(ckpt), core_space, core_budget, **kwargs)
            meta = json.loads(engine.meta or b"{}")
            rd.curve = [list(p) for p in meta.get("curve", [])]
            elapsed0 = float(meta.get("elapsed", 0.0))
            prior = rd.reopen_csv(engine.csv_header(), int(meta.get("csv_bytes", 0)), cfg.columns,
                                  verify=not extended)
            rd.log(f"resume from checkpoint at iteration {engine.iteration} ({len(engine)} candidates), "
                   f"device {device}; {len(prior)} rows after it are told again, not re-scored")
        else:
            engine = _core.Engine(core_space, core_budget, **kwargs)
            if resume:  # killed before its first checkpoint: every row in history.csv is reused
                prior = rd.reopen_csv(engine.csv_header(), len(engine.csv_header()), cfg.columns,
                                      verify=not extended)
                rd.log(f"resume without a checkpoint: start again from config.json, telling the {len(prior)} "
                       f"scored rows of history.csv instead of re-scoring them; device {device}")
            elif out_path is not None:
                rd.write_json("config.json", asdict(cfg))
                rd.new_csv(engine.csv_header())
                rd.log(f"start: {cfg.strategy} search of space {cfg.space['name']}, proxies {cfg.proxies}, "
                       f"{cfg.iterations} iterations, budget {cfg.budget}, seed {cfg.seed}, device {device}")
        if extended:
            rd.write_json("config.json", asdict(cfg))
            rd.log(f"iterations changed to {cfg.iterations}")
        if lock is not None and lock.describe_stale():
            rd.log(lock.describe_stale())
        with StopSignals() as stop:
            run = _drive(engine, cfg, rd, device, elapsed0, checkpoint_seconds, progress, prior, stop, scorer)
        store = getattr(scorer, "cache", None)
        if store is not None:
            run.cache = store.stats()
            rd.log(f"score cache {store.path}: {store.hits} hits, {store.misses} misses")
        return run


def _import_user_proxies(imports: Sequence[str]) -> List[str]:
    if not imports:
        return []
    from .proxies.registry import import_modules

    return import_modules(imports)


# Settings search() copies into SearchConfig as given (the others -- space, initial, budget,
# proxy, strategy, rho, latency table / model -- are resolved first).
PLAIN_SETTINGS = ("iterations", "population", "top_k", "seed", "resolution", "num_classes", "batch_size", "repeats",
                  "latency_batch", "latency_precision", "latency_device", "warmup", "mutations", "random_steps",
                  "max_rejections", "checkpoint_every", "batch", "prefilter")


def _new_config(given: dict, default_budget: bool, imports: Sequence[str]) -> SearchConfig:
    from .spaces import SearchSpace, get_space

    sp = get_space(given["space"] if given["space"] is not None else defaults.SEARCH_SPACE)
    if given.get("initial") is not None:
        from .targets import resolve_target

        start = resolve_target(given["initial"])
        if start.kind != "arch":
            raise ValueError(f"a search starts from a structure string or a zoo name, not {start.name!r}")
        sp = SearchSpace.from_dict({**sp.to_dict(), "initial": start.structure})
    proxies = _proxy_list(given["proxy"] if given["proxy"] is not None else defaults.SEARCH_PROXY)
    strategy = given["strategy"] or defaults.SEARCH_STRATEGY
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (zen, az, random)")
    table = given["latency_table"]
    if table is not None and not Path(table).exists():
        raise ValueError(f"latency table {table} does not exist")
    cfg = SearchConfig(space=sp.to_dict(), budget=_budget_dict(given["budget"], table,
                                                               sp.name if default_budget else None),
                       proxies=proxies, strategy=strategy, resolution=sp.resolution, num_classes=sp.num_classes,
                       imports=list(imports))
    if table is not None:
        cfg.latency_table = str(Path(table).resolve())
    for k in PLAIN_SETTINGS:
        if given[k] is not None:
            setattr(cfg, k, given[k])
    if given.get("data") is not None:
        from .data import settings

        cfg.data = settings(given["data"])
    if given["rho"] is not None:
        rho = [float(x) for x in given["rho"]]
        if len(rho) != 3:
            raise ValueError("rho must be (start, end, fraction of T), e.g. (1.0, 0.1, 0.5)")
        cfg.rho = rho
    return cfg


# Settings that must be whole numbers at least this large.
_MINIMUM = {"iterations": 0, "population": 1, "top_k": 1, "seed": 0, "resolution": 1, "num_classes": 1,
            "batch_size": 1, "repeats": 1, "latency_batch": 1, "warmup": 0, "mutations": 1, "random_steps": 0,
            "max_rejections": 1, "checkpoint_every": 1, "batch": 1}


def _check_runnable(cfg: SearchConfig) -> None:
    """Every setting of a run that would otherwise fail on every candidate, checked up front."""
    for k, low in _MINIMUM.items():
        v = getattr(cfg, k)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{k} must be a whole number >= {low}, got {v!r}")
    if not cfg.native:
        from .scoring.runner import check_request_proxies

        check_request_proxies([c for c in cfg.columns if c not in NATIVE], cfg.batch_size)
    if cfg.data is not None:  # the data still as the run began, and fitting its networks
        from .data import check_fits, check_settings

        check_fits(check_settings(cfg.data), 3, cfg.resolution, cfg.num_classes)
    if cfg.prefilter is not None:
        if len(cfg.prefilter) != 2 or not isinstance(cfg.prefilter[0], str):
            raise ValueError(f"prefilter must be (cheap proxy, fraction kept), got {cfg.prefilter!r}")
        name, fraction = cfg.prefilter
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise ValueError(f"prefilter fraction must be in (0, 1), got {fraction!r}")
        if cfg.native:
            raise ValueError("prefilter: every proxy of this search is native (cheap) already")
        if cfg.batch < 2:
            raise ValueError("prefilter ranks the candidates of a batch: give batch >= 2")
        if name == "latency" and not cfg.latency_table:
            raise ValueError("prefilter by latency needs a latency table")
        if name not in NATIVE:
            from .scoring.runner import check_request_proxies

            check_request_proxies([name], cfg.batch_size)
    try:
        Arch(cfg.space["initial"]).flops(resolution=cfg.resolution, num_classes=cfg.num_classes)
    except ValueError as e:
        raise ValueError(f"resolution {cfg.resolution} does not fit space {cfg.space['name']!r}: its initial "
                         f"structure fails there ({e}), and so would every candidate") from None


def _load_config(path: Path) -> SearchConfig:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path} cannot be read: {e}") from None
    known = {f for f in SearchConfig.__dataclass_fields__}
    old = d.pop("latency_model", None)  # runs of 2026-12-01: "tinynas:DIR:PRECISION", now a table folder
    if old:
        directory, _, precision = str(old).partition(":")[2].rpartition(":")
        d["latency_table"], d["latency_precision"] = directory, precision
    return SearchConfig(**{k: v for k, v in d.items() if k in known})


def _check_agrees(cfg: SearchConfig, given: dict) -> bool:
    """Arguments passed on resume must match the stored run (else the run would silently change).

    iterations and checkpoint_every may differ: they are taken (returns True when iterations
    changed, so config.json is rewritten).
    """
    from .spaces import get_space

    diffs = []
    extended = False
    for k, v in given.items():
        if v is None:
            continue
        if k == "checkpoint_every":  # does not change the run: take the new value
            cfg.checkpoint_every = int(v)
            continue
        if k == "iterations":
            extended = int(v) != cfg.iterations
            cfg.iterations = int(v)
            continue
        if k == "space":
            mine, theirs = get_space(v).to_dict(), cfg.space
            if given.get("initial") is not None:
                mine = {**mine, "initial": cfg.space["initial"]}  # compared on its own below
        elif k == "initial":
            from .targets import resolve_target

            mine, theirs = resolve_target(v).structure, cfg.space["initial"]
        elif k == "budget":
            mine, theirs = _budget_dict(v, cfg.latency_table), cfg.budget
        elif k == "proxy":
            mine, theirs = _proxy_list(v), cfg.proxies
        elif k == "latency_table":
            mine, theirs = str(Path(v).resolve()), cfg.latency_table
        elif k == "rho":
            mine, theirs = [float(x) for x in v], cfg.rho
        elif k == "prefilter":
            mine, theirs = list(v), cfg.prefilter
        elif k == "data":
            from .data import settings

            mine, theirs = settings(v), cfg.data
        else:
            mine, theirs = v, getattr(cfg, k)
        if mine != theirs:
            diffs.append(f"{k}: the run has {theirs!r}, given {mine!r}")
    if diffs:
        raise ValueError("resume: arguments differ from the run's config.json — " + "; ".join(diffs))
    return extended


def _drive(engine, cfg: SearchConfig, rd: _RunDir, device: str, elapsed0: float, checkpoint_seconds: float,
           progress: bool, prior: Dict[str, _PriorRow], stop, backend) -> Run:
    from .progress import progress_bar

    scorer = None if cfg.native else CandidateScorer(cfg, device, backend)
    t0 = time.perf_counter()
    last_ckpt_time = t0
    last_ckpt_block = engine.iteration // cfg.checkpoint_every
    ckpt_cost = 0.0
    last_refresh = 0.0
    written = len(engine) - len(engine.pending()) if cfg.native else None
    bar = progress_bar(cfg.iterations, f"{cfg.strategy} search", unit="it", enabled=progress,
                       initial=engine.iteration)

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t0

    def refresh(force: bool = False) -> None:
        nonlocal last_refresh
        now = time.perf_counter()
        if not force and now - last_refresh < 0.25:
            return
        last_refresh = now
        c = engine.counters()
        best = engine.best_value() if engine.best() is not None else float("nan")
        if not math.isnan(best):
            if not rd.curve or rd.curve[-1][1] != best:
                rd.curve.append([engine.iteration, best])
        bar.n = engine.iteration
        bar.set_postfix_str(f"best {best:.5g} cand {c['candidates']} fail {c['failed']} rej {c['rejected']}",
                            refresh=False)
        bar.refresh()

    def score(cands) -> "tuple[dict, dict]":
        """({id: (values, error)} to tell, {id: reason} to filter) for one asked batch. Rows already
        in history.csv are told (or filtered) as they were; the rest go to the scorer together."""
        told, filtered = {}, {}
        fresh = []
        for c in cands:
            row = prior.pop(str(c[1]), None)
            if row is None:
                fresh.append(c)
            elif row.status == "filtered":
                filtered[c[0]] = row.error
            else:
                told[c[0]] = (row.values, row.error)
        if cfg.prefilter:
            fresh, reasons = scorer.prefilter(engine, fresh)
            filtered.update(reasons)
        told.update(zip([c[0] for c in fresh], scorer(engine, fresh) if fresh else []))
        return told, filtered

    try:
        chunk = 256
        while not engine.finished:
            if cfg.native:
                t = time.perf_counter()
                with stop.critical():
                    engine.run_native(chunk)
                    n = len(engine)
                    rd.append(engine.csv_rows_range(written, n))
                    written = n
                dt = time.perf_counter() - t
                chunk = int(max(64, min(1 << 20, chunk * (0.2 / dt if dt > 0 else 2))))
            else:
                cands = engine.ask(cfg.batch)
                if not cands:
                    break
                told, filtered = score(cands)
                ids = sorted(told)
                with stop.critical():
                    if filtered:
                        engine.filter(sorted(filtered), [filtered[i] for i in sorted(filtered)])
                    engine.tell(ids, [told[i][0] for i in ids], [told[i][1] for i in ids])
                    rd.append(engine.csv_rows([c[0] for c in cands]))
            refresh()
            block = engine.iteration // cfg.checkpoint_every
            now = time.perf_counter()
            # Every checkpoint_every iterations, but never spending more than ~5 % of the time
            # writing checkpoints (a fast native search over a long history), and at least every
            # checkpoint_seconds.
            if (block != last_ckpt_block and now - last_ckpt_time >= 20 * ckpt_cost) or \
                    now - last_ckpt_time >= checkpoint_seconds:
                with stop.critical():
                    _checkpoint(engine, rd, elapsed())
                ckpt_cost = time.perf_counter() - now
                last_ckpt_block, last_ckpt_time = block, time.perf_counter()
                rd.log(f"checkpoint at iteration {engine.iteration} ({len(engine)} candidates)")
    except KeyboardInterrupt as e:
        stop.stopping()
        refresh(force=True)
        bar.close()
        _checkpoint(engine, rd, elapsed())
        rd.log(f"interrupted ({getattr(e, 'signame', 'KeyboardInterrupt')}) at iteration {engine.iteration}; "
               f"checkpoint written")
        raise
    bar.close()
    refresh(force=True)
    if engine.best() is not None:
        rd.curve.append([engine.iteration, engine.best_value()])
    _checkpoint(engine, rd, elapsed())
    run = Run(engine, cfg, rd.out, elapsed())
    _write_best(run, rd)
    _plot(rd, cfg)
    c = engine.counters()
    rd.log(f"done: {c} in {run.elapsed:.1f} s; " + run.summary().replace("\n", " |"))
    return run


def load_run(out: Union[str, os.PathLike]) -> Run:
    """The Run of a run directory as of its last checkpoint (for reports; nothing is scored)."""
    out = Path(out)
    cfg = _load_config(out / "config.json")
    table = _core.LatencyTable.load(cfg.latency_table) if cfg.latency_table else None
    engine = _core.Engine.load(str(out / "checkpoint.bin"), _space_spec(cfg), _make_budget(cfg),
                               **_engine_kwargs(cfg, table))
    meta = json.loads(engine.meta or b"{}")
    return Run(engine, cfg, out, float(meta.get("elapsed", 0.0)))


__all__ = ["search", "load_run", "Run", "RunExists", "History", "HistoryEntry", "SearchConfig", "CandidateScorer",
           "score_columns", "NATIVE"]
