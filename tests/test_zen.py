"""Zen-score (REFERENCE.md §3) against an independent float64 numpy implementation."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from zsnas.nn.common import ContractNet
from zsnas.nn.nb201 import nb201_network
from zsnas.nn.resnet import resnet
from zsnas.proxies.registry import ProxyContext, run_proxy
from zsnas.proxies.zen import gaussian_init_, strict_fp32, zen_score

# (in, out, kernel, stride, bn eps, relu) of the tiny test network's three units
TINY = [(3, 4, 3, 1, 1e-3, True), (4, 6, 3, 2, 1e-5, True), (6, 5, 1, 1, 1e-3, False)]


def tiny_net(rng, track_running_stats=True):
    units = []
    for cin, cout, k, s, eps, relu in TINY:
        conv = nn.Conv2d(cin, cout, k, s, (k - 1) // 2, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(rng.standard_normal(conv.weight.shape)))
        mods = [conv, nn.BatchNorm2d(cout, eps=eps, track_running_stats=track_running_stats)]
        if relu:
            mods.append(nn.ReLU())
        units.append(nn.Sequential(*mods))
    return ContractNet(units, nn.Linear(5, 3), residual=False)


def np_conv(x, w, stride, pad):
    b, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    cols = np.empty((b, c, k, k, ho, wo))
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
    return np.einsum("bcijhw,ocij->bohw", cols, w)


def np_forward(net, x):
    """f(x) and the mean-over-channels batch variance of each BN input, in float64."""
    sig2 = []
    for unit, (cin, cout, k, s, eps, relu) in zip(net.units, TINY):
        w = unit[0].weight.detach().double().cpu().numpy()
        x = np_conv(x, w, s, (k - 1) // 2)
        var = x.var(axis=(0, 2, 3), keepdims=True)  # biased, as BN normalises with
        sig2.append(var.mean())
        x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(var + eps)
        if relu:
            x = np.maximum(x, 0)
    return x, sig2


def np_zen(net, pairs, alpha=0.01):
    scores = []
    for x, eps in pairs:
        x, eps = x.double().numpy(), eps.double().numpy()
        f, sig2 = np_forward(net, x)
        f_mix, _ = np_forward(net, x + alpha * eps)
        delta = np.abs(f - f_mix).reshape(len(x), -1).sum(1).mean()
        scores.append((math.log(delta), sum(0.5 * math.log(v) for v in sig2)))
    return scores


def draw_pairs(n, b=6, r=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(b, 3, r, r, generator=g), torch.randn(b, 3, r, r, generator=g)) for _ in range(n)]


@pytest.mark.parametrize("track", [True, False], ids=["running-stats", "no-running-stats"])
def test_matches_numpy_reference(device, track):
    net = tiny_net(np.random.default_rng(0), track_running_stats=track)
    pairs = draw_pairs(2)
    ref = np_zen(net, pairs)
    res = zen_score(net, init=False, inputs=pairs, device=device)
    want = [d + b for d, b in ref]
    assert res.value == pytest.approx(sum(want) / 2, rel=1e-5)
    for k, w in enumerate(want):
        assert res.sub_scores[f"repeat_{k}"] == pytest.approx(w, rel=1e-5)
    assert res.sub_scores["delta_log"] == pytest.approx(sum(d for d, _ in ref) / 2, abs=1e-5)
    assert res.sub_scores["bn_log_sum"] == pytest.approx(sum(b for _, b in ref) / 2, abs=1e-5)
    assert res.sub_scores["bn_layers"] == 3 and res.degenerate == 0
    assert res.sub_scores["std"] == pytest.approx(abs(want[0] - want[1]) / 2, rel=1e-4)


def test_float64_path_is_exact_to_rounding():
    net = tiny_net(np.random.default_rng(1))
    pairs = draw_pairs(1, seed=1)
    d, b = np_zen(net, pairs)[0]
    res = zen_score(net, init=False, inputs=pairs, dtype=torch.float64)
    assert res.value == pytest.approx(d + b, rel=1e-12)


def test_gaussian_init_values_and_layout_independence():
    net = resnet(18, residual=False)
    a = gaussian_init_(net, torch.Generator().manual_seed(5))
    w = torch.cat([m.weight.detach().flatten() for m in a.modules() if isinstance(m, nn.Conv2d)])
    assert abs(float(w.mean())) < 0.01 and float(w.std()) == pytest.approx(1.0, abs=0.01)
    assert all(float(m.weight.detach().min()) == 1 == float(m.weight.detach().max()) and not m.bias.detach().any()
               for m in a.modules() if isinstance(m, nn.BatchNorm2d))
    assert not a.classifier.bias.any()
    b = gaussian_init_(resnet(18, residual=False).to(memory_format=torch.channels_last),
                       torch.Generator().manual_seed(5))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)  # same logical weights whatever the memory format


def test_registered_proxy_is_reproducible_and_builds_without_residuals(device):
    built = []

    def build(residual=True):
        built.append(residual)
        return nb201_network("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
                             residual=residual)

    ctx = ProxyContext(build=build, resolution=8, batch_size=4, repeats=2, device=torch.device(device), seed=3)
    r1, r2 = run_proxy("zen", ctx), run_proxy("zen", ctx)
    assert built == [False, False]
    assert r1.value == r2.value and math.isfinite(r1.value)
    assert r1.value == pytest.approx((r1.sub_scores["repeat_0"] + r1.sub_scores["repeat_1"]) / 2, rel=1e-12)
    ctx.seed = 4
    assert run_proxy("zen", ctx).value != r1.value


def test_degenerate_all_zero_features_give_neg_inf_not_nan():
    net = nb201_network("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", residual=False)
    res = zen_score(net, resolution=8, batch_size=4, repeats=3)
    assert res.value == -math.inf and res.degenerate == 3
    assert res.sub_scores["delta_log"] == -math.inf and res.sub_scores["std"] == 0.0
    assert not any(isinstance(v, float) and math.isnan(v) for v in res.sub_scores.values())


def test_tf32_flags_restored():
    b = torch.backends
    old = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    try:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = True, True
        torch.set_float32_matmul_precision("high")
        with strict_fp32():
            assert not b.cuda.matmul.allow_tf32 and not b.cudnn.allow_tf32
            assert torch.get_float32_matmul_precision() == "highest"
        zen_score(tiny_net(np.random.default_rng(2)), resolution=8, batch_size=4)
        assert b.cuda.matmul.allow_tf32 and b.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = old[:2]
        torch.set_float32_matmul_precision(old[2])


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeats"):
        zen_score(tiny_net(np.random.default_rng(0)), repeats=0)
    with pytest.raises(ValueError, match="forward_pre_gap"):
        zen_score(nn.Sequential(nn.Conv2d(3, 3, 1)))


def _seed_spread(depth, device, seeds=5):
    scores = [zen_score(lambda residual: resnet(depth, residual=residual), resolution=224, batch_size=16,
                        repeats=4, seed=s, device=device).value for s in range(seeds)]
    return scores, (max(scores) - min(scores)) / abs(sum(scores) / len(scores))


def test_resnet18_seed_spread_under_half_percent(device):
    scores, spread = _seed_spread(18, device)
    print("ResNet-18 Zen-score per seed:", [round(s, 3) for s in scores])
    assert spread < 0.005, scores


@pytest.mark.slow
@pytest.mark.parametrize("depth", [34, 50, 101, 152])
def test_bigger_resnets_seed_spread_under_half_percent(device, depth):
    scores, spread = _seed_spread(depth, device)
    print(f"ResNet-{depth} Zen-score per seed:", [round(s, 3) for s in scores])
    assert spread < 0.005, scores
