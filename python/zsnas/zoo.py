"""Published zsnas-format architectures by name (REFERENCE §1), with their native setting.

The twelve ZenNets are the structure strings Zen-NAS published (idstcv/ZenNAS, folder ZenNet/,
Apache-2.0; ../shared/data/zennet/ holds the files, a test checks these copies against them).
CIFAR ZenNets were searched with a 100-class head, ImageNet ones with 1000; the FLOPs-budget
ImageNet models (``-se``) are trained with squeeze-excitation in every residual block, so their
structure here uses the SE variant of each residual block (``SuperResIDWE4K7SE``) and counts it.
``zennet-imagenet-400m`` is ZenNet-400M's structure without SE (as searched), ``az-nas-initial``
AZ-NAS's initial MobileNetV2-like network.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List


@dataclass(frozen=True)
class ZooEntry:
    published: str  # the structure string as published
    resolution: int
    num_classes: int
    se: bool = False  # SE in every residual block (the ``-se`` ImageNet models)
    source: str = ""  # file of ../shared/data/zennet
    paper: str = ""  # the paper's name for it

    @property
    def structure(self) -> str:
        return with_se(self.published) if self.se else self.published


def with_se(structure: str) -> str:
    """Every residual block of `structure` as its SE variant (SuperResK1K3K1 -> SuperResK1K3K1SE)."""
    return re.sub(r"(SuperRes[A-Z0-9]+?)(?<!SE)\(", r"\1SE(", structure)


ZOO: Dict[str, ZooEntry] = {
    "zennet-cifar-0.5m": ZooEntry(
        "SuperConvK3BNRELU(3,64,1,1)SuperResK1K5K1(64,168,1,16,3)SuperResK1K3K1(168,80,2,32,4)"
        "SuperResK1K5K1(80,112,2,16,3)SuperResK1K5K1(112,144,1,24,3)SuperResK1K3K1(144,32,2,40,1)"
        "SuperConvK1BNRELU(32,512,1,1)",
        32, 100, se=False, source="zennet_cifar_model_size05M_res32.txt", paper="ZenNet-0.5M (CIFAR, params budget)"),
    "zennet-cifar-1.0m": ZooEntry(
        "SuperConvK3BNRELU(3,88,1,1)SuperResK1K7K1(88,120,1,16,1)SuperResK1K7K1(120,192,2,16,3)"
        "SuperResK1K5K1(192,224,1,24,4)SuperResK1K5K1(224,96,2,24,2)SuperResK1K3K1(96,168,2,40,3)"
        "SuperResK1K3K1(168,112,1,48,3)SuperConvK1BNRELU(112,512,1,1)",
        32, 100, se=False, source="zennet_cifar_model_size1M_res32.txt", paper="ZenNet-1.0M (CIFAR, params budget)"),
    "zennet-cifar-2.0m": ZooEntry(
        "SuperConvK3BNRELU(3,32,1,1)SuperResK1K5K1(32,120,1,40,1)SuperResK1K5K1(120,176,2,32,3)"
        "SuperResK1K7K1(176,272,1,24,3)SuperResK1K3K1(272,176,1,56,3)SuperResK1K3K1(176,176,1,64,4)"
        "SuperResK1K5K1(176,216,2,40,2)SuperResK1K3K1(216,72,2,56,2)SuperConvK1BNRELU(72,512,1,1)",
        32, 100, se=False, source="zennet_cifar_model_size2M_res32.txt", paper="ZenNet-2.0M (CIFAR, params budget)"),
    "zennet-400m-se": ZooEntry(
        "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K7(16,40,2,40,1)SuperResIDWE1K7(40,64,2,64,1)"
        "SuperResIDWE4K7(64,96,2,96,5)SuperResIDWE2K7(96,224,2,224,5)SuperConvK1BNRELU(224,2048,1,1)",
        224, 1000, se=True, source="zennet_imagenet1k_flops400M_res224.txt", paper="ZenNet-400M-SE (ImageNet, FLOPs budget)"),
    "zennet-600m-se": ZooEntry(
        "SuperConvK3BNRELU(3,24,2,1)SuperResIDWE1K7(24,48,2,48,1)SuperResIDWE2K7(48,72,2,72,1)"
        "SuperResIDWE6K7(72,96,2,88,5)SuperResIDWE4K7(96,192,2,168,5)SuperConvK1BNRELU(192,2048,1,1)",
        224, 1000, se=True, source="zennet_imagenet1k_flops600M_res224.txt", paper="ZenNet-600M-SE (ImageNet, FLOPs budget)"),
    "zennet-900m-se": ZooEntry(
        "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K7(16,48,2,72,1)SuperResIDWE2K7(48,72,2,64,3)"
        "SuperResIDWE2K7(72,152,2,144,3)SuperResIDWE2K7(152,360,2,352,4)SuperResIDWE4K7(360,288,1,264,3)"
        "SuperConvK1BNRELU(288,2048,1,1)",
        224, 1000, se=True, source="zennet_imagenet1k_flops900M_res224.txt", paper="ZenNet-900M-SE (ImageNet, FLOPs budget)"),
    "zennet-0.1ms": ZooEntry(
        "SuperConvK3BNRELU(3,24,2,1)SuperResK3K3(24,32,2,64,1)SuperResK5K5(32,64,2,32,1)"
        "SuperResK5K5(64,168,2,96,1)SuperResK1K5K1(168,320,1,120,1)SuperResK1K5K1(320,640,2,304,3)"
        "SuperResK1K5K1(640,512,1,384,1)SuperConvK1BNRELU(512,2384,1,1)",
        224, 1000, se=False, source="zennet_imagenet1k_latency01ms_res224.txt", paper="ZenNet-0.1ms (ImageNet, V100 FP16 batch-64 latency budget per image)"),
    "zennet-0.2ms": ZooEntry(
        "SuperConvK3BNRELU(3,24,2,1)SuperResK1K5K1(24,32,2,32,1)SuperResK1K7K1(32,104,2,64,1)"
        "SuperResK1K5K1(104,512,2,160,1)SuperResK1K5K1(512,344,1,192,1)SuperResK1K5K1(344,688,2,320,4)"
        "SuperResK1K5K1(688,680,1,304,3)SuperConvK1BNRELU(680,2552,1,1)",
        224, 1000, se=False, source="zennet_imagenet1k_latency02ms_res224.txt", paper="ZenNet-0.2ms (ImageNet, V100 FP16 batch-64 latency budget per image)"),
    "zennet-0.3ms": ZooEntry(
        "SuperConvK3BNRELU(3,24,2,1)SuperResK1K5K1(24,64,2,32,1)SuperResK1K3K1(64,128,2,128,1)"
        "SuperResK1K7K1(128,432,2,128,1)SuperResK1K5K1(432,272,1,160,1)SuperResK1K5K1(272,848,2,384,4)"
        "SuperResK1K5K1(848,848,1,320,3)SuperResK1K5K1(848,456,1,320,3)SuperConvK1BNRELU(456,6704,1,1)",
        224, 1000, se=False, source="zennet_imagenet1k_latency03ms_res224.txt", paper="ZenNet-0.3ms (ImageNet, V100 FP16 batch-64 latency budget per image)"),
    "zennet-0.5ms": ZooEntry(
        "SuperConvK3BNRELU(3,8,2,1)SuperResK1K7K1(8,64,2,32,1)SuperResK1K3K1(64,152,2,128,1)"
        "SuperResK1K5K1(152,640,2,192,4)SuperResK1K5K1(640,640,1,192,2)SuperResK1K5K1(640,1536,2,384,4)"
        "SuperResK1K5K1(1536,816,1,384,3)SuperResK1K5K1(816,816,1,384,3)SuperConvK1BNRELU(816,5304,1,1)",
        224, 1000, se=False, source="zennet_imagenet1k_latency05ms_res224.txt", paper="ZenNet-0.5ms (ImageNet, V100 FP16 batch-64 latency budget per image)"),
    "zennet-0.8ms": ZooEntry(
        "SuperConvK3BNRELU(3,16,2,1)SuperResK1K5K1(16,64,2,64,1)SuperResK1K3K1(64,240,2,128,2)"
        "SuperResK1K7K1(240,640,2,160,3)SuperResK1K7K1(640,768,1,192,4)SuperResK1K5K1(768,1536,2,384,5)"
        "SuperResK1K5K1(1536,1536,1,384,3)SuperResK1K5K1(1536,2304,1,384,5)SuperConvK1BNRELU(2304,4912,1,1)",
        224, 1000, se=False, source="zennet_imagenet1k_latency08ms_res224.txt", paper="ZenNet-0.8ms (ImageNet, V100 FP16 batch-64 latency budget per image)"),
    "zennet-1.2ms": ZooEntry(
        "SuperConvK3BNRELU(3,32,2,1)SuperResK1K5K1(32,80,2,32,1)SuperResK1K7K1(80,432,2,128,5)"
        "SuperResK1K7K1(432,640,2,192,3)SuperResK1K7K1(640,1008,1,160,5)SuperResK1K7K1(1008,976,1,160,4)"
        "SuperResK1K5K1(976,2304,2,384,5)SuperResK1K5K1(2304,2496,1,384,5)SuperConvK1BNRELU(2496,3072,1,1)",
        224, 1000, se=False, source="zennet_imagenet1k_latency12ms_res224.txt", paper="ZenNet-1.2ms (ImageNet, V100 FP16 batch-64 latency budget per image)"),
    "zennet-imagenet-400m": ZooEntry(
        "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K7(16,40,2,40,1)SuperResIDWE1K7(40,64,2,64,1)"
        "SuperResIDWE4K7(64,96,2,96,5)SuperResIDWE2K7(96,224,2,224,5)SuperConvK1BNRELU(224,2048,1,1)", 224, 1000,
        source="zennet_imagenet1k_flops400M_res224.txt", paper="ZenNet-400M without SE (the searched structure)"),
    "az-nas-initial": ZooEntry(
        "SuperConvK3BNRELU(3,8,2,1)SuperResIDWE6K3(8,32,2,8,1)SuperResIDWE6K3(32,48,2,32,1)"
        "SuperResIDWE6K3(48,96,2,48,1)SuperResIDWE6K3(96,128,2,96,1)SuperConvK1BNRELU(128,2048,1,1)", 224, 1000,
        paper="AZ-NAS's initial network"),
}


def lookup(name: str):
    """The ZooEntry for `name` (case-insensitive), or None."""
    return ZOO.get(name.strip().lower())


def zoo_names() -> List[str]:
    return list(ZOO)


__all__ = ["ZOO", "ZooEntry", "lookup", "zoo_names", "with_se"]
