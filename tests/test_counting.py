"""zsnas.nn.counting: the torch-side parameter / MAC counters, checked on hand-counted nets."""
import pytest
import torch
from torch import nn

from zsnas.nn.counting import count_macs, count_params

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")),
]


def _small_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),  # 9x9 -> 5x5
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=True),  # depthwise, 5x5
        nn.Conv2d(8, 16, 1, groups=2, bias=False),  # grouped 1x1, 5x5
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 4),
    )


def test_count_params_by_hand():
    # conv 3*8*9=216; BN 2*8=16; dw conv 8*9 + 8 bias = 80; grouped 1x1 (8/2)*16 = 64;
    # linear 16*4 + 4 = 68.
    assert count_params(_small_net()) == 216 + 16 + 80 + 64 + 68


@pytest.mark.parametrize("device", DEVICES)
def test_count_macs_by_hand(device):
    net = _small_net().to(device)
    # conv: 3*3*3 per output * 8 ch * 25 px = 5400; depthwise: 9*1*8*25 = 1800;
    # grouped 1x1: 1*(8/2)*16*25 = 1600; linear 16*4 = 64 (+4 with the bias add).
    assert count_macs(net, (3, 9, 9)) == 5400 + 1800 + 1600 + 64
    assert count_macs(net, (3, 9, 9), linear_bias=True) == 5400 + 1800 + 1600 + 64 + 4


def test_count_macs_restores_mode_and_removes_hooks():
    net = _small_net().train()
    count_macs(net, (3, 9, 9))
    assert net.training
    assert all(len(m._forward_hooks) == 0 for m in net.modules())
    net.eval()
    count_macs(net, (3, 9, 9))
    assert not net.training


@pytest.mark.parametrize("shape", [(1, 3, 9, 9), (3, 9), (3, 0, 9)])
def test_count_macs_rejects_bad_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        count_macs(_small_net(), shape)
