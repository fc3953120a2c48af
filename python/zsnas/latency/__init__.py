"""Latency models. ``TinyNASTable``: TinyNAS's measured TensorRT convolution latencies (V100)
and its predictor; a search takes it as ``latency_model="tinynas:DIR:int8"`` for a latency budget.
Measuring tables on this machine (``zsnas lut build``) is not written yet."""
from .tinynas import TinyNASTable, load_latency_model

__all__ = ["TinyNASTable", "load_latency_model"]
