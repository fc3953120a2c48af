"""Torchvision-layout ResNets: exact parameter counts, MACs, no-residual mode, model contract."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zsnas.nn.counting import count_macs, count_params
from zsnas.nn.named import NAMED_MODELS, named_model
from zsnas.nn.resnet import Bottleneck, resnet

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")),
]

# torchvision.models.resnet*(): sum(p.numel()) (published in torchvision's model table).
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _closed_form_macs(depth: int, res: int = 224) -> int:
    """Conv+linear MACs of a torchvision ResNet written out layer by layer (independent of hooks)."""
    bottleneck = depth >= 50
    s = (res + 2 * 3 - 7) // 2 + 1  # stem conv 7x7 s2 p3
    macs = 7 * 7 * 3 * 64 * s * s
    s = (s + 2 - 3) // 2 + 1  # maxpool 3x3 s2 p1
    c_in = 64
    for stage, n in enumerate(BLOCKS[depth]):
        w = 64 * 2**stage
        c_out = 4 * w if bottleneck else w
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            s_out = (s - 1) // stride + 1
            if bottleneck:
                macs += c_in * w * s * s  # 1x1 at input resolution
                macs += 9 * w * w * s_out * s_out  # 3x3, stride here (v1.5)
                macs += w * c_out * s_out * s_out  # 1x1 expand
            else:
                macs += 9 * c_in * w * s_out * s_out + 9 * w * w * s_out * s_out
            if stride != 1 or c_in != c_out:
                macs += c_in * c_out * s_out * s_out  # downsample 1x1
            c_in, s = c_out, s_out
    return macs + c_in * 1000


def _downsample_params(depth: int) -> int:
    """Hand sum of the shortcut projections: 1x1 conv (c_in*c_out) + BN (2*c_out) per stage."""
    if depth >= 50:  # every stage's first block projects: 64->256, 256->512, 512->1024, 1024->2048
        pairs = [(64, 256), (256, 512), (512, 1024), (1024, 2048)]
    else:  # stage 1 keeps 64 channels at stride 1: identity
        pairs = [(64, 128), (128, 256), (256, 512)]
    return sum(ci * co + 2 * co for ci, co in pairs)


def _check_contract(model: nn.Module, x: torch.Tensor) -> None:
    h = x
    for unit in model.units:
        h = unit(h)
    h = model.tail(h)
    torch.testing.assert_close(model.forward_pre_gap(x), h, rtol=0, atol=0)
    logits = model.classifier(h.mean(dim=(2, 3)))
    torch.testing.assert_close(model(x), logits, rtol=1e-5, atol=1e-5)
    assert isinstance(model.classifier, nn.Linear)


def test_downsample_by_hand_numbers():
    # Spelled out once so the helper itself is checked: ResNet-50 16,896 + 132,096 + 526,336
    # + 2,101,248; ResNet-18 8,448 + 33,280 + 132,096.
    assert _downsample_params(50) == 2_776_576
    assert _downsample_params(18) == 173_824


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("depth, published", [(50, 4.1e9), (18, 1.814e9)])
def test_macs_at_224(depth, published, device):
    macs = count_macs(resnet(depth).to(device), (3, 224, 224))
    assert macs == _closed_form_macs(depth)
    assert abs(macs - published) <= 0.01 * published
    if depth == 50:
        assert macs == 4_089_184_256
    else:
        assert macs == 1_814_073_344


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("depth", [18, 50])
def test_no_residual_removes_exactly_the_downsample(depth, device):
    with_res, without = resnet(depth), resnet(depth, residual=False)
    assert count_params(with_res) - count_params(without) == _downsample_params(depth)
    assert not without.residual and with_res.residual
    assert all(getattr(u, "downsample", None) is None for u in without.units)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 64, 64, generator=g).to(device)
    without = without.to(device)
    _check_contract(without.eval(), x)
    assert without(x).shape == (2, 1000)


def test_no_residual_block_semantics():
    """A Bottleneck without residual = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x)))))))."""
    g = torch.Generator().manual_seed(1)
    blk = Bottleneck(32, 8, stride=2, residual=False).eval()
    with torch.no_grad():
        for p in blk.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    x = torch.randn(2, 32, 9, 9, generator=g)

    def bn(t, m):
        return F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, 1e-5)

    y = F.relu(bn(F.conv2d(x, blk.conv1.weight), blk.bn1))
    y = F.relu(bn(F.conv2d(y, blk.conv2.weight, stride=2, padding=1), blk.bn2))
    y = F.relu(bn(F.conv2d(y, blk.conv3.weight), blk.bn3))
    torch.testing.assert_close(blk(x), y)
    blk_res = Bottleneck(32, 8, stride=2, residual=True).eval()
    blk_res.load_state_dict(blk.state_dict(), strict=False)
    with torch.no_grad():
        for p in blk_res.downsample.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    ds = blk_res.downsample
    y_pre = F.relu(bn(F.conv2d(x, blk.conv1.weight), blk.bn1))
    y_pre = F.relu(bn(F.conv2d(y_pre, blk.conv2.weight, stride=2, padding=1), blk.bn2))
    y_pre = bn(F.conv2d(y_pre, blk.conv3.weight), blk.bn3)
    short = bn(F.conv2d(x, ds[0].weight, stride=2), ds[1])
    torch.testing.assert_close(blk_res(x), F.relu(y_pre + short))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("depth", sorted(TORCHVISION_PARAMS))
def test_params_and_contract(depth, device):
    # One build per depth (building ResNet-152 is the slow part of this file).
    model = named_model(f"resnet{depth}")
    assert count_params(model) == TORCHVISION_PARAMS[depth]
    assert len(model.units) == 1 + sum(BLOCKS[depth])
    assert model.residual is True
    model = model.to(device).eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 32, 32, generator=g).to(device)
    _check_contract(model, x)
    assert model(x).shape == (2, 1000)


def test_named_model_resolution():
    assert named_model("resnet18", num_classes=7, residual=False).classifier.out_features == 7
    assert NAMED_MODELS == ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
    assert count_params(named_model("ResNet18")) == TORCHVISION_PARAMS[18]
    assert named_model("resnet50").classifier.out_features == 1000
    nb = named_model("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
    assert nb.classifier.out_features == 10
    with pytest.raises(ValueError, match="resnet18"):
        named_model("resnet19")
    with pytest.raises(ValueError, match="unknown ResNet depth"):
        resnet(20)
