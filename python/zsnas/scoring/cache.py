"""A persistent score cache: SQLite, safe for several processes at once, plain values only.

Keyed by (zsnas version, canonical target, proxy and its registered version, every setting
that changes the value: resolution, classes, batch size, repeats, seed, device type, the data's
fingerprint). Values are JSON (no pickle: a cache file from elsewhere can never run code).
Failed proxies are not cached (an out-of-memory today may fit tomorrow). A file that is not a
zsnas cache, or is damaged, is refused with an error naming it, never read as values.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .. import __version__
from .backends import Scorer
from .request import ScoreRequest, ScoreRow

FORMAT = "zsnas-score-cache/1"


class CacheError(ValueError):
    pass


def _plain(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _number(v):
    return float(v) if isinstance(v, str) else v


def target_key(req: ScoreRequest) -> Optional[str]:
    """The canonical text of a request's target; None for one that cannot be named (an nn.Module)."""
    t = req.target
    if t.kind == "arch":
        return "arch:" + t.structure
    if t.kind == "named":
        return "named:" + t.name
    if t.kind == "builder":
        fn = t.module
        return f"builder:{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}:{t.structure}"
    return None


def proxy_key(req: ScoreRequest, proxy: str) -> Optional[str]:
    t = target_key(req)
    if t is None:
        return None
    from .runner import proxy_version

    device = req.device.split(":")[0]
    version = proxy_version(proxy)
    key = [__version__, t, proxy, version, req.resolution, req.num_classes, req.batch_size, req.repeats,
           req.seed, device]
    if req.data is not None:  # appended only then: the keys of noise-fed scores stay as they were
        from ..data import fingerprint

        key.append("data:" + fingerprint(req.data))
    return json.dumps(key)


class ScoreCache:
    def __init__(self, path: str):
        self.path = str(path)
        self.hits = self.misses = 0
        if os.path.isdir(self.path):
            raise CacheError(f"score cache {self.path} is a directory")
        try:
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 60000")
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise CacheError(f"{self.path} is an SQLite file but not a zsnas score cache (tables: "
                                 f"{', '.join(sorted(tables))})")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            self.db.execute("COMMIT")
            fmt = self.db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            self.db.execute("SELECT count(*) FROM scores").fetchone()  # reads the table: damage shows here
        except sqlite3.DatabaseError as e:
            raise CacheError(f"score cache {self.path} is damaged or not a zsnas score cache ({e})") from None
        if fmt is None or fmt[0] != FORMAT:
            raise CacheError(f"score cache {self.path} has format {fmt[0] if fmt else None!r}, not {FORMAT!r}")

    def get(self, keys: Sequence[str]) -> Dict[str, dict]:
        out: Dict[str, dict] = {}
        try:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i:i + 500])
                marks = ",".join("?" * len(chunk))
                for key, result in self.db.execute(f"SELECT key, result FROM scores WHERE key IN ({marks})", chunk):
                    out[key] = json.loads(result)
        except (sqlite3.DatabaseError, ValueError) as e:
            raise CacheError(f"score cache {self.path} is damaged ({e})") from None
        return out

    def put(self, items: Sequence[Tuple[str, dict]]) -> None:
        if not items:
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)",
                                [(k, json.dumps(_plain(v), allow_nan=False)) for k, v in items])
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise CacheError(f"score cache {self.path} cannot be written ({e})") from None

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM scores").fetchone()[0]

    def stats(self) -> dict:
        """{"path", "hits", "misses"} of this process's lookups (what runs report)."""
        return {"path": self.path, "hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        self.db.close()


class CachedScorer(Scorer):
    """A scorer that answers from a ScoreCache what it can and sends the rest to `inner`."""

    def __init__(self, inner, cache: ScoreCache):
        self.inner, self.cache = inner, cache

    def iter_scores(self, requests: Sequence[ScoreRequest]) -> Iterator[Tuple[int, ScoreRow]]:
        keys = [{p: proxy_key(r, p) for p in r.proxies} for r in requests]
        found = self.cache.get([k for ks in keys for k in ks.values() if k is not None])
        partial: Dict[int, ScoreRow] = {}
        todo: List[int] = []
        sent: List[ScoreRequest] = []
        for i, (req, ks) in enumerate(zip(requests, keys)):
            row = ScoreRow()
            missing = []
            for p, k in ks.items():
                hit = found.get(k) if k is not None else None
                if hit is None:
                    missing.append(p)
                    continue
                row.values[p] = _number(hit["value"])
                row.sub_scores[p] = {n: _number(v) for n, v in hit["sub_scores"].items()}
                row.degenerate[p] = int(hit["degenerate"])
                row.seconds[p] = float(hit["seconds"])
            self.cache.hits += len(ks) - len(missing)
            self.cache.misses += len(missing)
            if missing:
                partial[i] = row
                todo.append(i)
                sent.append(req.with_proxies(tuple(missing)))
            else:
                yield i, row
        for j, row in self.inner.iter_scores(sent):
            i = todo[j]
            new = [(keys[i][p], {"value": row.values[p], "sub_scores": row.sub_scores[p],
                                 "degenerate": row.degenerate[p], "seconds": row.seconds[p]})
                   for p in row.values if keys[i].get(p) is not None]
            self.cache.put(new)
            yield i, partial.pop(i).merge(row)

    def close(self) -> None:
        self.inner.close()
        self.cache.close()



__all__ = ["ScoreCache", "CachedScorer", "CacheError", "proxy_key", "FORMAT"]
