"""Latency models (zsnas.latency.tables is the one resolver): JSON block tables and
TinyNAS-format convolution tables -- TinyNAS's own V100 TensorRT measurements
(``zsnas lut import-tinynas``) or this machine's (``zsnas lut build``) -- that predict any
network as overhead + scale × Σ conv ms, evaluated in C++ by the search engine."""
from .tables import block_ms, import_tinynas, network_ms, open_latency_table
from .tinynas import TinyNASTable, network_convs

__all__ = ["TinyNASTable", "network_convs", "open_latency_table", "network_ms", "block_ms", "import_tinynas"]
