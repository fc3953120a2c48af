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
``resume=True`` continues a run directory where its checkpoint stopped; the continued run is
identical to one that was never interrupted (same history, same best).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from . import _core, __version__
from .arch import Arch

NATIVE = ("params", "flops", "layers", "latency")
AZ_KEYS = ("expressivity", "progressivity", "trainability", "complexity")
STRATEGIES = ("zen", "az", "random")

_FILES = ("config.json", "log.txt", "checkpoint.bin", "checkpoint.json", "history.csv", "best.json", "best.txt",
          "best_score.png")


# ---- configuration --------------------------------------------------------------------------
@dataclass
class SearchConfig:
    """Everything that defines a search; stored as config.json in the run directory."""

    space: dict
    budget: dict
    proxies: List[str]
    strategy: str = "zen"
    iterations: int = 1000
    population: int = 512
    top_k: int = 1024
    seed: int = 0
    resolution: int = 32
    num_classes: int = 10
    batch_size: int = 64
    repeats: int = 1
    latency_table: Optional[str] = None
    latency_batch: int = 1
    latency_precision: str = "fp32"
    latency_device: str = "cpu"
    rho: List[float] = field(default_factory=lambda: [1.0, 0.1, 0.5])
    warmup: int = 10
    mutations: int = 2
    random_steps: int = 8
    max_rejections: int = 100000
    checkpoint_every: int = 1000
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


def _budget_dict(budget: Any, latency_table: Optional[str]) -> dict:
    """Normalised budget dict: max_params / max_flops / max_layers / max_latency_ms (-1 = none)."""
    out = {"max_params": -1, "max_flops": -1, "max_layers": -1, "max_latency_ms": -1.0}
    if budget is None:
        return out
    if isinstance(budget, _core.Budget):
        if budget.latency is not None:
            raise ValueError("search() takes latency limits from a latency table (latency_table=...), "
                             "not from a callable: the engine checks budgets in C++")
        return {"max_params": budget.max_params, "max_flops": budget.max_flops, "max_layers": budget.max_layers,
                "max_latency_ms": budget.max_latency_ms}
    aliases = {"params": "max_params", "flops": "max_flops", "layers": "max_layers", "latency_ms": "max_latency_ms"}
    for key, value in dict(budget).items():
        field_ = aliases.get(key, key)
        if field_ not in out:
            raise ValueError(f"unknown budget key {key!r} (known: params, flops, layers, latency_ms)")
        if value is None:
            value = -1
        if field_ == "max_latency_ms":
            out[field_] = float(value)
        else:
            if isinstance(value, bool) or float(value) != int(value):
                raise ValueError(f"budget {key}={value!r} must be a whole number")
            out[field_] = int(value)
    if out["max_latency_ms"] >= 0 and not latency_table:
        raise ValueError("budget latency_ms needs a latency table: search(..., latency_table='table.json')")
    return out


def _make_budget(cfg: SearchConfig) -> "_core.Budget":
    b = _core.Budget(max_params=cfg.budget["max_params"], max_flops=cfg.budget["max_flops"],
                     max_layers=cfg.budget["max_layers"], resolution=cfg.resolution, num_classes=cfg.num_classes)
    b.max_latency_ms = cfg.budget["max_latency_ms"]  # validated by the engine once the table is attached
    return b


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
    status: str  # "ok" | "failed" | "pending"
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
            rows.append({"rank": rank, "id": i, "structure": r["structure"], "params": r["params"], "flops": r["flops"],
                         "layers": r["layers"], "latency_ms": None if math.isnan(r["latency_ms"]) else r["latency_ms"],
                         "scores": dict(zip(self.columns, r["scores"])), "value": value,
                         "value_kind": "score" if len(self.columns) == 1 else "aggregate Σ ln(rank/m)"})
        return rows

    def summary(self) -> str:
        b = self.best
        if b is None:
            return "no candidate was scored successfully"
        r = self.engine.record(self.best_id)
        scores = ", ".join(f"{k} {v:.6g}" for k, v in self.best_scores.items())
        lat = "" if math.isnan(r["latency_ms"]) else f"  latency {r['latency_ms']:.4g} ms"
        return (f"best: {b}\n  params {r['params'] / 1e6:.4f} M  FLOPs {r['flops'] / 1e6:.2f} M  "
                f"layers {r['layers']}{lat}\n  {scores}")

    def __repr__(self) -> str:
        c = self.counters
        return (f"Run(strategy={self.config.strategy!r}, iteration={c['iteration']}/{self.config.iterations}, "
                f"candidates={c['candidates']}, failed={c['failed']}, best={self.best!r})")


# ---- scoring --------------------------------------------------------------------------------
class ProxyScorer:
    """Scores one candidate with the registered (non-native) proxies; native columns come from C++.

    Every candidate gets the same seed: a proxy's value is a function of the architecture, as the
    engine's duplicate cache assumes.
    """

    def __init__(self, cfg: SearchConfig, device):
        import torch

        from . import proxies as _registered  # noqa: F401  (registers the built-in proxies)

        self.cfg = cfg
        self.device = torch.device(device)
        self.columns = cfg.columns
        self.torch_proxies = [p for p in cfg.proxies if p not in NATIVE]

    def __call__(self, engine, cid: int, core_arch) -> "tuple[list[float], str]":
        import torch

        from .nn.arch_net import build_model
        from .proxies.registry import ProxyContext, run_proxy

        values: Dict[str, float] = {}
        for c in self.columns:
            if c in NATIVE:
                values[c] = engine.native_score(cid, c)
        if self.torch_proxies:
            arch = Arch(core_arch)
            rec = engine.record(cid)
            nc = self.cfg.num_classes
            ctx = ProxyContext(build=lambda residual=True: build_model(arch, residual=residual, num_classes=nc),
                               resolution=self.cfg.resolution, batch_size=self.cfg.batch_size,
                               repeats=self.cfg.repeats, device=self.device, seed=self.cfg.seed, num_classes=nc,
                               flops=float(rec["flops"]), params=int(rec["params"]))
            try:
                for p in self.torch_proxies:
                    res = run_proxy(p, ctx)
                    if p == "az":
                        for k in AZ_KEYS:
                            values[f"az_{k}"] = float(res.sub_scores[k])
                    else:
                        values[p] = float(res.value)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 — a failed candidate is recorded, the search goes on
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                return [math.nan] * len(self.columns), f"{type(e).__name__}: {e}"[:500]
        return [values[c] for c in self.columns], ""


# ---- the run directory ----------------------------------------------------------------------
class _RunDir:
    def __init__(self, out: Optional[Path]):
        self.out = out
        self.csv = None
        self.curve: List[List[float]] = []

    def path(self, name: str) -> Optional[Path]:
        return None if self.out is None else self.out / name

    def log(self, msg: str) -> None:
        if self.out is None:
            return
        with open(self.out / "log.txt", "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    def write_json(self, name: str, obj) -> None:
        if self.out is None:
            return
        tmp = self.out / f".{name}.tmp"
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
        os.replace(tmp, self.out / name)

    def open_csv(self, header: str, truncate_to: Optional[int]) -> None:
        if self.out is None:
            return
        p = self.out / "history.csv"
        if truncate_to is None or not p.exists():
            self.csv = open(p, "w")
            self.csv.write(header)
        else:
            # Rows written after the checkpoint are recomputed identically: drop them.
            with open(p, "r+") as f:
                f.truncate(truncate_to)
            self.csv = open(p, "a")
        self.csv.flush()

    def csv_bytes(self) -> int:
        if self.csv is None:
            return 0
        self.csv.flush()
        return self.csv.tell()

    def append(self, rows: str) -> None:
        if self.csv is not None and rows:
            self.csv.write(rows)

    def close(self) -> None:
        if self.csv is not None:
            self.csv.close()
            self.csv = None


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
def _default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def search(space: Any = None, budget: Any = None, proxy: Union[str, Sequence[str], None] = None,
           iterations: Optional[int] = None, strategy: Optional[str] = None, population: Optional[int] = None,
           seed: Optional[int] = None, device: Optional[str] = None, out: Union[str, os.PathLike, None] = None,
           resume: bool = False, *, top_k: Optional[int] = None, resolution: Optional[int] = None,
           num_classes: Optional[int] = None, batch_size: Optional[int] = None, repeats: Optional[int] = None,
           latency_table: Union[str, os.PathLike, None] = None, latency_batch: Optional[int] = None,
           latency_precision: Optional[str] = None, latency_device: Optional[str] = None,
           rho: Optional[Sequence[float]] = None, warmup: Optional[int] = None, mutations: Optional[int] = None,
           random_steps: Optional[int] = None, max_rejections: Optional[int] = None,
           checkpoint_every: Optional[int] = None, checkpoint_seconds: float = 60.0, batch: int = 1,
           progress: bool = True) -> Run:
    """Search `space` for the best architecture by `proxy` within `budget`.

    space: "res" (default), "mbv2", a registered name, a zsnas.spaces.SearchSpace or a space dict.
    budget: {"params": 1e6, "flops": 400e6, "layers": 18, "latency_ms": 5} (any subset; None = no limit).
    proxy: a registered proxy name, a comma-separated string or a list (default "zen"); several
        are aggregated by rank. strategy: "zen" (default), "az" or "random". iterations: T
        (default 1000). population: zen's N (default 512). top_k: az's k (default 1024).
    resolution / num_classes: default the space's (res: 32 / 10). batch_size / repeats: the
        proxies' batch and repeats (default 64 / 1, the search setting of REFERENCE §3).
    latency_table: a LatencyTable JSON for the latency_ms budget and the native "latency" score,
        read at latency_batch / latency_precision / latency_device (default 1 / fp32 / cpu).
    out: run directory (None: nothing is written, nothing can be resumed). resume: continue the
        run in `out`; its config.json defines the run, and any argument given must agree with it.
    batch: candidates asked per engine round trip (1 keeps zen's dynamics exactly sequential).

    Returns a Run (run.best, run.best_scores, run.history, run.top(n)). Ctrl-C writes a
    checkpoint and re-raises KeyboardInterrupt.
    """
    given = dict(space=space, budget=budget, proxy=proxy, iterations=iterations, strategy=strategy,
                 population=population, seed=seed, top_k=top_k, resolution=resolution, num_classes=num_classes,
                 batch_size=batch_size, repeats=repeats, latency_table=latency_table, latency_batch=latency_batch,
                 latency_precision=latency_precision, latency_device=latency_device, rho=rho, warmup=warmup,
                 mutations=mutations, random_steps=random_steps, max_rejections=max_rejections,
                 checkpoint_every=checkpoint_every)
    out_path = Path(out) if out is not None else None
    ckpt = out_path / "checkpoint.bin" if out_path is not None else None
    resuming = bool(resume and ckpt is not None and ckpt.exists())
    if resume and out_path is None:
        raise ValueError("resume=True needs the run directory: out=...")
    if out_path is not None and not resume and (out_path / "config.json").exists():
        raise ValueError(f"{out_path} already holds a search (config.json); pass resume=True to continue it "
                         f"or choose another out")
    if resuming:
        cfg = _load_config(out_path / "config.json")
        _check_agrees(cfg, given)
    else:
        cfg = _new_config(given)
    device = device or _default_device()

    table = None
    if cfg.latency_table:
        table = _core.LatencyTable.load(cfg.latency_table)
    core_space = _space_spec(cfg)
    core_budget = _make_budget(cfg)
    kwargs = _engine_kwargs(cfg, table)

    rd = _RunDir(out_path)
    elapsed0 = 0.0
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
    if resuming:
        engine = _core.Engine.load(str(ckpt), core_space, core_budget, **kwargs)
        meta = json.loads(engine.meta or b"{}")
        rd.curve = [list(p) for p in meta.get("curve", [])]
        elapsed0 = float(meta.get("elapsed", 0.0))
        rd.open_csv(engine.csv_header(), truncate_to=int(meta.get("csv_bytes", 0)))
        rd.log(f"resume from checkpoint at iteration {engine.iteration} ({len(engine)} candidates), device {device}")
    else:
        engine = _core.Engine(core_space, core_budget, **kwargs)
        if out_path is not None:
            rd.write_json("config.json", asdict(cfg))
            rd.open_csv(engine.csv_header(), truncate_to=None)
            rd.log(f"start: {cfg.strategy} search of space {cfg.space['name']}, proxies {cfg.proxies}, "
                   f"{cfg.iterations} iterations, budget {cfg.budget}, seed {cfg.seed}, device {device}")

    run = _drive(engine, cfg, rd, device, elapsed0, checkpoint_seconds, batch, progress)
    return run


def _new_config(given: dict) -> SearchConfig:
    from .spaces import get_space

    sp = get_space(given["space"] if given["space"] is not None else "res")
    proxies = _proxy_list(given["proxy"] if given["proxy"] is not None else "zen")
    strategy = given["strategy"] or "zen"
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (zen, az, random)")
    table = given["latency_table"]
    cfg = SearchConfig(space=sp.to_dict(), budget=_budget_dict(given["budget"], table), proxies=proxies,
                       strategy=strategy, resolution=sp.resolution, num_classes=sp.num_classes)
    if table is not None:
        cfg.latency_table = str(Path(table).resolve())
    for k in ("iterations", "population", "top_k", "seed", "resolution", "num_classes", "batch_size", "repeats",
              "latency_batch", "latency_precision", "latency_device", "warmup", "mutations", "random_steps",
              "max_rejections", "checkpoint_every"):
        if given[k] is not None:
            setattr(cfg, k, given[k])
    if given["rho"] is not None:
        rho = [float(x) for x in given["rho"]]
        if len(rho) != 3:
            raise ValueError("rho must be (start, end, fraction of T), e.g. (1.0, 0.1, 0.5)")
        cfg.rho = rho
    if cfg.iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {cfg.iterations}")
    if cfg.checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {cfg.checkpoint_every}")
    return cfg


def _load_config(path: Path) -> SearchConfig:
    d = json.loads(Path(path).read_text())
    known = {f for f in SearchConfig.__dataclass_fields__}
    return SearchConfig(**{k: v for k, v in d.items() if k in known})


def _check_agrees(cfg: SearchConfig, given: dict) -> None:
    """Arguments passed on resume must match the stored run (else the run would silently change)."""
    from .spaces import get_space

    diffs = []
    for k, v in given.items():
        if v is None:
            continue
        if k == "checkpoint_every":  # does not change the run: take the new value
            cfg.checkpoint_every = int(v)
            continue
        if k == "space":
            mine, theirs = get_space(v).to_dict(), cfg.space
        elif k == "budget":
            mine, theirs = _budget_dict(v, cfg.latency_table), cfg.budget
        elif k == "proxy":
            mine, theirs = _proxy_list(v), cfg.proxies
        elif k == "latency_table":
            mine, theirs = str(Path(v).resolve()), cfg.latency_table
        elif k == "rho":
            mine, theirs = [float(x) for x in v], cfg.rho
        else:
            mine, theirs = v, getattr(cfg, k)
        if mine != theirs:
            diffs.append(f"{k}: the run has {theirs!r}, given {mine!r}")
    if diffs:
        raise ValueError("resume: arguments differ from the run's config.json — " + "; ".join(diffs))


def _drive(engine, cfg: SearchConfig, rd: _RunDir, device: str, elapsed0: float, checkpoint_seconds: float,
           batch: int, progress: bool) -> Run:
    from tqdm import tqdm

    scorer = None if cfg.native else ProxyScorer(cfg, device)
    t0 = time.perf_counter()
    last_ckpt_time = t0
    last_ckpt_block = engine.iteration // cfg.checkpoint_every
    ckpt_cost = 0.0
    last_refresh = 0.0
    written = len(engine) - len(engine.pending()) if cfg.native else None
    bar = tqdm(total=cfg.iterations, initial=engine.iteration, unit="it", desc=f"{cfg.strategy} search",
               disable=not progress, dynamic_ncols=True, smoothing=0.05)

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

    interrupted = False
    try:
        chunk = 256
        while not engine.finished:
            if cfg.native:
                t = time.perf_counter()
                engine.run_native(chunk)
                dt = time.perf_counter() - t
                chunk = int(max(64, min(1 << 20, chunk * (0.2 / dt if dt > 0 else 2))))
                n = len(engine)
                rd.append(engine.csv_rows_range(written, n))
                written = n
            else:
                cands = engine.ask(batch)
                if not cands:
                    break
                ids, rows, errors = [], [], []
                for cid, core, _parent, _it in cands:
                    values, err = scorer(engine, cid, core)
                    ids.append(cid)
                    rows.append(values)
                    errors.append(err)
                engine.tell(ids, rows, errors)
                rd.append(engine.csv_rows(ids))
            refresh()
            block = engine.iteration // cfg.checkpoint_every
            now = time.perf_counter()
            # Every checkpoint_every iterations, but never spending more than ~5 % of the time
            # writing checkpoints (a fast native search over a long history), and at least every
            # checkpoint_seconds.
            if (block != last_ckpt_block and now - last_ckpt_time >= 20 * ckpt_cost) or \
                    now - last_ckpt_time >= checkpoint_seconds:
                _checkpoint(engine, rd, elapsed())
                ckpt_cost = time.perf_counter() - now
                last_ckpt_block, last_ckpt_time = block, time.perf_counter()
                rd.log(f"checkpoint at iteration {engine.iteration} ({len(engine)} candidates)")
    except KeyboardInterrupt:
        interrupted = True
        refresh(force=True)
        bar.close()
        _checkpoint(engine, rd, elapsed())
        rd.log(f"interrupted at iteration {engine.iteration}; checkpoint written")
        rd.close()
        raise
    finally:
        if not interrupted:
            bar.close()
    refresh(force=True)
    if engine.best() is not None:
        rd.curve.append([engine.iteration, engine.best_value()])
    _checkpoint(engine, rd, elapsed())
    rd.close()
    run = Run(engine, cfg, rd.out, elapsed(), interrupted)
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


__all__ = ["search", "load_run", "Run", "History", "HistoryEntry", "SearchConfig", "ProxyScorer", "score_columns",
           "NATIVE"]
