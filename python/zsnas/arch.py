"""Python face of the C++ architecture IR: parse, print, count, inspect blocks.

    >>> a = zsnas.Arch("SuperConvK3BNRELU(3,16,2,1)SuperResIDWE4K3(16,32,2,32,1)SuperConvK1BNRELU(32,256,1,1)")
    >>> a.params(num_classes=1000), a.flops(resolution=224), a.layers()

Needs no torch: a service can use architectures, spaces and the engine without importing it.
"""
from __future__ import annotations

from typing import Optional, Union

from . import _core

ArchError = _core.ArchError
Block = _core.Block


class Arch:
    """A parsed ZenNAS structure string. Immutable; equal and hashable by its canonical string."""

    __slots__ = ("_core",)

    def __init__(self, structure: Union[str, "Arch", "_core.CoreArch"]):
        if isinstance(structure, Arch):
            self._core = structure._core
        elif isinstance(structure, _core.CoreArch):
            self._core = structure
        elif isinstance(structure, str):
            self._core = _core.CoreArch(structure)
        else:
            raise TypeError(f"Arch() takes a structure string, got {type(structure).__name__}")

    # --- identity -------------------------------------------------------------------------
    def __str__(self) -> str:
        return str(self._core)

    def __repr__(self) -> str:
        return f"Arch('{self}')"

    def __eq__(self, other) -> bool:
        return isinstance(other, Arch) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    # Immutable: copies share the C++ value; pickling goes through the canonical string.
    def __reduce__(self):
        return (Arch, (str(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    # --- structure ------------------------------------------------------------------------
    @property
    def blocks(self) -> list:
        return self._core.blocks

    def __len__(self) -> int:
        return len(self._core.blocks)

    def units(self, residual: bool = True, se: Optional[bool] = None) -> list[dict]:
        """The residual units every block expands into (what zsnas.nn builds, layer by layer)."""
        return self._core.units(residual, se)

    def layers(self) -> int:
        """Σ sub_layers — the ZenNAS layer budget."""
        return self._core.layers()

    @property
    def out_channels(self) -> int:
        return self._core.out_channels()

    def out_resolution(self, resolution: int) -> int:
        return self._core.out_resolution(resolution)

    # --- counting -------------------------------------------------------------------------
    def params(self, num_classes: int = 1000, residual: bool = True, se: Optional[bool] = None) -> int:
        """Exact parameter count of the model zsnas.nn.build_model builds (sum of p.numel())."""
        return self._core.params(num_classes, residual, se)

    def flops(self, resolution: int = 224, num_classes: int = 1000, residual: bool = True,
              se: Optional[bool] = None) -> int:
        """Conv + linear multiply-accumulates per image at `resolution` (ResNet-50@224 ≈ 4.1 G)."""
        return self._core.flops(resolution, num_classes, residual, se)

    def counts(self, resolution: int = 224, num_classes: int = 1000) -> tuple[int, int]:
        """(params, MACs): what a space's closed-form counts answer without building a network."""
        return int(self.params(num_classes=num_classes)), int(self.flops(resolution=resolution, num_classes=num_classes))

    def block_table(self, resolution: int = 224, residual: bool = True, se: Optional[bool] = None) -> list[dict]:
        """Per block: name, string, resolution in/out, params, FLOPs, layers."""
        rows = []
        for blk, stats in zip(self.blocks, self._core.block_stats(resolution, residual, se)):
            rows.append({"block": blk.type, "structure": str(blk), **stats})
        return rows


def as_arch(x: Union[str, Arch]) -> Arch:
    return x if isinstance(x, Arch) else Arch(x)
