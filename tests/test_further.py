"""The further proxies (issue 12, item 1; REFERENCE §9): GradSign, linear regions, TE-NAS, Φ-score,
plain, depth, and Zen-NAS's vanilla-network rule. Each against a value computed independently."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import zsnas
from zsnas.nn.nb201 import NB201Cell, NB201Network, nb201_network
from zsnas.proxies import ProxyContext, run_proxy
from zsnas.proxies import classic as C
from zsnas.proxies import further as FP
from zsnas.scoring.request import ScoreRequest
from zsnas.scoring.runner import run_request
from zsnas.targets import resolve_target

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"


class Head(nn.Module):
    """Linear 3 -> 2 on a flat input: per-sample gradients by hand."""

    def __init__(self, w, b):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(w, dtype=torch.float32))
            self.fc.bias.copy_(torch.tensor(b, dtype=torch.float32))

    def forward(self, x):
        return self.fc(x)


def test_gradsign_on_a_linear_head_by_hand():
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    x, y = rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    # ∂CE/∂W for one sample: (softmax(Wx + b) − onehot(y)) xᵀ
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(2)[y])[:, :, None] * x[:, None, :]
    want = np.abs(np.sign(g).sum(0)).mean()
    model = Head(w, b)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    for method in ("batched", "loop"):
        r = FP.gradsign_score(model, xt, yt, method)
        assert r.value == pytest.approx(want, rel=1e-9) and r.degenerate == 0
        assert r.sub_scores["sum"] == np.abs(np.sign(g).sum(0)).sum()  # gradsign_sum: Σ_k, 6 entries


def test_gradsign_sum_shares_gradsign_pass_and_sums_its_entries():
    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), batch_size=4,
                       resolution=8, seed=2)
    mean = run_proxy("gradsign", ctx)
    total = run_proxy("gradsign_sum", ctx)  # same ctx: its memo holds gradsign's pass
    assert len([k for k in ctx.memo if k[0] == "gradsign"]) == 1
    model = C.prepare(ctx)
    x, y = C.batch(ctx)
    used = FP.layers_run(model, x[:1])
    entries = sum(m.weight.numel() for m, u in zip(C.layers(model), used) if u)
    assert total.value == pytest.approx(mean.value * entries, rel=1e-12)
    assert total.sub_scores["mean"] == mean.value
    fresh = ProxyContext(build=ctx.build, batch_size=4, resolution=8, seed=2)
    assert run_proxy("gradsign_sum", fresh).value == total.value  # alone, the same value


def test_gradsign_batched_equals_the_per_sample_loop_on_a_cell():
    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), batch_size=6,
                       resolution=8, seed=1)
    model = C.prepare(ctx).double()  # in float64 the two orders of work agree to rounding
    x, y = C.batch(ctx)
    loop = FP.per_sample_loss_grads(model, x.double(), y, "loop")
    batched = FP.per_sample_loss_grads(model, x.double(), y, "batched")
    for a, b in zip(loop, batched):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


class Awkward(nn.Module):
    """The layers the batched per-sample gradients must get right: BN, a strided dilated depthwise
    convolution with reflect padding, a grouped 'same' one, in-place ReLUs on convolution outputs,
    one module run twice, a Linear on a 3-d input."""

    def __init__(self):
        super().__init__()
        self.a, self.bn = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=8, padding_mode="reflect")
        self.g = nn.Conv2d(8, 12, (3, 1), padding="same", groups=4)
        self.shared, self.seq, self.fc = nn.Conv2d(12, 12, 1), nn.Linear(12, 6), nn.Linear(6, 5)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.bn(self.a(x)))
        x = self.g(self.relu(self.dw(x)))
        self.relu(x)
        x = self.shared(self.shared(x))
        x = self.seq(x.flatten(2).transpose(1, 2))  # [B, positions, 6]
        return self.fc(x.mean(1))


def test_batched_per_sample_gradients_equal_the_loop_on_awkward_layers(device):
    torch.manual_seed(0)
    model = Awkward().double().train().to(device)
    x, y = torch.randn(6, 3, 9, 9, dtype=torch.float64), torch.randint(0, 5, (6,))
    x, y = x.to(device), y.to(device)
    loop = FP.per_sample_loss_grads(model, x, y, "loop")
    batched = FP.per_sample_loss_grads(model, x, y, "batched")
    assert len(loop) == len(batched) == 6
    for a, b in zip(loop, batched):
        assert a.abs().max() > 0
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-13)
    assert FP.gradsign_score(model, x, y, "batched").value == FP.gradsign_score(model, x, y, "loop").value
    assert all(m.training for m in model.modules())  # the caller's model is left as it was


def test_ntk_batched_equals_the_per_sample_loop():
    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), batch_size=5,
                       resolution=8, seed=2)
    model = C.prepare(ctx)
    x, _ = C.batch(ctx)
    loop = FP.ntk_gram(model, x, "loop")
    batched = FP.ntk_gram(model, x, "batched")
    torch.testing.assert_close(batched, loop, rtol=1e-5, atol=0)
    model, x = model.double(), x.double()
    torch.testing.assert_close(FP.ntk_gram(model, x, "batched"), FP.ntk_gram(model, x, "loop"), rtol=1e-10, atol=0)
    assert FP.ntk_cond_score(model, x).value == pytest.approx(FP.ntk_cond_score(model, x, "loop").value, rel=1e-5)


def test_ntk_over_tenas_parameter_set_equals_tenas_get_ntk_n():
    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), batch_size=4,
                       resolution=8, seed=5)
    model = C.prepare(ctx).double()
    x = C.batch(ctx)[0].double()
    # TE-NAS's get_ntk_n: one backward of logits[i] with ones per sample, every parameter whose
    # name holds 'weight' (Conv, Linear and BN's γ), NTK = einsum('nc,mc->nm')
    logits = model(x)
    rows = []
    for i in range(len(x)):
        model.zero_grad()
        logits[i:i + 1].backward(torch.ones_like(logits[i:i + 1]), retain_graph=True)
        rows.append(torch.cat([w.grad.reshape(-1) for n, w in model.named_parameters()
                               if "weight" in n and w.grad is not None]))
    g = torch.stack(rows)
    want = torch.einsum("nc,mc->nm", g, g)
    for method in FP.METHODS:
        got = FP.ntk_gram(model, x, method, params="weights")
        torch.testing.assert_close(got, want, rtol=1e-10, atol=0)
    gamma = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert gamma > 0 and g.shape[1] == sum(w.numel() for w in C._weights(model)) + gamma
    assert not torch.allclose(FP.ntk_gram(model, x, params="layers"), want)  # BN's γ rows add to it
    with pytest.raises(ValueError, match="params must be one of layers, weights"):
        FP.ntk_gram(model, x, params="bn")


def test_ntk_and_phi_in_channels_last_equal_the_contiguous_layout():
    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), batch_size=5,
                       resolution=8, seed=2)
    model = C.prepare(ctx).double()  # in float64 the two layouts agree to rounding
    x = C.batch(ctx)[0].double()
    for method in FP.METHODS:
        torch.testing.assert_close(FP.ntk_gram(model, x, method, channels_last=True),
                                   FP.ntk_gram(model, x, method, channels_last=False), rtol=1e-10, atol=0)
    probes = torch.randn((3,) + tuple(x.shape), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    plain = FP.phi_network(ctx).double()
    want = FP.phi_score(plain, x, probes, channels_last=False).value
    assert FP.phi_score(plain, x, probes, channels_last=True).value == pytest.approx(want, rel=1e-12)
    # the caller's model and input keep their layout
    assert all(p.is_contiguous() for p in model.parameters()) and x.is_contiguous()


def test_linear_regions_count_distinct_activation_patterns():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
    # quadrants (+,+), (+,+), (−,+), (−,−), (−,−): three patterns
    x = torch.tensor([[1.0, 1.0], [2.0, 0.5], [-1.0, 1.0], [-1.0, -2.0], [-3.0, -1.0]])
    patterns = FP.relu_patterns(model, x)
    assert patterns.tolist() == [[1, 1], [1, 1], [0, 1], [0, 0], [0, 0]]
    # TE-NAS's formula: Σ_i 1/#{j: p_j = p_i}
    te = sum(1.0 / sum((patterns[j] == patterns[i]).all() for j in range(5)) for i in range(5))
    assert FP.linear_regions_score(model, x).value == te == 3.0
    assert FP.linear_regions_value(np.zeros((4, 0), bool)) == (1.0, 1)


CONV1X1_ONLY = "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|"


def test_tenas_thin_network_is_the_one_cell_at_width_one_without_a_stem():
    from zsnas.nn.nb201 import nb201_thin_network

    net = nb201_thin_network(CONV1X1_ONLY, num_classes=10)
    # by hand (TE-NAS's C=1, N=1, depth 1): the cell (1×1 conv 1 + BN 2), tail BN 2, classifier 1·10 + 10
    assert sum(p.numel() for p in net.parameters()) == 3 + 2 + 20 == 25
    assert len(net.units) == 1 and isinstance(net.units[0], NB201Cell)
    x = torch.randn(5, 1, 3, 3)
    assert net(x).shape == (5, 10) and net.forward_pre_gap(x).shape == (5, 1, 3, 3)
    with pytest.raises(ValueError, match="depth must be >= 1"):
        NB201Network(CONV1X1_ONLY, depth=0)


def _tenas_regions_reference(model, batches):
    """TE-NAS's LinearRegionCount: the sign of every 4-d ReLU output, each batch forwarded alone
    in train mode, calc_LR's Σ_i 1/#{j: pattern_j = pattern_i} (in float64, not half)."""
    rows = []
    for x in batches:
        feats = []
        hooks = [m.register_forward_hook(lambda m, i, o: feats.append(o.detach().reshape(len(x), -1)))
                 for m in model.modules() if isinstance(m, nn.ReLU)]
        with torch.no_grad():
            model.train()(x)
        for h in hooks:
            h.remove()
        rows.append(torch.sign(torch.cat(feats, 1)))
    a = torch.cat(rows).double()
    differ = a @ (1 - a).T
    differ = differ + differ.T  # > 0 where two patterns differ
    return float((1.0 / (1 - torch.sign(differ)).sum(1)).sum())


def test_linear_regions_tenas_is_the_mean_of_three_draws_counted_as_tenas_does():
    from zsnas.nn.nb201 import nb201_thin_network

    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), seed=2,
                       target=resolve_target(CELL))
    r = run_proxy("linear_regions_tenas", ctx)
    draws = []
    for k in range(3):
        model = C.init_default(nb201_thin_network(CELL), C._cpu_generator(ctx, FP.SALT_TENAS_LR + 2 * k))
        g = C._cpu_generator(ctx, FP.SALT_TENAS_LR + 2 * k + 1)
        draws.append(_tenas_regions_reference(model, [torch.randn(1000, 1, 3, 3, generator=g) for _ in range(3)]))
    assert [r.sub_scores[f"draw{k}"] for k in (1, 2, 3)] == pytest.approx(draws, rel=1e-12)
    assert r.value == pytest.approx(sum(draws) / 3, rel=1e-12) and r.sub_scores["inputs"] == 3000
    assert all(64 < d <= 3000 for d in draws) and r.degenerate == 0  # not saturated at a batch size


def test_ntk_cond_tenas_is_the_mean_of_three_draws_of_tenas_get_ntk_n_on_its_network(monkeypatch):
    from zsnas.nn.nb201 import nb201_tenas_ntk_network

    monkeypatch.setattr(FP, "TENAS_NTK_BATCH", 6)  # TE-NAS's 72, made small for the reference below
    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), seed=1, resolution=8,
                       target=resolve_target(CELL))
    r = run_proxy("ntk_cond_tenas", ctx)
    draws = []
    for k in range(3):
        model = C.init_default(nb201_tenas_ntk_network(CELL), C._cpu_generator(ctx, FP.SALT_TENAS_NTK + 2 * k))
        assert [u.out_channels for u in model.modules() if isinstance(u, nn.Conv2d)][0] == 3  # C=3, the stem
        x = torch.randn(6, 3, 8, 8, generator=C._cpu_generator(ctx, FP.SALT_TENAS_NTK + 2 * k + 1))
        # get_ntk_n: one backward of logits[i] with ones per sample, every parameter named 'weight',
        # NTK = G Gᵀ, κ = λmax / λmin (in float64 here)
        model = model.double().train()
        logits = model(x.double())
        rows = []
        for i in range(6):
            model.zero_grad()
            logits[i:i + 1].backward(torch.ones_like(logits[i:i + 1]), retain_graph=True)
            rows.append(torch.cat([w.grad.reshape(-1) for n, w in model.named_parameters()
                                   if "weight" in n and w.grad is not None]))
        g = torch.stack(rows)
        lam = torch.linalg.eigvalsh(g @ g.T)
        draws.append(-float(lam[-1] / lam[0]))
    assert [r.sub_scores[f"draw{k}"] for k in (1, 2, 3)] == pytest.approx(draws, rel=1e-3)  # float32 against 64
    assert r.value == pytest.approx(sum(draws) / 3, rel=1e-3) and r.degenerate == 0
    with pytest.raises(ValueError, match="ntk_cond_tenas is TE-NAS's protocol for NAS-Bench-201 cells"):
        run_proxy("ntk_cond_tenas", ProxyContext(build=ctx.build, target=resolve_target("resnet18")))


def test_linear_regions_tenas_refuses_a_network_that_is_not_an_nb201_cell():
    from zsnas.errors import ProxyFailed

    with pytest.raises(ProxyFailed, match="linear_regions_tenas.*NAS-Bench-201 cells.*'resnet18'"):
        zsnas.score("resnet18", proxies=["linear_regions_tenas"], resolution=32)


def test_degenerate_cell_gives_defined_counted_values():
    ctx = ProxyContext(build=lambda residual=True: nb201_network(ALL_NONE, residual=residual), batch_size=4,
                       resolution=8, seed=3, target=resolve_target(ALL_NONE))
    res = {n: run_proxy(n, ctx) for n in FP.FURTHER_PROXIES}
    for n, r in res.items():
        assert not math.isnan(r.value), n
    # the head's input is BN+ReLU of zeros = 0: every weight gradient is zero
    assert (res["gradsign"].value, res["gradsign"].degenerate) == (0.0, 1)
    assert (res["gradsign_sum"].value, res["gradsign_sum"].degenerate) == (0.0, 1)
    assert (res["linear_regions"].value, res["linear_regions"].degenerate) == (1.0, 1)  # every input alike
    assert (res["linear_regions_tenas"].value, res["linear_regions_tenas"].degenerate) == (1.0, 3)  # 3 draws
    assert (res["ntk_cond_tenas"].value, res["ntk_cond_tenas"].degenerate) == (-1e12, 3)  # zero gradients: capped
    assert res["te_nas"].value == 1.0 - 1e12 and res["te_nas"].degenerate == 2
    assert (res["plain"].value, res["plain"].degenerate) == (0.0, 1)
    assert res["depth"].value == 6.0  # stem, two reduction blocks of 2 convs, classifier
    assert res["phi"].degenerate == 1 and math.isfinite(res["phi"].value)  # the output ignores the input


def test_te_nas_reuses_the_ntk_of_ntk_cond_in_one_request(monkeypatch):
    calls = []
    real = FP.ntk_cond_score
    monkeypatch.setattr(FP, "ntk_cond_score", lambda *a, **k: calls.append(1) or real(*a, **k))
    t = resolve_target(CELL)
    row = run_request(ScoreRequest(target=t, proxies=("ntk_cond", "te_nas", "linear_regions"), resolution=8,
                                   num_classes=10, batch_size=4, seed=0))
    assert not row.errors and len(calls) == 1
    assert row.values["te_nas"] == pytest.approx(row.values["linear_regions"] + row.values["ntk_cond"])


def test_naswot_and_linear_regions_share_one_pattern_pass_in_one_request(monkeypatch):
    calls = []
    real = C.relu_patterns
    monkeypatch.setattr(C, "relu_patterns", lambda *a, **k: calls.append(1) or real(*a, **k))
    t = resolve_target(CELL)
    req = dict(target=t, resolution=8, num_classes=10, batch_size=6, seed=0)
    row = run_request(ScoreRequest(proxies=("naswot", "linear_regions", "te_nas"), **req))
    assert not row.errors and len(calls) == 1
    alone = {n: run_request(ScoreRequest(proxies=(n,), **req)).values[n] for n in ("naswot", "linear_regions")}
    assert len(calls) == 3 and {n: row.values[n] for n in alone} == alone


def test_plain_on_a_linear_head_by_hand():
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    x, y = rng.standard_normal((4, 3)), np.array([1, 0, 0, 1])
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = ((p - np.eye(2)[y]).T @ x) / len(x)  # ∂ mean CE / ∂W
    r = FP.plain_score(Head(w, b), torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    assert r.value == pytest.approx(-(g * w).sum(), rel=1e-5) and r.sub_scores["raw"] == pytest.approx((g * w).sum(),
                                                                                                       rel=1e-5)


@pytest.mark.parametrize("target, want", [
    ("resnet50", 50), ("resnet18", 18),
    ("SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,2,8,2)SuperConvK1BNRELU(16,32,1,1)", 1 + 4 + 1 + 1),
    # a K1K3K1 block of one sub-layer is two residual units of three convs (its SE adds none)
    ("SuperConvK3BNRELU(3,8,1,1)SuperResK1K3K1SE(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)", 1 + 2 * 3 + 1 + 1),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
     1 + 15 * 3 + 4 + 1),
    (CELL, 1 + 15 * 3 + 4 + 1),  # 3x3 -> 3x3 ... longest: node1 (1), node2 via node1 (2), node3 via node2 (3)
])
def test_depth_counts_the_main_path(target, want):
    assert FP.depth_of(target) == want


class Probe(nn.Module):
    """conv 2->3 (3x3), ReLU, conv 3->2 on 4x4 inputs, no BN: the Jacobian in closed form by autograd."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 2, 1)

    def forward_pre_gap(self, x):
        return self.b(torch.relu(self.a(x)))

    forward = forward_pre_gap


def test_phi_equals_the_exact_jacobian_norm_with_basis_probes():
    torch.manual_seed(0)
    model = Probe().double()
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    d = x[0].numel()
    # √d · e_k for every input coordinate k: the mean of ‖J v‖² over them is exactly ‖J‖_F²
    basis = torch.eye(d, dtype=torch.float64).reshape(d, 1, 2, 4, 4).expand(d, 3, 2, 4, 4) * math.sqrt(d)
    norms = []
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0)), x[i])
        norms.append(float(jac.reshape(-1, d).norm()))
    got = FP.phi_score(model, x, basis)
    assert got.value == pytest.approx(math.log(np.mean(norms)), rel=1e-10) and got.degenerate == 0


def test_phi_overflows_float32_on_a_deep_plain_network_where_zen_score_does_not():
    deep = "SuperConvK3BNRELU(3,64,1,1)" + "SuperConvK3BNRELU(64,64,1,1)" * 39 + "SuperConvK1BNRELU(64,64,1,1)"
    rep = zsnas.score(deep, proxies=["phi", "zen"], resolution=8, batch_size=4, device="cpu")
    assert rep["phi"].degenerate == 1 and rep["phi"].sub_scores["overflow"] == 1
    assert rep["phi"].value == pytest.approx(math.log(torch.finfo(torch.float32).max))
    assert math.isfinite(rep["zen"].value) and rep["zen"].degenerate == 0
    shallow = zsnas.score("SuperConvK3BNRELU(3,16,1,1)SuperConvK3BNRELU(16,16,1,2)", proxies=["phi"], resolution=8,
                          batch_size=4, device="cpu")
    assert shallow["phi"].degenerate == 0 and shallow["phi"].sub_scores["overflow"] == 0


def test_a_network_with_se_and_silu_scores_as_its_vanilla_twin():
    from zsnas.nn import build_model

    plain = "SuperConvK3BNRELU(3,8,1,1)SuperResK1K3K1(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)"
    fancy = "SuperConvK3BNRELU(3,8,1,1)SuperResK1K3K1SE(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)"

    def silu(structure):
        def build(residual=True, num_classes=10):
            m = build_model(structure, residual=residual, num_classes=num_classes)
            for name, child in list(m.named_modules()):
                for cname, c in list(child.named_children()):
                    if isinstance(c, nn.ReLU):
                        setattr(child, cname, nn.SiLU())
            return m
        return build

    def zen(build):
        ctx = ProxyContext(build=build, batch_size=4, resolution=16, seed=5)
        return run_proxy("zen", ctx).value

    model = silu(fancy)()
    assert any(isinstance(m, nn.SiLU) for m in model.modules())
    assert zen(silu(fancy)) == zen(lambda residual=True: build_model(plain, residual=residual, num_classes=10))


@pytest.mark.parametrize("scheme, std", [
    ("kaiming_fan_in", math.sqrt(2 / (64 * 9))), ("kaiming_fan_out", math.sqrt(2 / (128 * 9))),
    ("xavier", math.sqrt(2 / (64 * 9 + 128 * 9))), ("normal", 0.1), ("uniform", 0.2 / math.sqrt(12))])
def test_az_initialisations_draw_what_az_nas_table_8_names(scheme, std):
    from zsnas.proxies.az import init_weights_

    conv = nn.Sequential(nn.Conv2d(64, 128, 3))
    init_weights_(conv, torch.Generator().manual_seed(0), scheme)
    w = conv[0].weight.detach().double()
    assert float(w.std()) == pytest.approx(std, rel=0.02) and abs(float(w.mean())) < 0.01 * std * 10
    if scheme == "uniform":
        assert float(w.abs().max()) <= 0.1


def test_az_init_variants_are_az_with_that_initialisation():
    from zsnas.proxies.az import az_scores, init_weights_

    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), batch_size=6,
                       resolution=8, seed=4)
    got = run_proxy("az-xavier", ctx)
    model = ctx.build(residual=True)
    g = ctx.generator(salt=0xA2)
    init_weights_(model, g, "xavier")
    want = az_scores(model, resolution=8, batch_size=6, generator=g, init=False)
    assert got.sub_scores["trainability"] == pytest.approx(want["trainability"], rel=1e-9)
    assert got.value == pytest.approx(want["expressivity"], rel=1e-9)
    assert got.value != run_proxy("az", ctx).value
    row = run_request(ScoreRequest(target=resolve_target(CELL), proxies=("az-xavier_trainability",), resolution=8,
                                   num_classes=10, batch_size=6, seed=4))
    assert not row.errors and "az-xavier_trainability" in row.values


def test_params_and_flops_per_stage_by_hand_and_summing_to_the_exact_counts():
    s = "SuperConvK3BNRELU(3,8,1,1)SuperConvK3BNRELU(8,16,2,1)SuperConvK1BNRELU(16,32,1,1)"
    t = resolve_target(s)
    st = FP.stage_counts(t.build(num_classes=10), 8)
    # stage 1 at 8x8: conv 3->8 (216) + BN (16); stage 2 at 4x4: conv 8->16 3x3 (1,152) + BN (32),
    # conv 16->32 1x1 (512) + BN (64), the classifier 32->10 (330)
    assert [x["params"] for x in st] == [216 + 16, 1152 + 32 + 512 + 64 + 330]
    assert [x["flops"] for x in st] == [216 * 64, 1152 * 16 + 512 * 16 + 320]
    for name in ("zennet-cifar-1.0m", "resnet18", CELL):
        t = resolve_target(name)
        st = FP.stage_counts(t.build(), t.resolution)
        assert sum(x["params"] for x in st) == t.params() and sum(x["flops"] for x in st) == t.flops(t.resolution)
    rep = zsnas.score(s, proxies=["params_stage2", "flops_stage1", "params_stage5"], resolution=8, num_classes=10,
                      device="cpu")
    assert rep["params_stage2"].value == 1152 + 32 + 512 + 64 + 330 and rep["flops_stage1"].value == 216 * 64
    assert rep["params_stage5"].value == 0 and rep["params_stage5"].degenerate == 1


class WithUnused(nn.Module):
    """conv -> pool -> linear, and a conv the forward never calls (a supernet's idle branch)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.idle = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def test_gradsign_leaves_out_the_layers_the_network_never_runs():
    torch.manual_seed(0)
    model = WithUnused()
    x, y = torch.randn(5, 3, 6, 6), torch.tensor([1, 3, 3, 7, 0])
    assert FP.layers_run(model, x[:1]) == [True, False, True]
    grads = FP.per_sample_loss_grads(model, x, y, "loop")
    signs = [torch.sign(g.reshape(5, -1).double()) for g in (grads[0], grads[2])]
    want = float(sum(s.sum(0).abs().sum() for s in signs) / sum(s.shape[1] for s in signs))
    r = FP.gradsign_score(model, x, y)
    assert r.value == pytest.approx(want, rel=1e-9) and r.sub_scores["layers_used"] == 2
    # counting the idle conv's zeros, as the authors' code does, would lower the mean
    assert gradsign_with_zeros(grads) < r.value


def gradsign_with_zeros(grads):
    return FP.gradsign_value(grads)[0]
