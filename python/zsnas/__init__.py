"""zsnas — zero-shot neural architecture search.

Torch-free parts (Arch, spaces, engine) import without torch; torch-backed parts (nn, proxies,
score, search, evaluate) load on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .arch import Arch, ArchError, Block  # noqa: E402

_LAZY = {
    "score": ("zsnas.scoring", "score"),
    "ScoreReport": ("zsnas.scoring", "ScoreReport"),
    "evaluate": ("zsnas.evaluate", None),
    "nn": ("zsnas.nn", None),
    "proxies": ("zsnas.proxies", None),
    "spaces": ("zsnas.spaces", None),
    "search": ("zsnas.search", "search"),
    "pareto_search": ("zsnas.space_search", "pareto_search"),
    "exact_front": ("zsnas.space_search", "exact_front"),
    "SearchSession": ("zsnas.session", "SearchSession"),
    "ops": ("zsnas.ops", None),
    "export": ("zsnas.export", None),
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = getattr(mod, attr) if attr else mod
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zsnas' has no attribute {name!r}")


def info() -> dict:
    """What was compiled and what runs here — paste it into bug reports."""
    from . import _kernels

    out = {"zsnas": __version__, "cuda_compiled": bool(_kernels.cuda_compiled), "cuda_archs": _kernels.cuda_archs}
    try:
        import torch

        out.update(torch=torch.__version__, cuda_available=torch.cuda.is_available(),
                   device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    except ImportError:
        out["torch"] = None
    return out


__all__ = ["Arch", "ArchError", "Block", "info", "score", "search", "SearchSession", "evaluate", "nn", "proxies", "spaces", "__version__"]
