"""Timing the way trtexec does: inputs and outputs allocated once, warm-up runs, then N timed
runs (CUDA events on a GPU, a monotonic clock on the CPU), reported as median and p90.

One harness (:func:`time_runs`) serves every backend: onnxruntime, torch and TensorRT
(zsnas.export.tensorrt) each hand it a `run_once` closure over buffers they made once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np


@dataclass(frozen=True)
class Timing:
    backend: str
    batch: int
    median_ms: float
    p90_ms: float
    runs: int
    warmup: int

    def __str__(self) -> str:
        return (f"{self.backend}, batch {self.batch}: median {self.median_ms:.4g} ms, p90 {self.p90_ms:.4g} ms "
                f"({self.runs} runs after {self.warmup} warm-up)")


def summarize(backend: str, batch: int, times_ms: List[float], warmup: int) -> Timing:
    t = np.asarray(times_ms, dtype=np.float64)
    return Timing(backend, batch, float(np.median(t)), float(np.percentile(t, 90)), len(t), warmup)


def time_runs(run_once: Callable[[], None], *, backend: str, batch: int, runs: int = 100, warmup: int = 10,
              timed: Optional[Callable[[Callable[[], None]], float]] = None) -> Timing:
    """Call `run_once` `warmup` times, then `runs` times timing each (by `timed(fn) -> ms`,
    default a monotonic clock around the call)."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"timing needs runs >= 1 and warmup >= 0, got {runs}, {warmup}")
    if timed is None:
        def timed(fn):
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        run_once()
    return summarize(backend, batch, [timed(run_once) for _ in range(runs)], warmup)


def ort_cpu_session(model, threads: int = 1):
    """An onnxruntime CPU session (full graph optimisation: Conv+Add+ReLU fused, as deployed)
    over an ONNX path or serialized bytes, with `threads` intra-op threads and one inter-op."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def time_session(session, feeds: Dict[str, np.ndarray], batch: int, runs: int = 100, warmup: int = 10) -> Timing:
    """Median / p90 of session.run over `feeds`, buffers bound once (as trtexec allocates once)."""
    binding = session.io_binding()
    for name, x in feeds.items():
        binding.bind_cpu_input(name, np.ascontiguousarray(x))
    for out in session.get_outputs():
        binding.bind_output(out.name)
    return time_runs(lambda: session.run_with_iobinding(binding), backend="onnxruntime-cpu", batch=batch, runs=runs,
                     warmup=warmup)


def time_onnxruntime(path: str, batch: int = 64, resolution: Optional[int] = None, runs: int = 100,
                     warmup: int = 10, threads: int = 1) -> Timing:
    """Median / p90 of one onnxruntime CPU inference of the ONNX at `path` (input made once)."""
    session = ort_cpu_session(path, threads)
    inp = session.get_inputs()[0]
    res = resolution or next((d for d in inp.shape[2:] if isinstance(d, int)), None)
    if res is None:
        raise ValueError(f"{path}: the input size is dynamic; give the resolution")
    x = np.random.default_rng(0).standard_normal((batch, 3, res, res)).astype(np.float32)
    return time_session(session, {inp.name: x}, batch, runs, warmup)


def time_torch(model, batch: int = 64, resolution: int = 224, device: str = "cpu", runs: int = 100,
               warmup: int = 10) -> Timing:
    """Median / p90 of one eval-mode forward of `model` (CUDA events on a GPU)."""
    import torch

    model = model.eval().to(device)
    x = torch.randn(batch, 3, resolution, resolution, device=device)
    timed = None
    if torch.device(device).type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def timed(fn):
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

    def run_once():
        with torch.no_grad():
            model(x)

    return time_runs(run_once, backend=f"torch-{torch.device(device).type}", batch=batch, runs=runs, warmup=warmup,
                     timed=timed)


__all__ = ["Timing", "time_runs", "summarize", "time_onnxruntime", "time_session", "ort_cpu_session", "time_torch"]
