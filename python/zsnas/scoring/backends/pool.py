"""A pool of worker processes (forkserver), each with its own torch threads.

A worker that dies (killed, out of memory) takes its requests with it: the pool is rebuilt and
those requests run again elsewhere, so the rows are the same as without the fault. A request
that kills its worker three times gets a row with that error. A pool whose workers die before
finishing anything, three times in a row, raises WorkerDied (the usual cause: a script calling
zsnas with workers > 1 without an ``if __name__ == "__main__":`` guard).
"""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Dict, Iterator, Sequence, Tuple

from ..request import ScoreRequest, ScoreRow
from ..runner import prepare_worker, run_request
from . import Scorer

MAX_ATTEMPTS = 3


class WorkerDied(ChildProcessError):
    """Worker processes keep dying before they finish anything."""


class PoolScorer(Scorer):
    def __init__(self, workers: int, threads: int = 1, imports: Sequence[str] = ()):
        from ...proxies.registry import import_modules

        self.workers, self.threads = workers, threads
        self.imports = tuple(import_modules(imports))  # absolute paths, as the workers import them
        self._pool = None
        self.restarts = 0

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context(method),
                                             initializer=prepare_worker, initargs=(self.threads, self.imports))
        return self._pool

    def iter_scores(self, requests: Sequence[ScoreRequest]) -> Iterator[Tuple[int, ScoreRow]]:
        todo = list(range(len(requests)))
        attempts: Dict[int, int] = {i: 0 for i in todo}
        fruitless = 0  # pool breaks in a row without a finished request
        while todo:
            pool = self._executor()
            futures = {}
            finished = []
            broken = False
            try:
                for i in todo:
                    attempts[i] += 1
                    futures[pool.submit(run_request, requests[i])] = i
            except BrokenProcessPool:  # a worker died while the batch was being handed out
                broken = True
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        try:
                            row = fut.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        finished.append(futures[fut])
                        yield futures[fut], row
            except BaseException:
                self.close(cancel=True)
                raise
            finished_set = set(finished)
            todo = [i for i in todo if i not in finished_set]
            if not broken:
                continue
            self.close(cancel=True)
            self.restarts += 1
            fruitless = 0 if finished else fruitless + 1
            if fruitless >= MAX_ATTEMPTS:
                raise WorkerDied(
                    f"worker processes died {fruitless} times before finishing anything. If you call zsnas with "
                    f"workers > 1 from a script, put the call under `if __name__ == \"__main__\":` (the workers "
                    f"re-import the script)")
            for i in [i for i in todo if attempts[i] >= MAX_ATTEMPTS]:
                todo.remove(i)
                yield i, ScoreRow(errors={p: f"WorkerDied: the worker scoring it died {MAX_ATTEMPTS} times "
                                             f"(out of memory?)" for p in requests[i].proxies})

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = None
