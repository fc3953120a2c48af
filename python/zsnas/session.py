"""Ask/tell search for services that score candidates elsewhere (their own GPUs, a queue).

    session = zsnas.SearchSession.create(space="res", proxy="zen", iterations=2000, seed=0)
    while not session.finished:
        cands = session.ask(8)                       # candidates with their counts
        # anywhere, in any order; session.request(c) is the ScoreRequest search() would run
        results = my_pool.map(score_remotely, cands)
        session.tell([(c.id, {"zen": v}) for c, v in zip(cands, results)])
        blob = session.checkpoint()                  # bytes; SearchSession.restore(blob) continues
    session.run.best, session.run.history

The same guarantees as zsnas.search(): budgets are checked in C++ before a candidate is asked,
a result with an error (or NaN) is a failed candidate, and the same seed with the same batch —
ask(B), tell those B, repeat — gives the history of ``search(..., batch=B)``. tell() takes a
batch's results in any order and hands them to the engine in candidate-id order. Native
columns (params, flops, layers, latency) are filled in by the engine; give the others.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _core
from .arch import Arch
from .search import (NATIVE, PLAIN_SETTINGS, Run, SearchConfig, _check_runnable, _engine_kwargs,
                     _import_user_proxies, _latency_table, _make_budget, _new_config, _space_spec)

_MAGIC = b"ZSNAS-SESSION/1\n"


@dataclass(frozen=True)
class Candidate:
    id: int
    structure: str
    parent: int
    iteration: int
    params: int
    flops: int
    layers: int
    latency_ms: Optional[float]
    resolution: int
    num_classes: int

    @property
    def arch(self) -> Arch:
        return Arch(self.structure)


Result = Tuple[int, Union[Dict[str, float], Sequence[float], None], str]


class SearchSession:
    def __init__(self, engine, cfg: SearchConfig):
        self.engine, self.config = engine, cfg
        self.columns = cfg.columns
        self.scored_columns = [c for c in cfg.columns if c not in NATIVE]

    # ---- creating and restoring ------------------------------------------------------------
    @classmethod
    def create(cls, space: Any = None, budget: Any = None, proxy: Union[str, Sequence[str], None] = None, *,
               default_budget: bool = True, imports: Sequence[str] = (), **settings) -> "SearchSession":
        """A new search; arguments as zsnas.search() (iterations, strategy, seed, population, top_k,
        resolution, num_classes, batch_size, repeats, latency_table, ...). ValueError naming a bad one."""
        known = set(PLAIN_SETTINGS) | {"strategy", "rho", "latency_table", "initial"}
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"SearchSession.create: unknown setting(s) {', '.join(sorted(unknown))}")
        given = {k: settings.get(k) for k in known}
        given.update(space=space, budget=budget, proxy=proxy, initial=settings.get("initial"))
        cfg = _new_config(given, default_budget, _import_user_proxies(imports))
        _check_runnable(cfg)
        return cls(_make_engine(cfg, None), cfg)

    @classmethod
    def restore(cls, data: Union[bytes, str, os.PathLike]) -> "SearchSession":
        """A session from checkpoint() bytes or a file save() wrote."""
        if not isinstance(data, (bytes, bytearray)):
            with open(data, "rb") as fh:
                data = fh.read()
        if not data.startswith(_MAGIC):
            raise ValueError("not a zsnas search session checkpoint")
        rest = data[len(_MAGIC):]
        n = int.from_bytes(rest[:8], "little")
        try:
            cfg = SearchConfig(**json.loads(rest[8:8 + n].decode()))
        except (ValueError, TypeError) as e:
            raise ValueError(f"search session checkpoint: bad configuration ({e})") from None
        _import_user_proxies(cfg.imports)
        return cls(_make_engine(cfg, bytes(rest[8 + n:])), cfg)

    def checkpoint(self) -> bytes:
        """Everything needed to continue in another process: the config and the engine state."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "engine.bin")
            self.engine.save(path)
            with open(path, "rb") as fh:
                state = fh.read()
        cfg = json.dumps(asdict(self.config)).encode()
        return _MAGIC + len(cfg).to_bytes(8, "little") + cfg + state

    def save(self, path: Union[str, os.PathLike]) -> None:
        from .rundir import write_atomic

        write_atomic(path, self.checkpoint())

    # ---- ask / tell ------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.engine.finished

    def ask(self, n: int = 1) -> List[Candidate]:
        """Up to n new candidates within the budget (fewer, or none, near the end of the run)."""
        if n < 1:
            raise ValueError(f"ask: n must be >= 1, got {n}")
        out = []
        for cid, core, parent, it in self.engine.ask(n):
            r = self.engine.record(cid)
            lat = r["latency_ms"]
            out.append(Candidate(id=cid, structure=str(core), parent=parent, iteration=it, params=r["params"],
                                 flops=r["flops"], layers=r["layers"], latency_ms=None if lat != lat else lat,
                                 resolution=self.config.resolution, num_classes=self.config.num_classes))
        return out

    def tell(self, results: Sequence[Result]) -> None:
        """Results as (id, values, error): values a dict by score name (or a list in the order of
        ``scored_columns``); error a non-empty text for a failed candidate (values may be None)."""
        rows = []
        for item in results:
            cid, values, error = (tuple(item) + ("",))[:3]
            error = str(error or "")
            if error:
                rows.append((int(cid), [float("nan")] * len(self.columns), error))
                continue
            if not isinstance(values, dict):
                values = dict(zip(self.scored_columns, values or ()))
            missing = [c for c in self.scored_columns if c not in values]
            if missing:
                raise ValueError(f"tell: candidate {cid} has no value for {', '.join(missing)}")
            rows.append((int(cid), [self.engine.native_score(int(cid), c) if c in NATIVE else float(values[c])
                                    for c in self.columns], ""))
        rows.sort(key=lambda r: r[0])  # the engine hears a batch in id order, however it finished
        self.engine.tell([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    def request(self, cand: Candidate, device: str = "cpu"):
        """The ScoreRequest that scores `cand` exactly as zsnas.search() would (its proxies,
        resolution, classes, batch size, repeats and seed): run it with any zsnas scorer."""
        from .search import CandidateScorer

        return CandidateScorer(self.config, device, None).request(cand.structure, {"flops": cand.flops,
                                                                                  "params": cand.params})

    @property
    def run(self) -> Run:
        """best, best_scores, history, top(n), counters — as for zsnas.search()."""
        return Run(self.engine, self.config, None)


def _make_engine(cfg: SearchConfig, state: Optional[bytes]):
    table = _latency_table(cfg)
    args = (_space_spec(cfg), _make_budget(cfg))
    if state is None:
        return _core.Engine(*args, **_engine_kwargs(cfg, table))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "engine.bin")
        with open(path, "wb") as fh:
            fh.write(state)
        return _core.Engine.load(path, *args, **_engine_kwargs(cfg, table))


__all__ = ["SearchSession", "Candidate"]
