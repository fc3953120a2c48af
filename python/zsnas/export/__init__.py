"""Deployment export: ONNX (BN folded, dynamic batch, checked in onnxruntime) and INT8 Q/DQ.

    zsnas.export.onnx("zennet-cifar-1.0m", "net.onnx")           # -> ExportReport
    zsnas.export.int8("zennet-cifar-1.0m", "net.int8.onnx", calibration="images.npy")

The TensorRT engine build and the latency tables of issue 11 are not written yet.
"""
from .int8 import int8
from .onnx import ExportReport, onnx

__all__ = ["onnx", "int8", "ExportReport"]
