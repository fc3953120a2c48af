"""The classic zero-cost proxies (REFERENCE.md §6): grad_norm, snip, grasp, fisher, synflow,
jacob_cov, naswot, zico, params, flops (ntk_cond, built on batched per-sample gradients, is in
further.py with GradSign and TE-NAS).

Each proxy is two functions:

* ``<name>_score(model, ...)`` -- a pure function of (model, inputs): it reads the model's
  weights as they are (the tests set them by hand) and never touches ``.grad`` (gradients come
  from ``torch.autograd.grad``). Only BN running statistics move, since it runs in training mode.
* ``<name>(ctx)`` -- registered under ``<name>``: builds a fresh network with ``ctx.build()``,
  re-draws its weights with :func:`init_default` from the context's seed, draws the inputs, and
  calls the pure function.

Common setup (zero-cost-nas / NASLib conventions, made reproducible):

* "Layers" are every ``nn.Conv2d`` and ``nn.Linear`` (subclasses included); a layer that gets no
  gradient (unused) contributes a zero gradient.
* One batch of ``ctx.batch_size`` inputs ~ N(0, 1) of shape (in_channels, R, R) -- there is no
  dataset here -- and labels uniform over ``ctx.num_classes``; loss = mean cross-entropy.
  Everything is drawn on the CPU from ``ctx``'s seed (salts below), then moved to ``ctx.device``,
  so a seed gives the same weights and inputs on every device.
* Weights: PyTorch's default initialisation (what the authors' benchmarks ran with), drawn from
  our generator instead of the global RNG; BN gamma=1, beta=0. Networks run in training mode
  (batch statistics), as in zero-cost-nas.

Orientation: every value is higher-is-better as returned. ``degenerate`` counts the documented
degenerate cases a proxy hit (see each proxy); a degenerate network never yields NaN or raises.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .init import reinit_
from .registry import ProxyContext, ProxyResult, register_proxy

# Generator salts: one stream per random quantity, shared by all proxies so that every proxy sees
# the same network and the same batch for a given seed.
SALT_WEIGHTS = 0
SALT_INPUT = 1
SALT_LABELS = 2
SALT_INPUT2 = 3  # zico's second batch
SALT_LABELS2 = 4

JACOB_COV_K = 1e-5
NTK_COND_CAP = 1e12  # condition numbers are capped here: ntk_cond >= -1e12

_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------

def layers(model: nn.Module) -> List[nn.Module]:
    """The layers the proxies sum over: every Conv2d and Linear, in module order."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _weights(model: nn.Module) -> List[torch.Tensor]:
    ws = [m.weight for m in layers(model)]
    if not ws:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to score")
    return ws


def _grads(out: torch.Tensor, params: Sequence[torch.Tensor], **kw) -> List[torch.Tensor]:
    """d out / d params, with zeros for parameters the output does not depend on."""
    if not out.requires_grad:  # e.g. the output does not depend on any weight at all
        return [torch.zeros_like(p) for p in params]
    gs = torch.autograd.grad(out, list(params), allow_unused=True, **kw)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


def init_default(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw the weights with PyTorch's default initialisation from ``generator`` (CPU).

    Conv/Linear weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (what kaiming_uniform with
    a=sqrt(5) reduces to); BN gamma=1, beta=0 and fresh running statistics. Parameters of other
    module types are left as built. Draws happen in module order, on the CPU, so the result does
    not depend on the device.
    """
    def uniform(m: nn.Module, shape) -> torch.Tensor:
        fan_in = m.weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        return torch.empty(shape, dtype=m.weight.dtype).uniform_(-bound, bound, generator=generator)

    reinit_(model, lambda m: uniform(m, m.weight.shape), lambda m: uniform(m, m.bias.shape),
            norm_types=_BN_TYPES, reset_running_stats=True)
    return model


def _cpu_generator(ctx: ProxyContext, salt: int) -> torch.Generator:
    return dataclasses.replace(ctx, device=torch.device("cpu")).generator(salt)


def prepare(ctx: ProxyContext, residual: bool = True) -> nn.Module:
    """Fresh network from ``ctx.build``, default-initialised from ``ctx.seed``, on ctx.device, train mode."""
    model = ctx.build(residual=residual)
    init_default(model, _cpu_generator(ctx, SALT_WEIGHTS))
    return model.to(ctx.device).train()


def batch(ctx: ProxyContext, salt_x: int = SALT_INPUT, salt_y: int = SALT_LABELS) -> Tuple[torch.Tensor, torch.Tensor]:
    """One batch: inputs ~ N(0,1) [B, in_channels, R, R] and uniform random labels; with
    ``ctx.data``, B images and their labels drawn from it (zsnas.data.draw, seeded by salt_x)."""
    if ctx.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {ctx.batch_size}")
    if ctx.data is not None:
        from ..data import draw

        x, y = draw(ctx.data, ctx.batch_size, ctx.in_channels, ctx.resolution, ctx.num_classes,
                    _cpu_generator(ctx, salt_x))
        return x.to(ctx.device), y.to(ctx.device)
    x = torch.randn(ctx.batch_size, ctx.in_channels, ctx.resolution, ctx.resolution,
                    generator=_cpu_generator(ctx, salt_x))
    y = torch.randint(0, ctx.num_classes, (ctx.batch_size,), generator=_cpu_generator(ctx, salt_y))
    return x.to(ctx.device), y.to(ctx.device)


def _loss_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    ws = _weights(model)
    loss = F.cross_entropy(model(x), y)
    return ws, _grads(loss, ws)


def _result(name: str, value: float, degenerate: int = 0, **sub) -> ProxyResult:
    return ProxyResult(name=name, value=float(value), degenerate=int(degenerate),
                       sub_scores={k: float(v) for k, v in sub.items()})


# --------------------------------------------------------------------------------------------
# gradient-of-loss proxies
# --------------------------------------------------------------------------------------------

def grad_norm_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> ProxyResult:
    """Σ_layers ‖∂L/∂W‖₂ (Frobenius norm per layer). >= 0; degenerate=1 (value 0) when every
    layer gradient is zero."""
    _, gs = _loss_grads(model, x, y)
    value = sum(float(g.double().norm()) for g in gs)
    return _result("grad_norm", value, degenerate=int(value == 0.0))


def snip_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> ProxyResult:
    """Σ_layers Σ |W ⊙ ∂L/∂W| (connection sensitivity). >= 0; degenerate=1 (value 0) when zero."""
    ws, gs = _loss_grads(model, x, y)
    value = sum(float((w.detach().double() * g.double()).abs().sum()) for w, g in zip(ws, gs))
    return _result("snip", value, degenerate=int(value == 0.0))


def grasp_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> ProxyResult:
    """Σ_layers Σ −W ⊙ (H g), g = ∂L/∂W, H the Hessian of L w.r.t. all layer weights.

    Returned as the authors' code sums it (zero-cost-nas uses it as is, higher = better). Hg is
    the gradient of z = Σ g.detach()·∂L/∂W (double backward). Can be negative; degenerate=1
    (value 0) when the loss gradient is identically zero.
    """
    ws = _weights(model)
    loss = F.cross_entropy(model(x), y)
    gf = _grads(loss, ws, create_graph=True)
    z = sum((g.detach() * gg).sum() for g, gg in zip(gf, gf))
    hg = _grads(z, ws)
    value = sum(float((-w.detach().double() * h.double()).sum()) for w, h in zip(ws, hg))
    zero_grad = all(bool((g == 0).all()) for g in gf)
    return _result("grasp", value, degenerate=int(zero_grad))


def fisher_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> ProxyResult:
    """Σ_layers Σ_channels 0.5 · mean_n (Σ_spatial a ⊙ ∂L/∂a)², a = the layer's output.

    As zero-cost-nas: the activation is the raw Conv/Linear output (before BN). A layer applied
    several times adds each application. >= 0; degenerate=1 (value 0) when zero.
    """
    acts: List[torch.Tensor] = []

    def hook(mod, inp, out):
        if out.requires_grad:
            out.retain_grad()
            acts.append(out)

    handles = [m.register_forward_hook(hook) for m in layers(model)]
    try:
        loss = F.cross_entropy(model(x), y)
    finally:
        for h in handles:
            h.remove()
    if not acts:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to score")
    grads = _grads(loss, acts)
    value = 0.0
    for a, g in zip(acts, grads):
        ag = (a.detach().double() * g.double())
        if ag.dim() == 4:
            per_chan = ag.sum(dim=(2, 3))  # conv: [N, C, H, W] -> [N, C]
        elif ag.dim() > 2:
            per_chan = ag.flatten(1, -2).sum(1)  # linear over [N, ..., C]: sum the middle dims
        else:
            per_chan = ag
        value += float(0.5 * per_chan.pow(2).mean(0).sum())
    return _result("fisher", value, degenerate=int(value == 0.0))


# --------------------------------------------------------------------------------------------
# synflow
# --------------------------------------------------------------------------------------------

def _strip_bn(model: nn.Module) -> int:
    """Replace every BatchNorm module by nn.Identity, in place; returns how many were replaced."""
    n = 0
    for name, child in list(model.named_children()):
        if isinstance(child, _BN_TYPES):
            setattr(model, name, nn.Identity())
            n += 1
        else:
            n += _strip_bn(child)
    return n


def synflow_score(model: nn.Module, input_shape: Sequence[int]) -> ProxyResult:
    """Σ_layers Σ |W ⊙ ∂R/∂W| with every parameter replaced by |·|, R = Σ f(1) on one all-ones
    input of ``input_shape`` = (C, H, W), in fp64, without BN.

    BN is removed (every BatchNorm module becomes Identity), which is what zero-cost-nas does
    (it rebuilds its NB201 networks with ``bn=False``); an eval-mode BN with fresh statistics
    would only be identity up to 1/sqrt(1+eps). With all weights and the input non-negative,
    every ReLU is the identity and the network is a sum over paths of |weight| products.
    Works on a deep copy (the caller's model is not modified); batch size 1 (R is linear in B).
    >= 0; degenerate=1 (value 0) when no path connects the input to the output; a sum that
    overflows fp64 is reported as the largest float with degenerate=1.
    """
    net = copy.deepcopy(model)
    n_bn = _strip_bn(net)
    net = net.double().eval()  # eval: no BN left; keeps dropout-like modules deterministic
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    device = next(net.parameters()).device
    ones = torch.ones((1,) + tuple(int(s) for s in input_shape), dtype=torch.float64, device=device)
    ws = _weights(net)
    r = net(ones).sum()
    gs = _grads(r, ws)
    value = sum(float((w.detach() * g).abs().sum()) for w, g in zip(ws, gs))
    degenerate = int(value == 0.0)
    if not math.isfinite(value):
        value, degenerate = float(np.finfo(np.float64).max), 1
    return _result("synflow", value, degenerate=degenerate, bn_removed=n_bn)


# --------------------------------------------------------------------------------------------
# Jacobian / kernel proxies
# --------------------------------------------------------------------------------------------

def jacob_cov_value(jac: np.ndarray, k: float = JACOB_COV_K) -> Tuple[float, int]:
    """−Σ[ln(λ+k) + 1/(λ+k)], λ the eigenvalues of corrcoef(rows of ``jac``) ([B, D]).

    Eigenvalues by eigvalsh in fp64 (the matrix is symmetric; the authors' ``eig`` can return
    tiny complex parts), clamped at 0. Degenerate: when some row is constant (e.g. the
    Jacobian is zero: the output does not depend on the input) the correlation is undefined;
    the value is then that of the all-ones (perfectly correlated) correlation matrix,
    eigenvalues (B, 0, ..., 0) -- the minimum the score can take -- and ``degenerate`` = the
    number of constant rows.
    """
    jac = np.asarray(jac, dtype=np.float64).reshape(len(jac), -1)
    b = jac.shape[0]

    def score(lam: np.ndarray) -> float:
        lam = np.clip(lam, 0.0, None)
        return float(-np.sum(np.log(lam + k) + 1.0 / (lam + k)))

    constant = int(np.sum(np.ptp(jac, axis=1) == 0.0)) if jac.shape[1] > 1 else b
    if constant:
        return score(np.array([float(b)] + [0.0] * (b - 1))), constant
    return score(np.linalg.eigvalsh(np.atleast_2d(np.corrcoef(jac)))), 0  # atleast_2d: B = 1


def jacob_cov_score(model: nn.Module, x: torch.Tensor) -> ProxyResult:
    """Jacobian covariance: J_n = ∂(Σ y)/∂x_n (y = the batch's logits, one backward of ones, so
    BN's batch coupling is included as in zero-cost-nas), then :func:`jacob_cov_value`."""
    x = x.detach().clone().requires_grad_(True)
    y = model(x)
    (jac,) = _grads(y.sum(), [x])
    value, degenerate = jacob_cov_value(jac.detach().double().cpu().numpy())
    return _result("jacob_cov", value, degenerate=degenerate)


def naswot_kernel(codes: Iterable[np.ndarray]) -> np.ndarray:
    """K = Σ_relus c cᵀ + (1−c)(1−c)ᵀ over binary codes c [B, units] (fp64, exact integers),
    taken as 2 c cᵀ − r 1ᵀ − 1 rᵀ + units (r the row sums): one product instead of two.

    The product runs in float32 while units < 2^24: every partial sum of 0/1 products is then
    an integer float32 holds exactly, so K is the float64 one (4-7x faster on NB201 cells)."""
    k = None
    for c in codes:
        c = torch.as_tensor(np.asarray(c)).reshape(len(c), -1)
        c = c.to(torch.float32 if c.shape[1] < 2 ** 24 else torch.float64)
        cc, r = (c @ c.T).double().numpy(), c.sum(1).double().numpy()
        term = 2.0 * cc - r[:, None] - r[None, :] + c.shape[1]
        k = term if k is None else k + term
    return k


def naswot_value(k: Optional[np.ndarray]) -> Tuple[float, int]:
    """ln det K, floored at 0.

    K is a PSD matrix of integers, so a non-singular K has det >= 1 and ln det >= 0: 0 is the
    natural floor. A singular K (two inputs with identical codes, e.g. a network whose output
    does not depend on the input, or no ReLU at all) gives 0 with degenerate=1 instead of -inf.
    """
    if k is None:
        return 0.0, 1
    sign, logdet = np.linalg.slogdet(k)
    if sign <= 0 or not np.isfinite(logdet) or logdet < 0.0:  # logdet < 0 only from round-off
        return 0.0, 1
    return float(logdet), 0


def relu_patterns(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """[B, units] binary activation pattern (output > 0) of every nn.ReLU, concatenated (NASWOT's
    codes, TE-NAS's linear regions). Functional relu calls are not seen (the zsnas builders use
    nn.ReLU modules)."""
    from ..nn.hooks import forward_with_hooks

    codes: List[np.ndarray] = []

    def hook(mod, inp, out):
        codes.append((out.detach() > 0).reshape(out.shape[0], -1).cpu().numpy())

    forward_with_hooks(model, x, (m for m in model.modules() if isinstance(m, nn.ReLU)), hook)
    if not codes:
        return np.zeros((x.shape[0], 0), dtype=bool)
    return np.concatenate(codes, axis=1)


def naswot_score(model: nn.Module, x: torch.Tensor) -> ProxyResult:
    """NASWOT (Mellor et al.): binary codes of every nn.ReLU's output (> 0), Hamming kernel
    summed over ReLUs (= the kernel of the concatenated codes), ln det."""
    return naswot_of_codes(relu_patterns(model, x))


def naswot_of_codes(codes: np.ndarray) -> ProxyResult:
    value, degenerate = naswot_value(naswot_kernel([codes]) if codes.shape[1] else None)
    return _result("naswot", value, degenerate=degenerate)


def ntk_cond_value(gram: np.ndarray) -> Tuple[float, int]:
    """−λmax/λmin of the NTK Gram matrix, eigvalsh in fp64, eigenvalues clamped at 0.

    The condition number is capped at 1e12: a singular NTK (λmin <= λmax·1e-12) or a zero NTK
    (no gradient at all) gives −1e12 with degenerate=1.
    """
    lam = np.clip(np.linalg.eigvalsh(np.asarray(gram, dtype=np.float64)), 0.0, None)
    lmax, lmin = float(lam[-1]), float(lam[0])
    if lmax <= 0.0 or lmin <= lmax / NTK_COND_CAP:
        return -NTK_COND_CAP, 1
    return -lmax / lmin, 0


# --------------------------------------------------------------------------------------------
# zico
# --------------------------------------------------------------------------------------------

def zico_value(layer_grads: Sequence[np.ndarray]) -> Tuple[float, int]:
    """ZiCo from per-layer gradients, each [n_batches, numel]: Σ_layers ln Σ_{i: std_i>0}
    mean_b|g_bi| / std_b(g_bi) (std with ddof=0, as the authors' numpy code).

    A layer whose sum is 0 (every element has zero std: e.g. zero gradients) is skipped, as the
    authors do; that is also the floor, since each term is >= 1 (so ln >= 0). ``degenerate`` =
    the number of skipped layers.
    """
    value, skipped = 0.0, 0
    for g in layer_grads:
        g = np.asarray(g, dtype=np.float64)
        std = g.std(axis=0)
        nz = std > 0
        s = float(np.sum(np.abs(g).mean(axis=0)[nz] / std[nz]))
        if s == 0.0:
            skipped += 1
        else:
            value += math.log(s)
    return value, skipped


def zico_score(model: nn.Module, batches: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> ProxyResult:
    """ZiCo over ``batches`` (two by default): per batch, the loss gradient of every layer
    weight, then :func:`zico_value`.

    ⚠ The authors' code never zeroes gradients between batches, so its second "sample" is
    g1+g2; here each batch contributes its own gradient (what the paper's statistics mean).
    """
    if len(batches) < 2:
        raise ValueError(f"zico needs at least 2 batches, got {len(batches)}")
    per_layer: Optional[List[List[np.ndarray]]] = None
    for x, y in batches:
        _, gs = _loss_grads(model, x, y)
        flat = [g.detach().double().reshape(-1).cpu().numpy() for g in gs]
        if per_layer is None:
            per_layer = [[f] for f in flat]
        else:
            for acc, f in zip(per_layer, flat):
                acc.append(f)
    value, skipped = zico_value([np.stack(v) for v in per_layer])
    return _result("zico", value, degenerate=skipped)


# --------------------------------------------------------------------------------------------
# registered proxies
# --------------------------------------------------------------------------------------------

def _on_batch(fn: Callable[..., ProxyResult]) -> Callable[[ProxyContext], ProxyResult]:
    def run(ctx: ProxyContext) -> ProxyResult:
        model = prepare(ctx)
        x, y = batch(ctx)
        return fn(model, x, y)
    return run


@register_proxy("grad_norm", description="Σ_layers ‖∂L/∂W‖₂ (higher is better)")
def grad_norm(ctx: ProxyContext) -> ProxyResult:
    return _on_batch(grad_norm_score)(ctx)


@register_proxy("snip", description="Σ|W⊙∂L/∂W| (higher is better)")
def snip(ctx: ProxyContext) -> ProxyResult:
    return _on_batch(snip_score)(ctx)


@register_proxy("grasp", description="Σ −W⊙(H·g) (as summed by zero-cost-nas, higher is better)")
def grasp(ctx: ProxyContext) -> ProxyResult:
    return _on_batch(grasp_score)(ctx)


@register_proxy("fisher", description="Σ per-channel 0.5·mean_n(Σ_spatial a·∂L/∂a)² (higher is better)")
def fisher(ctx: ProxyContext) -> ProxyResult:
    return _on_batch(fisher_score)(ctx)


@register_proxy("synflow", description="Σ|W⊙∂R/∂W|, |W|, fp64, all-ones input, no BN (higher is better)")
def synflow(ctx: ProxyContext) -> ProxyResult:
    return synflow_score(prepare(ctx), (ctx.in_channels, ctx.resolution, ctx.resolution))


@register_proxy("jacob_cov", min_batch_size=2, description="−Σ[ln(λ+1e-5)+1/(λ+1e-5)] of corrcoef(J) (higher is better)")
def jacob_cov(ctx: ProxyContext) -> ProxyResult:
    model = prepare(ctx)
    x, _ = batch(ctx)
    return jacob_cov_score(model, x)


@register_proxy("naswot", min_batch_size=2, description="ln det of the ReLU-code Hamming kernel (higher is better)")
def naswot(ctx: ProxyContext) -> ProxyResult:
    return naswot_of_codes(shared_relu_patterns(ctx))


def shared_relu_patterns(ctx: ProxyContext) -> np.ndarray:
    """relu_patterns of the prepared network on the request's batch, computed once per request
    (naswot, linear_regions and te_nas read the same codes)."""
    return ctx.shared(("relu_patterns", ctx.seed, ctx.batch_size, ctx.resolution),
                      lambda: relu_patterns(prepare(ctx), batch(ctx)[0]))


@register_proxy("zico", description="Σ_layers ln Σ mean|g|/std(g) over 2 batches (higher is better)")
def zico(ctx: ProxyContext) -> ProxyResult:
    model = prepare(ctx)
    batches = [batch(ctx), batch(ctx, SALT_INPUT2, SALT_LABELS2)]
    return zico_score(model, batches)


@register_proxy("params", fixed_batch="none", description="number of parameters (higher is better)")
def params(ctx: ProxyContext) -> ProxyResult:
    """ctx.params when given, else the exact parameter count of the built network."""
    if ctx.params is not None:
        return _result("params", float(ctx.params))
    from ..nn.counting import count_params

    return _result("params", float(count_params(ctx.build())))


@register_proxy("flops", fixed_batch="none", description="conv+linear MACs at ctx.resolution (higher is better)")
def flops(ctx: ProxyContext) -> ProxyResult:
    """ctx.flops when given, else the conv+linear multiply-accumulates of one sample."""
    if ctx.flops is not None:
        return _result("flops", float(ctx.flops))
    from ..nn.counting import count_macs

    model = ctx.build().to(ctx.device)
    return _result("flops", float(count_macs(model, (ctx.in_channels, ctx.resolution, ctx.resolution))))


CLASSIC_PROXIES = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "naswot",
                   "zico", "params", "flops")  # ntk_cond lives with the per-sample gradient proxies (further.py)

__all__ = [
    "CLASSIC_PROXIES", "init_default", "prepare", "batch", "layers",
    "grad_norm_score", "snip_score", "grasp_score", "fisher_score", "synflow_score",
    "jacob_cov_score", "jacob_cov_value", "relu_patterns", "shared_relu_patterns", "naswot_score", "naswot_kernel", "naswot_value",
    "ntk_cond_value", "zico_score", "zico_value",
    *CLASSIC_PROXIES,
]
