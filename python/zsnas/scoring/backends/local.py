"""The in-process scorer (threads: torch threads while it scores; None leaves them as they are)."""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

from ..request import ScoreRequest, ScoreRow
from ..runner import run_request
from . import Scorer


class LocalScorer(Scorer):
    def __init__(self, threads: Optional[int] = None):
        self.threads = threads

    def iter_scores(self, requests: Sequence[ScoreRequest]) -> Iterator[Tuple[int, ScoreRow]]:
        import torch

        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            for i, req in enumerate(requests):
                yield i, run_request(req)
        finally:
            torch.set_num_threads(before)
