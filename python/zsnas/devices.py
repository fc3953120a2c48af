"""The one device resolver: "auto" / None, "cpu", "cuda", "cuda:N" -> a checked device string.

Checked before any work or any file is written, so a typo or a machine without a GPU is one
clear error instead of a run whose every candidate fails.
"""
from __future__ import annotations

from typing import Union

from . import defaults


def resolve_device(device: Union[None, str, "object"] = None, *, what: str = "device") -> str:
    """The device to run on: "auto" (or None) is cuda when torch sees a GPU, else cpu.

    Raises ValueError naming the problem: an unknown device string ("gpu"), cuda on a machine
    where torch sees no CUDA device, or a cuda index beyond the devices present.
    """
    text = defaults.DEVICE if device is None else str(device).strip()
    try:
        import torch
    except ImportError:  # the torch-free core (native proxies) runs on the CPU
        if text in ("auto", "cpu"):
            return "cpu"
        raise ValueError(f"{what} {text!r}: torch is not installed, only cpu is available") from None
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"{what} {text!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{what} {text!r}: torch {torch.__version__} sees no CUDA device on this machine "
                             f"(use --device cpu, or auto)")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"{what} {text!r}: this machine has {n} CUDA device(s) (cuda:0..cuda:{n - 1})")
    elif dev.type != "cpu":
        raise ValueError(f"{what} {text!r}: zsnas runs on cpu or cuda")
    return str(dev)
