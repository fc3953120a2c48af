"""AZ-NAS proxies (REFERENCE.md §4) against an independent float64 reference that follows the
authors' way: connected forward graph, one torch.autograd.grad per pair (last pair first)."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zsnas.nn import build_model
from zsnas.nn.common import ContractNet
from zsnas.nn.counting import count_macs
from zsnas.nn.nb201 import nb201_network
from zsnas.proxies.az import az_scores, kaiming_init_, rademacher_like
from zsnas.proxies.registry import ProxyContext, run_proxy

ARCHS = {
    # 8x8 input: the head feature is 2x2 with 64 channels, so N = B*H*W = 32 < C (Gram path)
    "mbv2": ("SuperConvK3BNRELU(3,8,1,1)SuperResIDWE4K3(8,16,2,16,1)SuperResIDWE2K5(16,24,2,24,1)"
             "SuperConvK1BNRELU(24,64,1,1)", 8),
    "res": ("SuperConvK3BNRELU(3,16,1,1)SuperResK1K3K1(16,32,2,8,1)SuperResK3K3(32,32,1,16,1)"
            "SuperConvK1BNRELU(32,48,1,1)", 16),
    "nb201": ("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|", 16),
}
B = 8


def make(name):
    s, res = ARCHS[name]
    model = nb201_network(s) if s.startswith("|") else build_model(s, num_classes=10)
    model.twin = lambda: _twin(s, model)  # an independent copy with the same weights
    return model, res


def _twin(s, model):
    other = nb201_network(s) if s.startswith("|") else build_model(s, num_classes=10)
    other.load_state_dict(model.state_dict())
    return other


def entropy64(f):
    x = f.detach().permute(0, 2, 3, 1).reshape(-1, f.shape[1])
    x = x - x.mean(0, keepdim=True)
    lam = torch.linalg.eigvalsh(x.t() @ x / x.shape[0]).clamp_min(0)
    if float(lam.sum()) == 0.0:
        return 0.0
    p = lam / lam.sum()
    return float(-(p * torch.log(p + 1e-8)).sum())


def reference_az(model, x, probes):
    """Float64, per-pair autograd.grad over the connected graph (the authors' algorithm)."""
    m = (model.twin() if hasattr(model, "twin") else copy.deepcopy(model)).double().train()
    feats, h = [], x.double()
    for unit in m.units:
        h = unit(h)
        feats.append(h)
    ent = [entropy64(f) for f in feats]
    terms = []
    for i in reversed(range(1, len(feats))):
        g_out = probes[i - 1].double()
        g_in = torch.autograd.grad(feats[i], feats[i - 1], g_out, retain_graph=False, allow_unused=True)[0]
        g_in = torch.zeros_like(feats[i - 1]) if g_in is None else g_in
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            terms.append(-math.inf)
            continue
        if g_in.shape[2:] != g_out.shape[2:]:
            g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
        gi = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1])
        go = g_out.permute(0, 2, 3, 1).reshape(-1, g_out.shape[1])
        s = float(torch.linalg.svdvals(gi.t() @ go / go.shape[0]).max())
        terms.append(-s - 1 / (s + 1e-6) + 2)
    return {"expressivity": sum(ent), "progressivity": min(b - a for a, b in zip(ent, ent[1:])),
            "trainability": sum(terms) / len(terms), "entropies": ent}


def setup(model, res, seed=0):
    g = torch.Generator().manual_seed(seed)
    kaiming_init_(model, g)
    x = torch.randn(B, 3, res, res, generator=g)
    with torch.no_grad():
        shapes, h = [], x
        for u in (model.twin() if hasattr(model, "twin") else copy.deepcopy(model)).train().units:
            h = u(h)
            shapes.append(h.shape)
    probes = [torch.randint(0, 2, s, generator=g).float() * 2 - 1 for s in shapes[1:]]
    return x, probes


@pytest.mark.parametrize("name", list(ARCHS))
def test_matches_float64_per_pair_reference(device, name):
    model, res = make(name)
    x, probes = setup(model, res)
    ref = reference_az(model, x, probes)
    got = az_scores(model, init=False, inputs=x, g_outs=probes, device=device, copy_model=False)
    for k in ("expressivity", "progressivity", "trainability"):
        assert got[k] == pytest.approx(ref[k], rel=1e-4), k
    assert got["entropies"] == pytest.approx(ref["entropies"], rel=1e-4, abs=1e-6)
    assert got["degenerate"] == 0


def test_complexity_counts_conv_and_linear_macs():
    for name in ARCHS:
        model, res = make(name)
        got = az_scores(model.twin(), resolution=res, batch_size=4, copy_model=False)
        assert got["complexity"] == count_macs(model, (3, res, res))
    # NB201 table (REFERENCE.md §7) minus the Linear bias the table charges (+10)
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    got = az_scores(nb201_network(cell), resolution=32, batch_size=2)
    assert got["complexity"] == round((7.78305 + 35.38944 * 3 + 3.93216 * 1) * 1e6) - 10
    assert az_scores(nb201_network(cell), resolution=8, batch_size=2, flops=123.0)["complexity"] == 123.0


def test_channels_last_does_not_change_values():
    model, res = make("nb201")
    a = az_scores(model.twin(), resolution=res, batch_size=B, seed=7, channels_last=True, copy_model=False)
    b = az_scores(model.twin(), resolution=res, batch_size=B, seed=7, channels_last=False, copy_model=False)
    for k in ("expressivity", "progressivity", "trainability"):
        assert a[k] == pytest.approx(b[k], rel=1e-4)


def test_rademacher_probe():
    t = torch.empty(16, 8, 12, 12)
    a = rademacher_like(t, torch.Generator().manual_seed(1))
    b = rademacher_like(t.contiguous(memory_format=torch.channels_last), torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # same values whatever the layout
    assert set(a.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(a.mean())) < 4 / math.sqrt(a.numel())  # within 4 sigma of balanced
    assert rademacher_like(torch.empty(5, 3), torch.Generator()).shape == (5, 3)


def test_all_none_cell_is_degenerate_not_nan():
    model = nb201_network("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    x, probes = setup(model, 8)
    got = az_scores(model, init=False, inputs=x, g_outs=probes)
    ref = reference_az(model, x, probes)
    # every cell and both reduction blocks output exact zeros: 17 features of entropy 0;
    # the 15 cells' VJPs are zero (sigma = 0, term -1e6 + 2 as in the reference)
    assert got["degenerate_features"] == 17 and got["degenerate_pairs"] == 15 and got["degenerate"] == 32
    assert got["entropies"][1:] == [0.0] * 17
    assert got["expressivity"] == pytest.approx(ref["expressivity"], rel=1e-4)
    assert got["progressivity"] == pytest.approx(-got["entropies"][0], rel=1e-12)
    assert got["trainability"] == pytest.approx(ref["trainability"], rel=1e-4)
    assert sum(t == pytest.approx(-1e6 + 2) for t in got["pair_terms"]) == 15


def test_identity_cell_scores_neg_inf_trainability():
    model = nb201_network("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    got = az_scores(model, resolution=8, batch_size=4)
    assert got["trainability"] == -math.inf and got["degenerate_pairs"] == 15
    ent = got["entropies"]  # stem, 5 cells, reduction, 5 cells, reduction, 5 cells
    for first in (1, 7, 13):  # an identity cell repeats its input's entropy exactly
        assert ent[first:first + 5] == [ent[first - 1]] * 5
    assert math.isfinite(got["expressivity"])
    assert got["progressivity"] == min(b - a for a, b in zip(ent, ent[1:]))


class _Zero(nn.Module):
    def forward(self, x):
        return x * 0.0


def test_all_zero_features_network():
    """A stem, then a unit that zeroes everything, then conv-BN-ReLU on zeros."""
    units = [nn.Sequential(nn.Conv2d(3, 6, 3, 1, 1), nn.BatchNorm2d(6), nn.ReLU()), _Zero(),
             nn.Sequential(nn.Conv2d(6, 4, 1), nn.BatchNorm2d(4), nn.ReLU())]
    model = ContractNet(units, nn.Linear(4, 2), residual=True)
    x, probes = setup(model, 6)
    got = az_scores(model, init=False, inputs=x, g_outs=probes)
    ref = reference_az(model, x, probes)
    assert got["degenerate_features"] == 2 and got["entropies"][1:] == [0.0, 0.0]
    # both VJPs are zero: the zeroing unit's, and the last unit's (ReLU(0) passes no gradient)
    assert got["degenerate_pairs"] == 2
    for k in ("expressivity", "progressivity", "trainability"):
        assert got[k] == pytest.approx(ref[k], rel=1e-4), k


def test_registered_proxies_share_one_definition(device):
    cell = "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|"
    ctx = ProxyContext(build=lambda residual=True: nb201_network(cell, residual=residual), resolution=8,
                       batch_size=4, device=torch.device(device), seed=11)
    az = run_proxy("az", ctx)
    assert az.value == az.sub_scores["expressivity"]
    for key in ("expressivity", "progressivity", "trainability", "complexity"):
        r = run_proxy(f"az_{key}", ctx)
        assert r.value == az.sub_scores[key] and r.sub_scores == az.sub_scores


def test_bad_probes_raise():
    model, res = make("res")
    x, probes = setup(model, res)
    with pytest.raises(ValueError, match="probes"):
        az_scores(model, init=False, inputs=x, g_outs=probes[:-1], copy_model=False)
    with pytest.raises(ValueError, match="probe 1 has shape"):
        az_scores(model, init=False, inputs=x, g_outs=[probes[-1]] + probes[1:], copy_model=False)
