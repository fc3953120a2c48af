"""Real images and labels for the data-fed proxies (``--dataset``; ``data=`` in the Python API),
instead of Gaussian noise and random labels.

A data source is a path:

* a CIFAR-10 or CIFAR-100 folder in the python format of the official archive (what
  torchvision downloads as ``cifar-10-batches-py`` / ``cifar-100-python``): the training batches
  ``data_batch_1..5`` (CIFAR-10) or ``train`` (CIFAR-100, fine labels), normalised with the
  per-channel mean and std NAS-Bench-201 / TE-NAS / AZ-NAS use;
* an ``.npz`` file with ``x`` (N×C×H×W, or N×H×W×C when the last axis is 1 or 3) and ``y`` (N
  integer labels): uint8 images are scaled to [0, 1] and standardised per channel over the file;
  float images are taken as they are.

Each batch is ``batch_size`` images drawn without replacement from the seeded generator the
proxy passes (so a request's batches are reproducible and zico's two batches differ). The data
is loaded once per process; its fingerprint (a SHA-256 of the files) keys the score cache and a
bench run's settings, so scores made on other data are never mixed in.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pickle
from typing import List, Optional, Tuple

import numpy as np
import torch

# NAS-Bench-201's (and TE-NAS's, AZ-NAS's) CIFAR normalisation
CIFAR_STATS = {
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
}


class DataError(ValueError):
    pass


def _files(path: str) -> Tuple[str, List[str]]:
    """(format, the files read) of a data source; DataError naming what is expected."""
    if not os.path.exists(path):
        raise DataError(f"data {path!r} does not exist")
    if os.path.isdir(path):
        c10 = [os.path.join(path, f"data_batch_{i}") for i in range(1, 6)]
        if all(os.path.isfile(f) for f in c10):
            return "cifar10", c10
        if os.path.isfile(os.path.join(path, "train")):
            return "cifar100", [os.path.join(path, "train")]
        raise DataError(f"data folder {path!r} is neither CIFAR-10 (data_batch_1..5) nor CIFAR-100 (train) in the "
                        "python format")
    if path.endswith(".npz"):
        return "npz", [path]
    raise DataError(f"data {path!r}: give a CIFAR-10/100 python folder or an .npz file with x and y")


def resolve(path: Optional[str]) -> Optional[str]:
    """The absolute path of a data source (what requests carry to workers), checked for its
    format; None stays None (noise)."""
    if path is None:
        return None
    path = os.path.abspath(os.path.expanduser(str(path)))
    _files(path)
    return path


def settings(path: Optional[str]) -> Optional[dict]:
    """What a run stores of its data source: {"path", "sha256"} (None for noise)."""
    path = resolve(path)
    return None if path is None else {"path": path, "sha256": fingerprint(path)}


def path_of(entry: Optional[dict]) -> Optional[str]:
    """The path of a run's stored data source (what its score requests carry); None for noise."""
    return None if entry is None else entry["path"]


def check_settings(entry: Optional[dict]) -> Optional[str]:
    """The path of a run's stored data source, refused when its files changed since (a resumed
    run would mix scores of two datasets)."""
    if entry is None:
        return None
    now = settings(entry["path"])
    if now != entry:
        raise DataError(f"data {entry['path']!r} changed since the run began (sha256 {entry['sha256']}, now "
                        f"{now['sha256']}): restore it or start another run")
    return entry["path"]


def _stamp(path: str) -> tuple:
    """(size, mtime) of each file: the in-process caches below re-read a source that changed."""
    return tuple((os.path.getsize(f), os.stat(f).st_mtime_ns) for f in _files(path)[1])


def fingerprint(path: str) -> str:
    """SHA-256 over the files of the data source (what keys cached scores)."""
    return _fingerprint(path, _stamp(path))


@functools.lru_cache(maxsize=8)
def _fingerprint(path: str, stamp: tuple) -> str:
    h = hashlib.sha256()
    for f in _files(path)[1]:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


# What the official CIFAR pickles hold besides builtins: numpy arrays. Anything else is refused,
# so a pickle from elsewhere cannot run code.
_PICKLE_GLOBALS = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
                   for n in ("_reconstruct", "scalar")}
_PICKLE_GLOBALS |= {(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")}  # protocol 5
_PICKLE_GLOBALS |= {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise DataError(f"{self.name}: the pickle asks for {module}.{name}, which a CIFAR batch never holds "
                            "(refused: unpickling it could run code)")
        return super().find_class(module, name)


def _unpickle(f: str) -> dict:
    with open(f, "rb") as fh:
        u = _ArraysOnly(fh, encoding="bytes")
        u.name = f
        return u.load()


def load(path: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """(images float32 [N, C, H, W] normalised, labels int64 [N]) of a data source, read once
    per process (again when its files change)."""
    return _load(path, _stamp(path))


@functools.lru_cache(maxsize=2)
def _load(path: str, stamp: tuple) -> Tuple[torch.Tensor, torch.Tensor]:
    kind, files = _files(path)
    if kind in CIFAR_STATS:
        parts = [_unpickle(f) for f in files]
        key = b"labels" if kind == "cifar10" else b"fine_labels"
        if any(b"data" not in p or key not in p for p in parts):
            raise DataError(f"data {path!r}: a {kind} batch without b'data' and {key!r}")
        x = np.concatenate([np.asarray(p[b"data"], dtype=np.uint8) for p in parts]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(p[key], dtype=np.int64) for p in parts])
        mean, std = (np.asarray(s, dtype=np.float32).reshape(1, 3, 1, 1) / 255 for s in CIFAR_STATS[kind])
        x = (x.astype(np.float32) / 255 - mean) / std
    else:
        with np.load(path) as z:
            if "x" not in z or "y" not in z:
                raise DataError(f"data {path!r}: an .npz needs arrays 'x' (images) and 'y' (labels), has "
                                f"{sorted(z.keys())}")
            x, y = z["x"], z["y"]
        if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"data {path!r}: x must be N×C×H×W and y N labels, got {x.shape} and {y.shape}")
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255
            x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.maximum(x.std(axis=(0, 2, 3), keepdims=True), 1e-12)
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"data {path!r}: labels y must be integers, got {y.dtype}")
        y = y.astype(np.int64)
    if len(y) == 0 or y.min() < 0:
        raise DataError(f"data {path!r}: no images, or a negative label")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y)


def check_fits(path: str, in_channels: int, resolution: int, num_classes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The data, or DataError when its images do not fit the network (channels, resolution) or a
    label is not one of its classes."""
    x, y = load(path)
    _, c, h, w = x.shape
    if (c, h, w) != (in_channels, resolution, resolution):
        raise DataError(f"data {path!r} holds {c}×{h}×{w} images but the network takes {in_channels}×{resolution}×"
                        f"{resolution}: score at --resolution {h}" + ("" if h == w else " (square images only)"))
    if int(y.max()) >= num_classes:
        raise DataError(f"data {path!r} has labels up to {int(y.max())} but the network has {num_classes} classes: "
                        f"give --num-classes {int(y.max()) + 1}")
    return x, y


def draw(path: str, batch_size: int, in_channels: int, resolution: int, num_classes: int,
         generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` (image, label) pairs drawn without replacement (DataError as check_fits)."""
    x, y = check_fits(path, in_channels, resolution, num_classes)
    n = len(x)
    if batch_size > n:
        raise DataError(f"data {path!r} holds {n} images, fewer than the batch size {batch_size}")
    idx = torch.randperm(n, generator=generator)[:batch_size]
    return x[idx], y[idx]


def draw_crops(path: str, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """[n, 1, size, size]: each a size×size crop at a random place of one random channel of a
    random image (TE-NAS's RandomCrop(size, padding=0) + RandChannel(1) on its training images)."""
    x, _ = load(path)
    count, c, h, w = x.shape
    if size > min(h, w):
        raise DataError(f"data {path!r} holds {h}×{w} images, smaller than the {size}×{size} crops")
    img = torch.randint(0, count, (n,), generator=generator)
    ch = torch.randint(0, c, (n,), generator=generator)
    top = torch.randint(0, h - size + 1, (n,), generator=generator)
    left = torch.randint(0, w - size + 1, (n,), generator=generator)
    rows = (top[:, None] + torch.arange(size))[:, :, None]  # [n, size, 1]
    cols = (left[:, None] + torch.arange(size))[:, None, :]  # [n, 1, size]
    return x[img[:, None, None], ch[:, None, None], rows, cols].unsqueeze(1)


__all__ = ["CIFAR_STATS", "DataError", "resolve", "settings", "check_settings", "fingerprint", "load", "check_fits",
           "draw", "draw_crops"]
