"""The proxies' speed paths against the plain torch paths they replace (same values).

* Zen-score's fused BN(+ReLU) forward (_FusedForward) vs the model's own forward with the
  BN variance recorder, on a ZenNet-style ArchNet in float32 (shallow, so rounding stays
  below the tolerance: deep random nets without residuals amplify it); with and without its
  fused expand steps (widening conv -> BN+ReLU -> 1x1 conv).
* AZ-NAS's speed-ups (box-mean and BN kernels, shared NB201 ReLUs: their values are tested in
  test_ops.py / test_nb201.py) are undone after scoring.
"""
import pytest
import torch
from torch import nn

from zsnas.nn import build_model
from zsnas.nn.nb201 import NB201Cell, nb201_network, parse_nb201
from zsnas.nn.resnet import resnet
from zsnas.proxies import zen
from zsnas.proxies.az import _accelerate

SMALL_ZEN = "SuperConvK3BNRELU(3,16,1,1)SuperResK1K3K1(16,24,2,8,1)SuperResK1K5K1(24,32,1,8,1)SuperConvK1BNRELU(32,40,1,1)"


def test_zen_fused_path_is_taken_and_matches_plain_path(device, monkeypatch):
    build = lambda residual=False: build_model(SMALL_ZEN, residual=residual, num_classes=10)  # noqa: E731
    plan = zen._FusedForward.plan(build().train())
    assert plan is not None
    # stem + 2 K1KXK1 blocks x 2 units x 3 conv-BN + head = 14 BNs, each followed by a ReLU
    # (inner layers' own, units' final ReLU), so every one is fused with it and none is left over
    bns = [(k, relu) for k, _, relu in plan.steps if k == "bn"]
    assert bns == [("bn", True)] * 14 and all(k != "relu" for k, _, _ in plan.steps)
    kw = dict(resolution=16, batch_size=8, repeats=2, seed=5, device=device)
    fast = zen.zen_score(build, **kw)
    monkeypatch.setattr(zen._FusedForward, "plan", classmethod(lambda cls, model, expand=False: None))
    plain = zen.zen_score(build, **kw)
    assert fast.value == pytest.approx(plain.value, rel=1e-5)
    for k in ("delta_log", "bn_log_sum", "repeat_0", "repeat_1"):
        assert fast.sub_scores[k] == pytest.approx(plain.sub_scores[k], rel=1e-5, abs=1e-6), k
    assert fast.sub_scores["bn_layers"] == plain.sub_scores["bn_layers"] == 14


def _assert_expand_steps_change_only_rounding(build, monkeypatch, **kw):
    fused = zen.zen_score(build, **kw)
    monkeypatch.setattr(zen, "_EXPAND_SIMD", False)
    unfused = zen.zen_score(build, **kw)
    for k in ("delta_log", "bn_log_sum", "repeat_0", "repeat_1"):
        assert fused.sub_scores[k] == pytest.approx(unfused.sub_scores[k], rel=1e-5, abs=1e-6), k


def test_zen_expand_steps_fuse_inverted_bottlenecks(monkeypatch):
    build = lambda residual=False: build_model(SMALL_ZEN, residual=residual, num_classes=10)  # noqa: E731
    plan = zen._FusedForward.plan(build().train(), expand=True)
    # each block is two units (1x1 -> KxK -> 1x1, bottleneck 8): a unit's last 1x1 (8 -> 24 or
    # 32) + BN + ReLU meets the next unit's first 1x1 (back to 8) three times; the last unit's
    # 8 -> 32 feeds the 32 -> 40 head, a widening: left as it is
    expands = [m for k, m, _ in plan.steps if k == "expand"]
    assert [(a.in_channels, a.out_channels, b.out_channels) for a, _, b in expands] == [
        (8, 24, 8), (8, 24, 8), (8, 32, 8)]
    assert sum(k == "bn" for k, _, _ in plan.steps) + len(expands) == 14
    kw = dict(resolution=16, batch_size=8, repeats=2, seed=5)
    calls = []
    kernel = zen._fused_expand_contract
    monkeypatch.setattr(zen, "_fused_expand_contract", lambda *a: calls.append(1) or kernel(*a))
    zen.zen_score(build, **kw)
    assert len(calls) == (12 if zen._EXPAND_SIMD else 0)  # 3 pairs x 2 passes x 2 repeats
    _assert_expand_steps_change_only_rounding(build, monkeypatch, **kw)


def test_zen_expand_steps_fuse_a_strided_stem(monkeypatch):
    # stem 3x3 stride 2 (3 -> 32: rows of 27 patch values) + BN + ReLU feeds the unit's 1x1
    # 32 -> 8: an expansion with a gathered first convolution; then the units' 8 -> 24 -> 8
    arch = "SuperConvK3BNRELU(3,32,2,1)SuperResK1K3K1(32,24,1,8,1)SuperConvK1BNRELU(24,40,1,1)"
    build = lambda residual=False: build_model(arch, residual=residual, num_classes=10)  # noqa: E731
    plan = zen._FusedForward.plan(build().train(), expand=True)
    expands = [m for k, m, _ in plan.steps if k == "expand"]
    assert [(a.kernel_size[0], a.stride[0], a.in_channels, a.out_channels, b.out_channels)
            for a, _, b in expands] == [(3, 2, 3, 32, 8), (1, 1, 8, 24, 8)]
    _assert_expand_steps_change_only_rounding(build, monkeypatch, resolution=16, batch_size=8, repeats=2, seed=7)


def test_zen_fused_zennet_stays_within_float32_rounding_of_float64(monkeypatch):
    # ZenNet-1.0M (its stem and 31 unit-to-unit expansions fused): deep random nets without
    # residuals amplify float32 rounding to ~0.1 in the score at B=16 (seeds 0-4: torch's own
    # float32 forward lands 0.02-0.11 from float64, the fused one 0.02-0.06), against a seed-to-
    # seed spread of ~1. Same weights and inputs for all three.
    from conftest import ZENNET_CIFAR_1M

    model = build_model(ZENNET_CIFAR_1M, residual=False, num_classes=10)
    g = torch.Generator().manual_seed(3)
    zen.gaussian_init_(model, g)
    pairs = [(torch.randn(16, 3, 32, 32, generator=g), torch.randn(16, 3, 32, 32, generator=g))]
    kw = dict(init=False, inputs=pairs)
    exact = zen.zen_score(model, dtype=torch.float64, **kw).value
    fused = zen.zen_score(model, **kw).value
    monkeypatch.setattr(zen._FusedForward, "plan", classmethod(lambda cls, model, expand=False: None))
    plain = zen.zen_score(model, **kw).value
    assert abs(plain - exact) < 0.25 and abs(fused - exact) < 0.25, (exact, fused, plain)


def test_zen_fused_path_covers_plain_resnets(monkeypatch):
    build = lambda residual=False: resnet(18, num_classes=10, residual=residual)  # noqa: E731
    plan = zen._FusedForward.plan(build().train())
    # stem BN + 8 blocks x 2 BNs, every one followed by a ReLU (the blocks' final one included)
    assert [relu for k, _, relu in plan.steps if k == "bn"] == [True] * 17
    assert zen._FusedForward.plan(build(residual=True)) is None
    kw = dict(resolution=32, batch_size=8, repeats=1, seed=2)
    fast = zen.zen_score(build, **kw)
    monkeypatch.setattr(zen._FusedForward, "plan", classmethod(lambda cls, model, expand=False: None))
    plain = zen.zen_score(build, **kw)
    assert fast.value == pytest.approx(plain.value, rel=1e-4)
    assert fast.sub_scores["bn_log_sum"] == pytest.approx(plain.sub_scores["bn_log_sum"], rel=1e-5)


def test_zen_fused_plan_refuses_what_it_cannot_fuse():
    assert zen._FusedForward.plan(build_model(SMALL_ZEN, residual=True, num_classes=10)) is None
    assert zen._FusedForward.plan(nb201_network("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                                residual=False)) is None


def test_speedups_are_undone_again():
    pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    other = nn.AvgPool2d(2, 2)
    cell = NB201Cell(parse_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"), 4)
    model = nn.Sequential(pool, other, cell)
    restore = _accelerate(model)
    assert "forward" in vars(pool) and "forward" not in vars(other) and cell.lean
    restore()
    assert "forward" not in vars(pool) and not cell.lean
