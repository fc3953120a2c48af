"""Ray actors as scorers: on a running cluster (``address="host:port"`` / ``"auto"``) or on a
local one started here, without the dashboard and with token authentication on.

A local cluster listens on loopback only (``start_local_cluster``): Ray binds its gRPC servers
to every interface unless the node address is 127.0.0.1, and ray.init rewrites a loopback
address into the machine's own unless clusters are "disabled" (the switch Ray uses on macOS
and Windows, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0). Ray >= 2.59 also turns token
authentication on for it.

Requests go to the actors in small chunks (``chunk`` requests per call: Ray costs ~2 ms per
call, a cheap proxy far less). An actor that dies takes its chunk with it: a new actor is
started and the chunk runs again, so the rows are the same as without the fault. Before you
open a cluster to a network, turn on Ray's token authentication (RAY_AUTH_MODE=token, see
the README "Searching at scale"): a Ray cluster runs whatever code it is sent.
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..request import ScoreRequest, ScoreRow
from ..runner import prepare_worker, run_request
from . import Scorer

MAX_ATTEMPTS = 3


LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("the ray backend needs Ray: pip install 'zsnas[ray]' (or pip install ray)") from None
    return ray


def start_local_cluster(num_cpus: int, temp_dir: Optional[str] = None):
    """ray.init a single-node cluster whose every server listens on 127.0.0.1 only."""
    ray = _ray()
    from ray._private import ray_constants

    # Read by this process at import (hence the attribute) and by every Ray process it starts.
    before_env, before_flag = os.environ.get(LOCAL_ONLY_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOCAL_ONLY_ENV], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        return ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                        _node_ip_address="127.0.0.1",
                        _temp_dir=temp_dir or tempfile.mkdtemp(prefix="zsnas-ray-"))
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before_flag
        if before_env is None:
            del os.environ[LOCAL_ONLY_ENV]
        else:
            os.environ[LOCAL_ONLY_ENV] = before_env


class _Actor:
    """Runs in a Ray worker process: the same runner as every backend."""

    def __init__(self, threads: int, imports: Sequence[str]):
        prepare_worker(threads, imports)

    def score(self, requests: List[ScoreRequest]) -> List[ScoreRow]:
        return [run_request(r) for r in requests]

    def pid(self) -> int:
        return os.getpid()


class RayScorer(Scorer):
    def __init__(self, workers: int, threads: int = 1, address: Optional[str] = None, imports: Sequence[str] = (),
                 chunk: Optional[int] = None):
        from ...proxies.registry import import_modules

        ray = _ray()
        self.workers, self.threads, self.chunk = workers, threads, chunk
        self.imports = tuple(import_modules(imports))
        self.started_here = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                start_local_cluster(workers * threads)
                self.started_here = True
        self._actor_cls = ray.remote(num_cpus=threads)(_Actor)
        self.actors = [self._new_actor() for _ in range(workers)]
        self.restarts = 0

    def _new_actor(self):
        return self._actor_cls.remote(self.threads, self.imports)

    def iter_scores(self, requests: Sequence[ScoreRequest]) -> Iterator[Tuple[int, ScoreRow]]:
        ray = _ray()
        n = len(requests)
        size = self.chunk or max(1, min(16, n // (4 * len(self.actors)) or 1))
        chunks = [list(range(i, min(n, i + size))) for i in range(0, n, size)]
        attempts: Dict[int, int] = {}
        queue = list(range(len(chunks)))
        running = {}  # object ref -> (chunk index, actor slot)
        free = list(range(len(self.actors)))
        while queue or running:
            while queue and free:
                c, slot = queue.pop(0), free.pop(0)
                attempts[c] = attempts.get(c, 0) + 1
                ref = self.actors[slot].score.remote([requests[i] for i in chunks[c]])
                running[ref] = (c, slot)
            done, _ = ray.wait(list(running), num_returns=1)
            c, slot = running.pop(done[0])
            try:
                rows = ray.get(done[0])
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as e:
                self.restarts += 1
                self.actors[slot] = self._new_actor()  # the chunk runs again on a fresh actor
                free.append(slot)
                if attempts[c] < MAX_ATTEMPTS:
                    queue.insert(0, c)
                else:
                    for i in chunks[c]:
                        yield i, ScoreRow(errors={p: f"WorkerDied: the Ray actor scoring it died {MAX_ATTEMPTS} "
                                                     f"times ({type(e).__name__})" for p in requests[i].proxies})
                continue
            free.append(slot)
            for i, row in zip(chunks[c], rows):
                yield i, row

    def close(self) -> None:
        ray = _ray()
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 -- already gone
                pass
        self.actors = []
        if self.started_here and ray.is_initialized():
            ray.shutdown()
