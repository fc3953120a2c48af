"""Architecture IR: parsing, canonical printing, validation errors, exact counts."""
import random
import re

import pytest
import torch

import zsnas
from zsnas import Arch, ArchError
from zsnas.nn import build_model
from zsnas.nn.counting import count_macs, count_params

from conftest import ZENNET_CIFAR_1M, ZENNET_IMAGENET_400M


@pytest.mark.parametrize("s", [ZENNET_CIFAR_1M, ZENNET_IMAGENET_400M])
def test_published_strings_round_trip(s):
    assert str(Arch(s)) == s
    assert Arch(str(Arch(s))) == Arch(s)


def test_whitespace_is_accepted_and_printed_canonically():
    assert str(Arch(" SuperConvK3BNRELU( 3, 8 ,2,1 )\nSuperConvK1BNRELU(8,16,1,1) ")) == \
        "SuperConvK3BNRELU(3,8,2,1)SuperConvK1BNRELU(8,16,1,1)"


def test_every_catalogue_type_round_trips():
    for name in zsnas._core.catalogue():
        params = "(8,16,2,1)" if name.startswith("SuperConv") else "(8,16,2,8,2)"
        s = name + params
        assert str(Arch(s)) == s
        blk = Arch(s).blocks[0]
        assert blk.type == name and blk.in_channels == 8 and blk.out_channels == 16
    assert len(zsnas._core.catalogue()) == 4 + 2 * (3 + 3 + 12)


def test_block_fields():
    b = Arch("SuperResIDWE6K5SE(16,24,2,32,3)").blocks[0]
    assert (b.family, b.kernel, b.expansion, b.se, b.stride, b.bottleneck, b.sub_layers) == (
        "res_idw", 5, 6, True, 2, 32, 3)


# --- hand-derived counts ---------------------------------------------------------------------

def test_conv_block_counts_by_hand():
    a = Arch("SuperConvK3BNRELU(3,8,2,1)")
    assert a.params(num_classes=10) == 3 * 3 * 3 * 8 + 2 * 8 + 8 * 10 + 10
    assert a.flops(resolution=32, num_classes=10) == 216 * 16 * 16 + 80
    assert a.out_resolution(32) == 16 and a.out_resolution(33) == 17


def test_res_kxkx_counts_by_hand():
    a = Arch("SuperResK3K3(8,16,2,4,1)")
    # conv3 8->4 s2 + BN, conv3 4->16 + BN, projection 1x1 8->16 s2 + BN
    assert a.params(num_classes=0) == (288 + 8) + (576 + 32) + (128 + 32)
    assert a.flops(resolution=16, num_classes=0) == (288 + 576 + 128) * 8 * 8
    # plain: no projection
    assert a.params(num_classes=0, residual=False) == (288 + 8) + (576 + 32)


def test_res_idw_counts_by_hand():
    a = Arch("SuperResIDWE2K3(8,16,1,8,1)")
    unit_a = (8 * 16 + 32) + (9 * 16 + 32) + (16 * 8 + 16)  # expands to round8(8*2)=16, identity shortcut
    unit_b = (8 * 32 + 64) + (9 * 32 + 64) + (32 * 16 + 32) + (8 * 16 + 32)  # round8(16*2)=32, projection 8->16
    assert a.params(num_classes=0) == unit_a + unit_b
    # SE on the depthwise outputs: hidden = round(16/4)=4 and round(32/4)=8, 1x1 convs with bias
    se = (2 * 16 * 4 + 4 + 16) + (2 * 32 * 8 + 8 + 32)
    assert a.params(num_classes=0, se=True) == unit_a + unit_b + se
    assert Arch("SuperResIDWE2K3SE(8,16,1,8,1)").params(num_classes=0) == unit_a + unit_b + se


def test_k1kxk1_two_units_per_sub_layer():
    a = Arch("SuperResK1K3K1(16,16,1,8,1)")
    unit = (16 * 8 + 16) + (9 * 8 * 8 + 16) + (8 * 16 + 32)
    assert a.params(num_classes=0) == 2 * unit
    assert len(a.units()) == 2 and all(not u["projection"] for u in a.units())


def test_layers_is_sum_of_sub_layers():
    assert Arch(ZENNET_CIFAR_1M).layers() == 1 + 1 + 3 + 4 + 2 + 3 + 3 + 1
    assert Arch(ZENNET_IMAGENET_400M).layers() == 14


def test_zennet_400m_is_400m_flops():
    assert Arch(ZENNET_IMAGENET_400M).flops(224) == pytest.approx(400e6, rel=0.01)


def test_round8_is_half_even():
    assert [zsnas._core.round8(x) for x in (4, 12, 20, 28, 36, 100.0)] == [8, 16, 16, 32, 32, 96]


# --- counts against the built torch module --------------------------------------------------

@pytest.mark.parametrize("s,classes", [(ZENNET_CIFAR_1M, 10), (ZENNET_IMAGENET_400M, 1000)])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("se", [None, True])
def test_counts_equal_torch(s, classes, residual, se):
    a = Arch(s)
    model = build_model(a, residual=residual, num_classes=classes, se=se)
    assert a.params(classes, residual, se) == count_params(model) == sum(p.numel() for p in model.parameters())
    meta = model.to("meta")  # hooks see the same shapes; no arithmetic is done
    for r in (32, 224):
        assert a.flops(r, classes, residual, se) == count_macs(meta, (3, r, r))


def test_block_table_sums_to_totals():
    a = Arch(ZENNET_CIFAR_1M)
    rows = a.block_table(resolution=32)
    assert sum(r["params"] for r in rows) + 512 * 1000 + 1000 == a.params()
    assert sum(r["flops"] for r in rows) + 512 * 1000 == a.flops(32)
    assert [r["out_resolution"] for r in rows] == [32, 32, 16, 16, 8, 4, 4, 4]


def test_built_model_runs_and_has_contract_shapes():
    model = build_model(ZENNET_CIFAR_1M, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    feats = model.forward_pre_gap(x)
    assert feats.shape == (2, 512, 4, 4)
    assert model(x).shape == (2, 10)
    assert len(model.units) == 2 + 2 * (1 + 3 + 4 + 2 + 3 + 3)


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("s,pattern", [
    ("", r"empty structure string at position 0"),
    ("SuperConvK4BNRELU(3,8,1,1)", r"unknown block type 'SuperConvK4BNRELU' at position 0"),
    ("SuperConvK3BNRELU(3,8,1)", r"block 0 .*expected 4 parameters"),
    ("SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,1,8)", r"block 1 \(SuperResK3K3, position 26\): expected 5"),
    ("SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(9,16,1,8,1)", r"block 1 .*channel mismatch, in_channels=9 .*outputs 8"),
    ("SuperConvK3BNRELU(3,0,1,1)", r"out_channels=0 is out of range"),
    ("SuperConvK3BNRELU(3,8,-2,1)", r"stride=-2 is out of range"),
    ("SuperResK3K3(3,8,1,0,1)", r"bottleneck_channels=0"),
    ("SuperConvK3BNRELU(3,8,1,1000)", r"sub_layers=1000 is out of range"),
    ("SuperConvK3BNRELU(3,8,1,1", r"unbalanced parentheses"),
    ("SuperConvK3BNRELU(3,8.5,1,1)", r"must be integers.*position 20"),
    ("SuperConvK3BNRELU(3,123456789012345,1,1)", r"absurdly large"),
    ("SuperConvK3BNRELU 3,8,1,1)", r"expected '\('"),
])
def test_validation_errors_name_the_problem(s, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        Arch(s)
    assert isinstance(info.value, ArchError) and 0 <= info.value.position <= len(s)


def test_resolution_shrinking_below_one_is_an_error():
    a = Arch("SuperConvK3BNRELU(3,8,2,1)SuperConvK3BNRELU(8,8,2,1)")
    assert a.flops(resolution=4, num_classes=0) == 216 * 4 + 576 * 1
    with pytest.raises(ValueError, match=r"block 1 \(SuperConvK3BNRELU\): stride 2 at input resolution 1"):
        a.flops(resolution=2)
    with pytest.raises(ValueError, match="resolution=0"):
        a.flops(resolution=0)


def _malformed(rng: random.Random, base: str) -> str:
    kind = rng.randrange(8)
    i = rng.randrange(len(base))
    if kind == 0:
        return base[:i]  # truncation
    if kind == 1:
        return base[:i] + base[i + 1:]  # drop a character
    if kind == 2:
        return base[:i] + rng.choice("(),-.x9 eZ") + base[i:]
    if kind == 3:  # a bad number
        bad = rng.choice(["-1", "0", "1.5", "1e3", "99999999999999999999999", "", "+", "0x10"])
        return re.sub(r"\d+", bad, base, count=1) if rng.random() < 0.3 else \
            base.replace(",", "," + bad + "", 1)
    if kind == 4:  # unknown names
        return base.replace(rng.choice(["SuperConv", "SuperRes", "K1K7K1", "IDWE", "BNRELU"]),
                            rng.choice(["SuperConf", "Res", "K2K7K1", "IDWX", "BN"]), 1)
    if kind == 5:  # unbalanced parentheses
        return base.replace(")", "", 1) if rng.random() < 0.5 else base.replace("(", "((", 1)
    if kind == 6:  # huge values
        return re.sub(r"\((\d+),", "(" + str(rng.choice([2**31, 2**40, 10**12, 65537])) + ",", base, count=1)
    return base[:i] + base[i:][::-1]  # scrambled tail


def test_fuzz_malformed_strings_raise_value_error_with_position():
    rng = random.Random(1234)
    bases = [ZENNET_CIFAR_1M, ZENNET_IMAGENET_400M, "SuperConvK3BNRELU(3,8,2,1)SuperResK3K3SE(8,8,1,8,2)"]
    malformed = 0
    while malformed < 10_000:
        s = _malformed(rng, rng.choice(bases))
        try:
            Arch(s)
        except ValueError as e:
            malformed += 1
            assert isinstance(e, ArchError)
            assert re.search(r"position \d+", str(e)), str(e)
            assert 0 <= e.position <= len(s), (s, e.position)
    assert malformed == 10_000


def test_arch_is_hashable_and_comparable():
    assert len({Arch(ZENNET_CIFAR_1M), Arch(ZENNET_CIFAR_1M), Arch(ZENNET_IMAGENET_400M)}) == 2
    with pytest.raises(TypeError):
        Arch(42)
