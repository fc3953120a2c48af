"""Exceptions the CLI reports as one line (no torch import: the CLI loads this at start)."""
from __future__ import annotations


class ProxyFailed(RuntimeError):
    """A proxy raised on a network (stand-alone scoring; inside a search it is a failed row)."""


__all__ = ["ProxyFailed"]
