"""Scorers: a batch of ScoreRequests -> ScoreRows in request order, one backend a file.

    scorer = get_scorer("pool", workers=2)
    rows = scorer.score(requests)               # in request order
    for i, row in scorer.iter_scores(requests):  # as they finish (i = request index)
        ...
    scorer.close()                              # or: with get_scorer(...) as scorer:

Backends: ``local`` (this process), ``pool`` (N worker processes × T torch threads), ``ray``
(an actor pool on a running cluster via ``address=``, or a local one started here). Every
backend runs zsnas.scoring.runner.run_request, so rows do not depend on the backend.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Tuple

from ..request import ScoreRequest, ScoreRow

BACKENDS = ("local", "pool", "ray")


class Scorer:
    """The scorer interface; backends implement iter_scores."""

    def iter_scores(self, requests: Sequence[ScoreRequest]) -> Iterator[Tuple[int, ScoreRow]]:
        raise NotImplementedError

    def score(self, requests: Sequence[ScoreRequest]) -> List[ScoreRow]:
        rows: List[Optional[ScoreRow]] = [None] * len(requests)
        for i, row in self.iter_scores(requests):
            rows[i] = row
        return rows  # type: ignore[return-value]

    def close(self) -> None:
        pass

    def __enter__(self) -> "Scorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def get_scorer(backend: str = "local", workers: int = 1, threads: Optional[int] = None, address: Optional[str] = None,
               imports: Sequence[str] = (), cache: Optional[str] = None) -> Scorer:
    """A scorer of `backend` with `workers` processes / actors of `threads` torch threads each
    (default 1; in-process: None leaves the caller's threads as they are).

    imports: the user's proxy modules, imported in every worker. cache: a score cache file
    (zsnas.scoring.cache) answering what it holds. ValueError for an unknown backend or a bad
    count; ``ray`` without Ray installed says how to install it.
    """
    if cache is not None:
        from ..cache import CachedScorer, ScoreCache

        store = ScoreCache(cache)  # a bad file fails before any worker starts
        return CachedScorer(get_scorer(backend, workers, threads, address, imports), store)
    for label, v in (("workers", workers), ("threads", 1 if threads is None else threads)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label} must be a whole number >= 1, got {v!r}")
    if backend == "local":
        from .local import LocalScorer

        return LocalScorer(threads=threads)
    if backend == "pool":
        from .pool import PoolScorer

        return PoolScorer(workers=workers, threads=threads or 1, imports=imports)
    if backend == "ray":
        from .ray import RayScorer

        return RayScorer(workers=workers, threads=threads or 1, address=address, imports=imports)
    raise ValueError(f"unknown scoring backend {backend!r} (known: {', '.join(BACKENDS)})")


__all__ = ["Scorer", "get_scorer", "BACKENDS"]
