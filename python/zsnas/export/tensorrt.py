"""TensorRT engines from zsnas's ONNX, timed as trtexec times them. NOT RUN on our machines: no
reachable package ships a TensorRT builder (PyPI's wheels are placeholders that download from
NVIDIA's index) and no GPU here has one; written against TensorRT 10/11's documented Python API.

Strongly typed networks only (TensorRT 11 removed implicit INT8 and the builder precision
flags): the precision comes from the ONNX -- fp32 as exported, int8 from the Q/DQ model of
zsnas.export.int8. fp16 needs an fp16 ONNX, which zsnas does not write yet.
"""
from __future__ import annotations

import os
from typing import Optional

from .onnx import INPUT
from .profile import Timing, time_runs


def _tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise ValueError("TensorRT engines need NVIDIA's TensorRT Python package (pip install tensorrt from "
                         "NVIDIA's index, or a TensorRT container) and cuda-python (pip install 'zsnas[trt]'); "
                         "without them, build the engine with trtexec --onnx=FILE") from None
    return trt


def build_engine(onnx_path: str, plan_path: str, batch: int = 64, resolution: int = 224,
                 max_batch: Optional[int] = None, workspace_gb: float = 2.0) -> str:
    """Serialise a strongly typed TensorRT engine for the ONNX at `onnx_path` (optimised for
    `batch`, dynamic up to `max_batch`) to `plan_path`; ValueError with the parser's errors."""
    trt = _tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, "rb") as fh:
        if not parser.parse(fh.read()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    profile = builder.create_optimization_profile()
    shape = lambda b: (b, 3, resolution, resolution)  # noqa: E731
    profile.set_shape(INPUT, shape(1), shape(batch), shape(max_batch or batch))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ValueError(f"TensorRT could not build an engine for {onnx_path} (see its log above)")
    tmp = f"{plan_path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(plan)
    os.replace(tmp, plan_path)
    return plan_path


def time_engine(plan_path: str, batch: int = 64, resolution: int = 224, runs: int = 100, warmup: int = 10) -> Timing:
    """trtexec-style timing of a serialised engine: device buffers allocated once, CUDA events."""
    trt = _tensorrt()
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise ValueError("timing a TensorRT engine needs cuda-python: pip install cuda-python") from None

    def check(ret):
        err, *rest = ret if isinstance(ret, tuple) else (ret,)
        if int(err) != 0:
            raise RuntimeError(f"CUDA error {err}")
        return rest[0] if len(rest) == 1 else rest

    logger = trt.Logger(trt.Logger.WARNING)
    with open(plan_path, "rb") as fh:
        engine = trt.Runtime(logger).deserialize_cuda_engine(fh.read())
    context = engine.create_execution_context()
    context.set_input_shape(INPUT, (batch, 3, resolution, resolution))
    buffers = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        shape = context.get_tensor_shape(name)
        size = trt.volume(shape) * trt.nptype(engine.get_tensor_dtype(name))(0).itemsize
        ptr = check(cudart.cudaMalloc(size))
        buffers.append(ptr)
        context.set_tensor_address(name, int(ptr))
    stream = check(cudart.cudaStreamCreate())
    start, end = check(cudart.cudaEventCreate()), check(cudart.cudaEventCreate())

    def run_once():
        context.execute_async_v3(stream)

    def timed(fn) -> float:
        check(cudart.cudaEventRecord(start, stream))
        fn()
        check(cudart.cudaEventRecord(end, stream))
        check(cudart.cudaEventSynchronize(end))
        return float(check(cudart.cudaEventElapsedTime(start, end)))

    try:
        return time_runs(run_once, backend="tensorrt", batch=batch, runs=runs, warmup=warmup, timed=timed)
    finally:
        for ptr in buffers:
            cudart.cudaFree(ptr)
        cudart.cudaStreamDestroy(stream)


__all__ = ["build_engine", "time_engine"]
