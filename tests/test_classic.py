"""Classic zero-cost proxies (zsnas.proxies.classic) against hand-derived / numpy references.

Tiny networks with hand-set weights: a Linear or Linear-ReLU-Linear on a flattened 1x2x2 input,
where the loss gradient, the Hessian-vector product, the synflow path sum, the Jacobian, the
ReLU codes and the NTK are written out with numpy (or torch.autograd.functional as an
independent reference). Then the degenerate all-`none` NB201 cell gives each documented value.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zsnas.proxies import ProxyContext, run_proxy
from zsnas.proxies import classic as C
from zsnas.proxies import further as FP

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]

W1 = np.array([[0.5, -1.0, 0.25, 2.0], [-0.75, 0.5, 1.0, -0.5], [1.5, 0.25, -0.5, 0.75]])  # 4 -> 3
W2 = np.array([[1.0, -2.0, 0.5], [-0.5, 1.5, 1.0]])  # 3 -> 2
X = np.array([[1.0, -0.5, 2.0, 0.3], [-1.2, 0.7, 0.1, 1.0], [0.4, 1.1, -0.9, -0.2], [2.0, 0.0, 0.5, -1.5]])
Y = np.array([0, 1, 1, 0])


def two_layer(device, bn_gamma=None):
    """Flatten -> Linear(4,3) -> [BN1d] -> ReLU -> Linear(3,2), no biases, weights W1, W2."""
    mods = [nn.Flatten(), nn.Linear(4, 3, bias=False)]
    if bn_gamma is not None:
        bn = nn.BatchNorm1d(3)
        with torch.no_grad():
            bn.weight.fill_(bn_gamma)
        mods.append(bn)
    mods += [nn.ReLU(), nn.Linear(3, 2, bias=False)]
    net = nn.Sequential(*mods)
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor(W1))
        net[-1].weight.copy_(torch.tensor(W2))
    return net.double().to(device)


def inputs(device):
    return (torch.tensor(X).reshape(4, 1, 2, 2).to(device), torch.tensor(Y).to(device))


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def numpy_backprop():
    """Forward/backward of the two-layer net by hand (mean cross-entropy)."""
    a1 = X @ W1.T
    mask = (a1 > 0).astype(float)
    h = a1 * mask
    z = h @ W2.T
    dz = (softmax(z) - np.eye(2)[Y]) / len(X)
    g2 = dz.T @ h
    da1 = (dz @ W2) * mask
    g1 = da1.T @ X
    return dict(a1=a1, mask=mask, z=z, dz=dz, da1=da1, g1=g1, g2=g2)


# ----------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("device", DEVICES)
def test_grad_norm_and_snip_match_hand_backprop(device):
    r = numpy_backprop()
    x, y = inputs(device)
    gn = C.grad_norm_score(two_layer(device), x, y)
    assert gn.value == pytest.approx(np.linalg.norm(r["g1"]) + np.linalg.norm(r["g2"]), rel=1e-10)
    sn = C.snip_score(two_layer(device), x, y)
    assert sn.value == pytest.approx(np.abs(W1 * r["g1"]).sum() + np.abs(W2 * r["g2"]).sum(), rel=1e-10)
    assert gn.degenerate == 0 and sn.degenerate == 0


@pytest.mark.parametrize("device", DEVICES)
def test_grasp_matches_autograd_hessian(device):
    x, y = inputs(device)
    w1, w2 = torch.tensor(W1, device=device), torch.tensor(W2, device=device)

    def loss(flat):  # independent functional reference
        a, b = flat[:12].reshape(3, 4), flat[12:].reshape(2, 3)
        return F.cross_entropy(F.linear(F.relu(F.linear(x.reshape(4, 4), a)), b), y)

    flat = torch.cat([w1.reshape(-1), w2.reshape(-1)])
    g = torch.autograd.functional.jacobian(loss, flat)
    hess = torch.autograd.functional.hessian(loss, flat)
    expected = float(-(flat * (hess @ g)).sum())
    got = C.grasp_score(two_layer(device), x, y)
    assert got.value == pytest.approx(expected, rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("device", DEVICES)
def test_fisher_matches_hand_activation_gradients(device):
    r = numpy_backprop()
    # layer outputs: a1 (pre-ReLU) with grad da1, logits z with grad dz
    expected = 0.5 * ((r["a1"] * r["da1"]) ** 2).mean(0).sum() + 0.5 * ((r["z"] * r["dz"]) ** 2).mean(0).sum()
    x, y = inputs(device)
    assert C.fisher_score(two_layer(device), x, y).value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_fisher_conv_sums_over_space(device):
    conv, lin = nn.Conv2d(1, 2, 1, bias=False), nn.Linear(8, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.5]]], [[[-0.5]]]]))
        lin.weight.copy_(torch.arange(16.0).reshape(2, 8) / 10 - 0.7)
    net = nn.Sequential(conv, nn.Flatten(), lin).double().to(device)
    x, y = inputs(device)
    # reference: explicit intermediate tensors
    a = F.conv2d(x, conv.weight.double().to(device))
    a.retain_grad()
    z = F.linear(a.flatten(1), lin.weight.double().to(device))
    z.retain_grad()
    F.cross_entropy(z, y).backward()
    per_c = (a * a.grad).sum((2, 3))
    expected = float((0.5 * (per_c ** 2).mean(0).sum() + 0.5 * ((z * z.grad) ** 2).mean(0).sum()).detach())
    assert C.fisher_score(net, x, y).value == pytest.approx(expected, rel=1e-10)


# ------------------------------------------------------------------------------------- synflow

@pytest.mark.parametrize("device", DEVICES)
def test_synflow_is_layers_times_path_sum_and_ignores_bn(device):
    # No bias: R = 1ᵀ|W2||W1|1 and each layer's Σ|W ⊙ ∂R/∂W| equals R (homogeneity): 2R.
    path_sum = np.ones(2) @ np.abs(W2) @ np.abs(W1) @ np.ones(4)
    for gamma in (None, 5.0):  # a BN with gamma 5 must be removed, not applied
        net = two_layer(device, bn_gamma=gamma).float()
        w_before = net[1].weight.detach().clone()
        r = C.synflow_score(net, (1, 2, 2))
        assert r.value == pytest.approx(2 * path_sum, rel=1e-12)
        assert r.sub_scores["bn_removed"] == (0 if gamma is None else 1)
        assert torch.equal(net[1].weight, w_before)  # the caller's model is untouched


def test_synflow_uses_fp64():
    # A path product under fp32's smallest normal: 40 layers of weight 0.05 -> 0.05**40 ≈ 9e-53.
    net = nn.Sequential(nn.Flatten(), *[nn.Linear(1, 1, bias=False) for _ in range(40)])
    with torch.no_grad():
        for m in net[1:]:
            m.weight.fill_(-0.05)
    assert C.synflow_score(net, (1, 1, 1)).value == pytest.approx(40 * 0.05 ** 40, rel=1e-12)


# ---------------------------------------------------------------------------- jacobian / kernels

def test_jacob_cov_value_hand_eigenvalues():
    # rows (1,0,-1) and (1,-1,0): correlation 0.5 -> eigenvalues 1.5, 0.5
    k = 1e-5
    expected = -sum(math.log(l + k) + 1 / (l + k) for l in (1.5, 0.5))
    v, d = C.jacob_cov_value(np.array([[1.0, 0.0, -1.0], [1.0, -1.0, 0.0]]))
    assert v == pytest.approx(expected, rel=1e-12) and d == 0


@pytest.mark.parametrize("device", DEVICES)
def test_jacob_cov_matches_numpy_jacobian(device):
    mask = (X @ W1.T > 0).astype(float)
    jac = (mask * (np.ones(2) @ W2)) @ W1  # J_n = W1ᵀ diag(mask_n) W2ᵀ 1
    c = np.corrcoef(jac)
    lam = np.linalg.eigvalsh(c)
    expected = -np.sum(np.log(lam + 1e-5) + 1 / (lam + 1e-5))
    x, _ = inputs(device)
    r = C.jacob_cov_score(two_layer(device), x)
    assert r.value == pytest.approx(expected, rel=1e-9) and r.degenerate == 0


@pytest.mark.parametrize("device", DEVICES)
def test_naswot_hand_kernel(device):
    # ReLU codes (1,1) and (1,0): K = [[2,1],[1,2]] -> ln det = ln 3
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0]]).reshape(2, 1, 1, 2)
    r = C.naswot_score(net.to(device), x.to(device))
    assert r.value == pytest.approx(math.log(3), rel=1e-12) and r.degenerate == 0
    # identical codes -> singular K -> documented floor 0
    r = C.naswot_score(net.to(device), torch.ones(2, 1, 1, 2, device=device))
    assert r.value == 0.0 and r.degenerate == 1


def test_naswot_kernel_is_the_exact_integer_hamming_kernel():
    # NB201-sized codes: the float32 product must give the integers of the definition exactly
    rng = np.random.default_rng(0)
    parts = [rng.random((64, 120_000)) < 0.7, rng.random((64, 5)) < 0.5]
    want = sum(c.astype(np.int64) @ c.T.astype(np.int64) + (~c).astype(np.int64) @ (~c).T.astype(np.int64)
               for c in parts)
    assert np.array_equal(C.naswot_kernel(parts), want.astype(np.float64))


@pytest.mark.parametrize("device", DEVICES)
def test_ntk_cond_hand_gram(device):
    # logits = W x, ∂Σ_c z_nc/∂W = 1 x_nᵀ -> NTK = 3 X Xᵀ = diag(3, 12) -> −cond = −4
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 3, bias=False)).to(device)
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).reshape(2, 1, 1, 2).to(device)
    r = FP.ntk_cond_score(net, x)
    assert r.value == pytest.approx(-4.0, rel=1e-6) and r.degenerate == 0
    assert C.ntk_cond_value(np.zeros((3, 3))) == (-1e12, 1)


# ----------------------------------------------------------------------------------------- zico

def test_zico_value_hand():
    # layer 1: elements (1,3) -> mean|g| 2 / std 1 = 2; (2,2) has std 0 and is skipped -> ln 2.
    # layer 2: all-zero gradients -> skipped (degenerate), contributes 0.
    v, d = C.zico_value([np.array([[1.0, 2.0], [3.0, 2.0]]), np.zeros((2, 3))])
    assert v == pytest.approx(math.log(2.0)) and d == 1


@pytest.mark.parametrize("device", DEVICES)
def test_zico_two_batches_numpy(device):
    w = np.array([[0.3, -0.2, 0.8, 0.1], [-0.6, 0.4, 0.2, -0.3]])
    xb = [X, X[::-1] * 0.5 + 0.1]
    yb = [Y, 1 - Y]
    grads = []
    for xx, yy in zip(xb, yb):
        dz = (softmax(xx @ w.T) - np.eye(2)[yy]) / len(xx)
        grads.append((dz.T @ xx).reshape(-1))
    g = np.stack(grads)
    expected = math.log(np.sum(np.abs(g).mean(0) / g.std(0)))  # per-batch gradients, not accumulated
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor(w))
    batches = [(torch.tensor(xx.copy()).reshape(4, 1, 2, 2).to(device), torch.tensor(yy).to(device)) for xx, yy in zip(xb, yb)]
    r = C.zico_score(net.to(device), batches)
    assert r.value == pytest.approx(expected, rel=1e-10) and r.degenerate == 0


# ------------------------------------------------------------------------- registered proxies

def tiny_ctx(device, **kw):
    def build(residual=True):
        return nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))

    return ProxyContext(build=build, resolution=2, in_channels=1, num_classes=2, batch_size=6,
                        device=torch.device(device), **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_params_and_flops_exact(device):
    assert run_proxy("params", tiny_ctx(device)).value == 4 * 3 + 3 + 3 * 2 + 2
    assert run_proxy("flops", tiny_ctx(device)).value == 4 * 3 + 3 * 2
    assert run_proxy("params", tiny_ctx(device, params=123)).value == 123  # table value wins
    assert run_proxy("flops", tiny_ctx(device, flops=4.5e6)).value == 4.5e6


@pytest.mark.parametrize("device", DEVICES)
def test_registered_proxy_is_the_pure_function_on_default_init(device):
    ctx = tiny_ctx(device, seed=7)
    model = ctx.build()
    gen = torch.Generator().manual_seed(7 * 1_000_003)  # ProxyContext.generator(salt 0) on the CPU
    C.init_default(model, gen)
    bound = 1 / math.sqrt(4)
    assert model[1].weight.abs().max() <= bound and model[1].bias.abs().max() <= bound
    x = torch.randn(6, 1, 2, 2, generator=torch.Generator().manual_seed(7 * 1_000_003 + 1))
    y = torch.randint(0, 2, (6,), generator=torch.Generator().manual_seed(7 * 1_000_003 + 2))
    model = model.to(device)
    for name, fn in (("snip", C.snip_score), ("grad_norm", C.grad_norm_score)):
        assert run_proxy(name, ctx).value == pytest.approx(fn(model, x.to(device), y.to(device)).value, rel=1e-6)
    assert run_proxy("snip", tiny_ctx(device, seed=8)).value != run_proxy("snip", ctx).value


# ------------------------------------------------------------------------- degenerate network

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.mark.parametrize("device", DEVICES)
def test_all_none_cell_gives_documented_values(device):
    from zsnas.nn.nb201 import nb201_network

    b = 4
    ctx = ProxyContext(build=lambda residual=True: nb201_network(ALL_NONE, residual=residual),
                       batch_size=b, resolution=8, device=torch.device(device), seed=3)
    res = {n: run_proxy(n, ctx) for n in C.CLASSIC_PROXIES + ("ntk_cond",)}
    for n, r in res.items():
        assert not math.isnan(r.value), n
    for n in ("grad_norm", "snip", "grasp", "synflow", "naswot"):
        assert (res[n].value, res[n].degenerate) == (0.0, 1), n
    assert (res["ntk_cond"].value, res["ntk_cond"].degenerate) == (-1e12, 1)
    n_layers = len(C.layers(nb201_network(ALL_NONE)))
    assert (res["zico"].value, res["zico"].degenerate) == (0.0, n_layers)
    k = 1e-5  # perfectly correlated (here: zero) Jacobians: eigenvalues (B, 0, ..., 0)
    floor = -(math.log(b + k) + 1 / (b + k) + (b - 1) * (math.log(k) + 1 / k))
    assert res["jacob_cov"].value == pytest.approx(floor, rel=1e-12) and res["jacob_cov"].degenerate == b
    # fisher: only the classifier output (= its bias, whatever the input) has a gradient
    model = C.prepare(ctx)
    _, y = C.batch(ctx)
    bias = model.classifier.bias.detach().double().cpu().numpy()
    g = (softmax(np.tile(bias, (b, 1))) - np.eye(10)[y.cpu().numpy()]) / b
    assert res["fisher"].value == pytest.approx(0.5 * ((bias * g) ** 2).mean(0).sum(), rel=1e-6)
    assert res["params"].value == 73306  # REFERENCE §7 with n3 = n1 = 0
    # 7.78305 M at 32x32 = 7,782,400 conv MACs + 640 linear (+10 bias adds, not charged here);
    # at 8x8 the conv part shrinks 16x
    assert res["flops"].value == 7782400 // 16 + 640
