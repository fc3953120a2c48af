"""The one resolver of latency tables: a path a user gives (``--latency-table``) becomes the
C++ model the engine's budget check and native ``latency`` score read.

Two kinds of table:

* a JSON file: exact block signatures (``zsnas._core.LatencyTable``), summed over the blocks;
* a folder in TinyNAS's format (``conv_data.out``, ``.fp16``, ``.int8``) with an optional
  ``meta.json`` (what ``zsnas lut build`` and ``zsnas lut import-tinynas`` write): a
  ``zsnas._core.ConvLatencyModel`` predicting overhead + scale × Σ conv ms (+ fitted per-conv,
  per-weight and per-activation terms), where each
  convolution is looked up or interpolated by ``TinyNASTable`` and memoised in C++.

``meta.json`` records where the table was measured (machine, backend, library versions,
threads) and, per precision and batch, the per-network overhead fitted from whole networks:
``{"overhead": {"fp32/b1": {"ms": a, "scale": b, "per_conv_ms": c, "per_mweight_ms": d, "per_mact_ms": e, "networks": [...]}}}``.
A folder without it (the
raw TinyNAS download) predicts the plain sum, as TinyNAS does.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Dict, Tuple, Union

from .tinynas import FILES, TinyNASTable

META = "meta.json"
PRECISIONS = tuple(FILES)


def overhead_key(precision: str, batch: int) -> str:
    return f"{precision}/b{int(batch)}"


def read_meta(folder: Union[str, os.PathLike]) -> dict:
    path = Path(folder) / META
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"latency table {folder}: {META} is not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"latency table {folder}: {META} must hold a JSON object")
    return meta


def overhead(folder: Union[str, os.PathLike], precision: str, batch: int) -> Tuple[float, ...]:
    """(ms, scale, per_conv_ms, per_mweight_ms, per_mact_ms) fitted for this precision and batch;
    (0, 1, 0, 0, 0) where none was."""
    fit = read_meta(folder).get("overhead", {}).get(overhead_key(precision, batch))
    if not fit:
        return 0.0, 1.0, 0.0, 0.0, 0.0
    return (float(fit["ms"]), float(fit["scale"]), float(fit.get("per_conv_ms", 0.0)),
            float(fit.get("per_mweight_ms", 0.0)), float(fit.get("per_mact_ms", 0.0)))


def table_options(folder) -> dict:
    """How a folder's table is read (TinyNASTable's options, from its meta.json): TinyNAS's loader
    leaves 4x4 inputs out, zsnas's own tables (drop_4x4: false) keep them; zsnas's tables round
    channels up to the SIMD block they were measured with (channel_block; TinyNAS's: 1) and
    interpolate over their grid's in/out ratios only (grid_ratios; TinyNAS's: every line)."""
    meta = read_meta(folder)
    return {"drop_4x4": bool(meta.get("drop_4x4", True)), "channel_block": int(meta.get("channel_block", 1)),
            "grid_ratios": meta.get("grid_ratios")}


def _file_digest(path: str) -> int:
    h = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return int.from_bytes(h.digest(), "little")


@functools.lru_cache(maxsize=16)
def _conv_model(folder: str, precision: str, batch: int, stamp: Tuple[float, ...]):
    from .. import _core

    table = TinyNASTable(folder, precision, **table_options(folder))
    ms, scale, per_conv, per_mweight, per_mact = overhead(folder, precision, batch)
    terms = f"{precision}/{batch}/{ms!r}/{scale!r}/{per_conv!r}" + (
        f"/{per_mweight!r}/{per_mact!r}" if per_mweight or per_mact else "")
    digest = _file_digest(table.path) ^ int.from_bytes(hashlib.blake2b(terms.encode(), digest_size=8).digest(),
                                                       "little")
    return _core.ConvLatencyModel(table.predict, overhead_ms=ms, scale=scale, per_conv_ms=per_conv,
                                  fingerprint=digest, name=f"{folder} ({precision})", per_mweight_ms=per_mweight,
                                  per_mact_ms=per_mact)


def is_conv_table(path: Union[str, os.PathLike]) -> bool:
    return Path(path).is_dir()


def open_latency_table(path: Union[str, os.PathLike], precision: str = "fp32", batch: int = 1):
    """``_core.LatencyTable`` for a JSON file, ``_core.ConvLatencyModel`` for a TinyNAS-format
    folder (cached per process; a changed file is re-read)."""
    from .. import _core

    p = Path(path)
    if not p.exists():
        raise ValueError(f"latency table {path} does not exist")
    if p.is_file():
        return _core.LatencyTable.load(str(p))
    if precision not in FILES:
        raise ValueError(f"latency precision must be one of {', '.join(FILES)}, not {precision!r}")
    folder = str(p.resolve())
    files = [Path(folder) / FILES[precision], Path(folder) / META]
    stamp = tuple(f.stat().st_mtime_ns if f.exists() else -1 for f in files)
    return _conv_model(folder, precision, int(batch), stamp)


def network_ms(model, arch, resolution: int, batch: int = 1, precision: str = "fp32", device: str = "cpu") -> float:
    """Predicted ms of `arch` from either kind of table (what the engine computes)."""
    from ..arch import Arch

    core = Arch(arch)._core
    if hasattr(model, "query"):
        return model.query(core, resolution, batch, precision, device)
    return model.network_ms(core, resolution, batch)


def target_ms(model, target, resolution: int, batch: int = 1, precision: str = "fp32", device: str = "cpu") -> float:
    """Predicted ms of anything zsnas.targets resolves: a structure through the engine's model,
    another network (a ResNet) from its hooked convolutions with a conv table's overhead."""
    from ..targets import resolve_target
    from .tinynas import module_convs

    t = resolve_target(target)
    if t.kind == "arch":
        return network_ms(model, t.structure, resolution, batch, precision, device)
    if hasattr(model, "query"):
        raise ValueError(f"a block latency table knows structure strings only, not {t.name!r}; use a "
                         f"TinyNAS-format folder")
    convs = module_convs(t.build(residual=True), resolution, batch)
    ms = model.conv_ms([[int(c[0] == "Depthwise"), *c[1:]] for c in convs])
    from .build import conv_macts, conv_mweights

    return (model.overhead_ms + model.per_conv_ms * len(convs) + model.per_mweight_ms * conv_mweights(convs)
            + model.per_mact_ms * conv_macts(convs) + model.scale * sum(ms))


def block_ms(model, arch, resolution: int, batch: int = 1, precision: str = "fp32", device: str = "cpu"):
    """Predicted ms of each block (without a conv table's per-network overhead)."""
    from ..arch import Arch

    core = Arch(arch)._core
    if hasattr(model, "query"):
        return [model.block_ms(str(b), st["in_resolution"], batch, precision, device)
                for b, st in zip(core.blocks, core.block_stats(int(resolution)))]
    return list(model.block_ms(core, resolution, batch))


def import_tinynas(source: Union[str, os.PathLike], out: Union[str, os.PathLike]) -> Dict[str, int]:
    """Check TinyNAS's V100 tables in `source` (every line parsed), copy them to `out` with a
    meta.json naming where they come from. Returns measured entries per precision."""
    from ..rundir import write_atomic

    src, dst = Path(source), Path(out)
    if not src.is_dir():
        raise ValueError(f"import-tinynas: {source} is not a folder")
    counts = {}
    for precision, name in FILES.items():
        if (src / name).exists():
            counts[precision] = len(TinyNASTable(str(src), precision).exact)
    if not counts:
        raise ValueError(f"import-tinynas: {source} holds none of {', '.join(FILES.values())}")
    if dst.resolve() == src.resolve():
        raise ValueError("import-tinynas: give an output folder other than the source")
    dst.mkdir(parents=True, exist_ok=True)
    for precision in counts:
        shutil.copyfile(src / FILES[precision], dst / FILES[precision])
    for extra in ("LICENSE", "README.md", "SOURCE-README.md"):
        if (src / extra).exists():
            shutil.copyfile(src / extra, dst / ("TINYNAS-" + extra if extra != "LICENSE" else extra))
    meta = {"format": "tinynas", "machine": "NVIDIA V100 (measured by TinyNAS's authors)", "backend": "tensorrt",
            "device": "cuda", "precisions": sorted(counts), "batches": [1, 32, 64, 128], "entries": counts,
            "source": str(src.resolve()), "overhead": {},
            "note": "TinyNAS's predictor: the sum over a network's convolutions (residual add fused), "
                    "interpolated for missing shapes; no per-network overhead."}
    write_atomic(str(dst / META), json.dumps(meta, indent=1))
    return counts


__all__ = ["table_options", "open_latency_table", "network_ms", "target_ms", "block_ms", "import_tinynas", "read_meta", "overhead",
           "overhead_key", "is_conv_table", "PRECISIONS", "META"]
