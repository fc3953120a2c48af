"""Standard ImageNet ResNets (18/34/50/101/152) in the torchvision layout, without torchvision.

The layout follows torchvision's "v1.5" ResNet: the stride of a Bottleneck sits on its 3x3
conv, a shortcut that changes shape is a 1x1 conv (stride) + BN, BN eps 1e-5, Linear with bias.
Parameter counts therefore equal torchvision's (ResNet-50: 25,557,032). These are the
Zen-NAS published anchors (REFERENCE.md §3), scored with ``residual=False``: every shortcut and
its add are removed (and with them the downsample conv+BN), the block's final ReLU stays.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

from .common import ContractNet

_BN_EPS = 1e-5


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN (+ shortcut) - ReLU."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride, 1, bias=False)
        self.bn1 = _bn(width)
        self.conv2 = nn.Conv2d(width, out_ch, 3, 1, 1, bias=False)
        self.bn2 = _bn(out_ch)
        self.relu = nn.ReLU(inplace=False)
        self.residual = residual
        self.downsample = _make_downsample(in_ch, out_ch, stride) if residual else None

    def plain_layers(self) -> List[nn.Module]:
        """The layers in the order forward applies them when not residual (a straight chain:
        what fused forward paths flatten)."""
        return [self.conv1, self.bn1, self.relu, self.conv2, self.bn2, self.relu]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1(x4)-BN (+ shortcut) - ReLU."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, 1, 0, bias=False)
        self.bn1 = _bn(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = _bn(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, 1, 0, bias=False)
        self.bn3 = _bn(out_ch)
        self.relu = nn.ReLU(inplace=False)
        self.residual = residual
        self.downsample = _make_downsample(in_ch, out_ch, stride) if residual else None

    def plain_layers(self) -> List[nn.Module]:
        """The layers in the order forward applies them when not residual."""
        return [self.conv1, self.bn1, self.relu, self.conv2, self.bn2, self.relu, self.conv3, self.bn3, self.relu]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


def _make_downsample(in_ch: int, out_ch: int, stride: int) -> Optional[nn.Sequential]:
    """1x1 conv (stride) + BN when the shape changes, else None (identity shortcut)."""
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False), _bn(out_ch))


class Stem(nn.Sequential):
    """conv7x7 s2 (3->64) - BN - ReLU - maxpool 3x3 s2."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            _bn(64),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(3, 2, 1),
        )


# depth -> (block type, blocks per stage); torchvision's table.
RESNET_LAYOUTS: dict = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(ContractNet):
    """A torchvision-layout ResNet obeying the zsnas model contract."""

    def __init__(self, depth: int, num_classes: int = 1000, residual: bool = True) -> None:
        if depth not in RESNET_LAYOUTS:
            raise ValueError(
                f"unknown ResNet depth {depth!r}; known depths: {sorted(RESNET_LAYOUTS)}"
            )
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        block, counts = RESNET_LAYOUTS[depth]
        units: List[nn.Module] = [Stem()]
        in_ch = 64
        for stage, n_blocks in enumerate(counts):
            width = 64 * 2**stage
            for i in range(n_blocks):
                stride = 2 if (stage > 0 and i == 0) else 1
                units.append(block(in_ch, width, stride, residual))
                in_ch = width * block.expansion
        super().__init__(units, nn.Linear(in_ch, int(num_classes)), residual=residual)
        self.depth = depth


def resnet(depth: int, num_classes: int = 1000, residual: bool = True) -> ResNet:
    """ResNet-``depth`` (18, 34, 50, 101 or 152), torchvision layout, default PyTorch init.

    ``residual=False`` drops every shortcut and its add (Zen-score scoring mode).
    """
    return ResNet(int(depth), num_classes=num_classes, residual=residual)
