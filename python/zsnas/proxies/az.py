"""AZ-NAS proxies (REFERENCE.md §4): expressivity, progressivity, trainability, complexity.

One forward pass over ``model.units``; unit l gets the previous feature *detached* with
``requires_grad``, so a single backward pass of sum_l <g_out_l, f_l> yields every pair's
vector-Jacobian product g_in_l = (df_l/df_{l-1})^T g_out_l at once (the authors call
``autograd.grad`` once per pair; the arithmetic is the same, the bookkeeping is not).

Setup: training-mode BN, Kaiming-normal fan-in weights (ReLU gain), zero biases, BN gamma=1
beta=0, residual links kept, input N(0,1) of ``batch_size`` (64), Rademacher g_out.

* expressivity: per feature, X in R^{(B*H*W) x C} column-centred, Sigma = X^T X / (B*H*W),
  lambda = eigvalsh(Sigma), p = lambda / sum(lambda), e_l = -sum p ln(p + 1e-8); E = sum_l e_l.
* progressivity: P = min_l (e_l - e_{l-1}).
* trainability: per pair, g_in pixel-unshuffled by the stride when resolutions differ (its
  channels in another order, which sigma_max does not see: _unshuffled_rows);
  A = g_in^T g_out / (B*H*W) (C_in' x C_out, rectangular when channel counts still differ);
  sigma = largest singular value; term = -sigma - 1/(sigma + 1e-6) + 2; T = mean of terms.
* complexity: conv + linear multiply-accumulates per sample (ctx.flops when known).

Degenerate cases (the authors' fp32 eigvalsh returns NaN and their code turns it into -inf
for ~7.5 % of NB201 cells; zsnas gives a defined value and counts them):
* eigen-decomposition in float64 on the C x C matrix (the N x N Gram matrix when N < C),
  tiny negative eigenvalues clamped to 0;
* a feature with no variance at all (all zero, or constant) has entropy 0 and is counted as a
  degenerate feature;
* a pair whose g_in equals g_out exactly (the unit is an identity, e.g. an NB201 cell that
  only forwards its input) scores -inf as in the reference and is counted as a degenerate
  pair; T is then -inf. -inf is a valid, ordered value: rank aggregation ranks it lowest.
* a pair whose VJP is all zero (e.g. an all-``none`` NB201 cell) has sigma = 0 and the
  reference's finite term -1e6 + 2; it is counted as a degenerate pair.
No value is ever NaN; a NaN/inf in the features themselves raises FloatingPointError.

Speed: while scoring, every AvgPool2d(3, 1, 1) runs through zsnas's separable box-mean
kernels (zsnas.ops.box_mean3x3; 2-5x faster forward and backward on CPU than avg_pool2d on
channels_last maps; NB201's avg_pool_3x3 module always does), every training-mode
BatchNorm2d through zsnas's own forward and backward kernels (zsnas.ops.batch_norm_train;
1.3-2.5x faster than torch's channels_last BN on CPU), and NB201 cells run lean
(NB201Cell.lean: nodes the output does not depend on are skipped, the conv edges leaving a
node share one ReLU and, when they have the same shape, one stacked convolution and BN); all
are undone afterwards.

A single network has no AZ-NAS score: the score only exists over a set of candidates, via
``zsnas.proxies.rank.az_nas_scores``. The combined proxy "az" therefore reports
``value = expressivity`` and keeps all four numbers in ``sub_scores``.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.counting import count_macs, install_mac_hooks
from ..ops import batch_norm_train, box_mean3x3
from ..ops import rademacher_from_words_eager as rademacher_from_words
from .init import empty_like_weight, reinit_
from .registry import ProxyContext, ProxyResult, register_proxy
from .zen import _deepcopy_model

AZ_KEYS = ("expressivity", "progressivity", "trainability", "complexity")


def kaiming_init_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """AZ-NAS init: Kaiming-normal fan-in (ReLU gain) conv/linear weights, zero biases,
    BN/GroupNorm gamma=1 beta=0."""
    return init_weights_(model, generator, "kaiming_fan_in")


# The initialisations AZ-NAS's Table 8 compares (conv/linear weights; zero biases, BN 1/0).
INITS = {
    "kaiming_fan_in": lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g),
    "kaiming_fan_out": lambda w, g: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g),
    "xavier": lambda w, g: nn.init.xavier_normal_(w, generator=g),
    "normal": lambda w, g: nn.init.normal_(w, 0.0, 0.1, generator=g),
    "uniform": lambda w, g: nn.init.uniform_(w, -0.1, 0.1, generator=g),
}
# Registered variants: "az-<suffix>" (and "az-<suffix>_trainability" & co through the family).
INIT_VARIANTS = {"fanout": "kaiming_fan_out", "xavier": "xavier", "normal": "normal", "uniform": "uniform"}


def init_weights_(model: nn.Module, generator: torch.Generator, scheme: str = "kaiming_fan_in") -> nn.Module:
    if scheme not in INITS:
        raise ValueError(f"unknown initialisation {scheme!r} (one of {', '.join(INITS)})")
    draw = INITS[scheme]
    return reinit_(model, lambda m: draw(empty_like_weight(m), generator))


def _as_rows(t: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [(B*H*W), C] (a view for channels_last tensors); ViT tokens [B, T, E] ->
    [(B*T), E] (every token a position, the class token included); [B, C] stays."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    if t.dim() == 3:
        return t.reshape(-1, t.shape[2])
    if t.dim() == 2:
        return t
    raise ValueError(f"AZ-NAS features must be [B,C,H,W], [B,T,E] or [B,C], got shape {tuple(t.shape)}")


def feature_entropy(feature: torch.Tensor, where: str = "") -> "tuple[float, bool]":
    """(e, degenerate): spectral entropy of the channel covariance of one feature map.

    Raises FloatingPointError when the feature holds NaN/inf (seen through its covariance,
    which saves a separate isfinite pass over the feature)."""
    x = _as_rows(feature.detach())
    n, c = x.shape
    x = x - x.mean(dim=0, keepdim=True)
    # Same non-zero eigenvalues either way; decompose the smaller matrix.
    gram = (x.t() @ x) if n >= c else (x @ x.t())
    gram = gram.double() / n
    if not bool(torch.isfinite(gram).all()):
        raise FloatingPointError(f"AZ-NAS: a feature{where} holds NaN or inf values")
    lam = torch.linalg.eigvalsh(gram).clamp_min_(0.0)
    total = float(lam.sum())
    if not total > 0.0:
        return 0.0, True
    p = lam / total
    return float(-(p * torch.log(p + 1e-8)).sum()), False


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """torch.equal, but first on a few leading elements: unequal pairs (all but identity
    units) are rejected without a full pass."""
    ra, rb = _as_rows(a), _as_rows(b)
    if not torch.equal(ra[:4], rb[:4]):
        return False
    return torch.equal(a, b)


def _unshuffled_rows(t: torch.Tensor, s: int) -> torch.Tensor:
    """pixel_unshuffle(t, s) as [(B*H/s*W/s), C*s*s] rows, with the unshuffled channels in
    (row offset, column offset, channel) order instead of pixel_unshuffle's (channel, row
    offset, column offset). Only sigma_max of g_in^T g_out is used, and a permutation of its
    rows leaves the singular values unchanged; this order copies runs of s*C contiguous floats
    of a channels_last tensor (5x faster than pixel_unshuffle there)."""
    b, c, h, w = t.shape
    nhwc = t.permute(0, 2, 3, 1)  # a view for channels_last t
    return nhwc.reshape(b, h // s, s, w // s, s * c).permute(0, 1, 3, 2, 4).reshape(-1, s * s * c)


def pair_trainability(g_in: Optional[torch.Tensor], g_out: torch.Tensor, where: str = "") -> "tuple[float, bool]":
    """(term, degenerate) of one block from its VJP g_in and probe g_out (see module doc)."""
    if g_in is None:  # the unit's output does not depend on its input
        g_in = torch.zeros_like(g_out)
    if g_in.shape == g_out.shape and _same(g_in, g_out):
        return -math.inf, True
    if g_in.dim() == 4 and g_in.shape[2:] != g_out.shape[2:]:
        hi, wi = g_in.shape[2:]
        ho, wo = g_out.shape[2:]
        stride = hi // ho if ho else 0
        if stride < 1 or hi != stride * ho or wi != stride * wo:
            raise ValueError(
                f"AZ-NAS trainability{where}: input resolution {hi}x{wi} is not an integer multiple "
                f"of output resolution {ho}x{wo}"
            )
        gi = _unshuffled_rows(g_in, stride)
    else:
        gi = _as_rows(g_in)
    go = _as_rows(g_out)
    if gi.shape[0] != go.shape[0]:
        raise ValueError(
            f"AZ-NAS trainability{where}: {gi.shape[0]} input positions vs {go.shape[0]} output positions"
        )
    a = (gi.t() @ go).double() / go.shape[0]
    sigma = float(torch.linalg.matrix_norm(a, ord=2))
    term = -sigma - 1.0 / (sigma + 1e-6) + 2.0
    return term, sigma == 0.0


def _accelerate(model: nn.Module, lean_cells: bool = True) -> Callable[[], None]:
    """Speed-ups that change no value beyond float32 rounding, for the duration of one scoring;
    returns the function that undoes them. Instance-level forward overrides: every
    AvgPool2d(3, 1, 1) runs through zsnas.ops.box_mean3x3, every training-mode BatchNorm2d
    through zsnas.ops.batch_norm_train (compiled forward and backward kernels; running statistics
    are not updated, AZ-NAS never reads them); NB201 cells run lean (NB201Cell.lean)."""
    from ..nn.nb201 import NB201Cell

    patched, cells = [], []
    for m in model.modules():
        if type(m) is nn.BatchNorm2d:
            m.forward = (lambda x, _m=m: batch_norm_train(x, _m.weight, _m.bias, _m.eps)
                         if _m.training else nn.BatchNorm2d.forward(_m, x))
            patched.append(m)
        elif (type(m) is nn.AvgPool2d and m.kernel_size in (3, (3, 3)) and m.stride in (1, (1, 1))
                and m.padding in (1, (1, 1)) and not m.ceil_mode and m.divisor_override is None):
            m.forward = (lambda x, _inc=bool(m.count_include_pad):
                         box_mean3x3(x, _inc) if x.dim() == 4
                         else F.avg_pool2d(x, 3, 1, 1, count_include_pad=_inc))
            patched.append(m)
        elif lean_cells and isinstance(m, NB201Cell) and not m.lean:
            m.lean = True
            cells.append(m)

    def restore() -> None:
        for m in patched:
            del m.forward
        for m in cells:
            m.lean = False

    return restore


def rademacher_like(t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """+-1 with probability 1/2 each, shaped like ``t`` (channels_last when t is 4-D).

    The values are drawn in (B, H, W, C) order and the result is that tensor viewed as
    [B, C, H, W], so the probe does not depend on ``t``'s memory format. Each random 32-bit
    word from ``generator`` gives 32 signs (zsnas.ops.rademacher_from_words; 10x faster than
    randint per element).
    """
    shape = (t.shape[0], *t.shape[2:], t.shape[1]) if t.dim() == 4 else tuple(t.shape)
    n = t.numel()
    words = torch.randint(0, 2**32, ((n + 31) // 32,), generator=generator, device=t.device,
                          dtype=torch.int64).to(torch.int32)
    r = rademacher_from_words(words, n)
    r = (r if t.dtype == torch.float32 else r.to(t.dtype)).view(shape)
    return r.permute(0, 3, 1, 2) if t.dim() == 4 else r


def az_scores(
    model: nn.Module,
    *,
    resolution: int = 32,
    batch_size: int = 64,
    in_channels: int = 3,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    generator: Optional[torch.Generator] = None,
    init: bool = True,
    init_scheme: str = "kaiming_fan_in",
    inputs: Optional[torch.Tensor] = None,
    g_outs: Optional[Sequence[torch.Tensor]] = None,
    flops: Optional[float] = None,
    channels_last: Optional[bool] = None,
    copy_model: bool = True,
) -> Dict[str, object]:
    """The four AZ-NAS proxies of one network from one forward and one backward pass.

    Args:
        model: a zsnas-contract network (``units``, ``tail``, ``classifier``); deep-copied
            unless ``copy_model=False`` (then it is re-initialised in place when ``init``).
        resolution, batch_size, in_channels: shape of the N(0,1) input.
        seed / generator: the only source of randomness (weights, input, probes, in this order).
        init: re-initialisation by ``init_scheme`` (AZ-NAS's Kaiming fan-in by default; INITS has
            AZ-NAS Table 8's others); ``init=False`` keeps the model's weights.
        inputs: explicit input batch instead of drawing one.
        g_outs: explicit probes, one per pair (shaped like features 2..L), instead of Rademacher.
        flops: complexity to report; counted with forward hooks when None.
        channels_last: run in channels_last memory format (default: on CPU).

    Returns a dict: expressivity, progressivity, trainability, complexity (floats), entropies
    and pair_terms (lists), degenerate_features, degenerate_pairs, degenerate (ints).
    """
    device = torch.device(device)
    if not isinstance(model, nn.Module) or not hasattr(model, "units"):
        raise ValueError(f"az_scores needs a zsnas-contract nn.Module with .units, got {type(model).__name__}")
    if copy_model:
        model = _deepcopy_model(model, "az_scores")
    units = list(model.units)
    if channels_last is None:
        channels_last = device.type == "cpu"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device).to(memory_format=fmt)
    model.train()
    if generator is None:
        generator = torch.Generator(device=device)
        generator.manual_seed(int(seed))
    if init:
        init_weights_(model, generator, init_scheme)
    if inputs is None:
        x = torch.randn(int(batch_size), int(in_channels), int(resolution), int(resolution),
                        generator=generator, device=device)
    else:
        x = inputs.to(device)
    x = x.contiguous(memory_format=fmt) if x.dim() == 4 else x

    # Only input VJPs are needed: weights out of autograd, so no weight-gradient work is done.
    saved_flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in saved_flags:
        p.requires_grad_(False)
    if flops is None and x.dim() == 4:
        # a batch-1 pass of the whole network, before lean NB201 cells skip dead nodes
        flops = count_macs(model, tuple(x.shape[1:]))
    mac_total, handles = install_mac_hooks(model) if flops is None else (None, [])
    undo_speedups = _accelerate(model, lean_cells=flops is not None)
    try:
        with torch.enable_grad():
            with torch.no_grad():  # no pair reaches back into the first unit
                feats = [units[0](x)]
            leaves: List[torch.Tensor] = []
            for unit in units[1:]:
                leaf = feats[-1].detach().requires_grad_(True)
                leaves.append(leaf)
                feats.append(unit(leaf))
            if flops is None:
                with torch.no_grad():  # charge tail and classifier too (not part of the features)
                    z = model.tail(feats[-1].detach())
                    pooled = model.pool(z) if hasattr(model, "pool") else (
                        torch.flatten(F.adaptive_avg_pool2d(z, 1), 1) if z.dim() == 4 else z)
                    model.classifier(pooled)
        outs = feats[1:]
        if g_outs is None:
            probes = [rademacher_like(f, generator) for f in outs]
            if not channels_last:
                probes = [g.contiguous() for g in probes]
        else:
            if len(g_outs) != len(outs):
                raise ValueError(f"AZ-NAS: got {len(g_outs)} probes for {len(outs)} unit pairs")
            probes = []
            for l, (g, f) in enumerate(zip(g_outs, outs), start=1):
                if tuple(g.shape) != tuple(f.shape):
                    raise ValueError(f"AZ-NAS: probe {l} has shape {tuple(g.shape)}, feature {l + 1} has {tuple(f.shape)}")
                probes.append(g.to(device=device, dtype=f.dtype))

        grads: List[Optional[torch.Tensor]] = [None] * len(outs)
        live = [i for i, f in enumerate(outs) if f.requires_grad]
        if live:
            got = torch.autograd.grad(
                [outs[i] for i in live], [leaves[i] for i in live],
                grad_outputs=[probes[i] for i in live], allow_unused=True,
            )
            for i, g in zip(live, got):
                grads[i] = g
    finally:
        for p, flag in saved_flags:
            p.requires_grad_(flag)
        for h in handles:
            h.remove()
        undo_speedups()

    entropies, bad_feats = [], 0
    for l, f in enumerate(feats):
        e, bad = feature_entropy(f, where=f" (output of unit {l})")
        entropies.append(e)
        bad_feats += bad
    terms, bad_pairs = [], 0
    for i, (g_in, g_out) in enumerate(zip(grads, probes)):
        t, bad = pair_trainability(g_in, g_out, where=f" (unit {i} -> unit {i + 1})")
        terms.append(t)
        bad_pairs += bad

    expressivity = float(sum(entropies))
    progressivity = float(min(b - a for a, b in zip(entropies, entropies[1:]))) if len(entropies) > 1 else 0.0
    if not terms:
        trainability = 0.0
    elif any(t == -math.inf for t in terms):
        trainability = -math.inf
    else:
        trainability = float(sum(terms) / len(terms))
    complexity = float(flops) if flops is not None else float(mac_total[0])
    return {
        "expressivity": expressivity,
        "progressivity": progressivity,
        "trainability": trainability,
        "complexity": complexity,
        "entropies": entropies,
        "pair_terms": terms,
        "degenerate_features": bad_feats,
        "degenerate_pairs": bad_pairs,
        "degenerate": bad_feats + bad_pairs,
    }


def _run(ctx: ProxyContext, init_scheme: str = "kaiming_fan_in") -> Dict[str, object]:
    return az_scores(
        ctx.build(residual=True),
        resolution=ctx.resolution,
        batch_size=ctx.batch_size,
        in_channels=ctx.in_channels,
        device=ctx.device,
        generator=ctx.generator(salt=0xA2),
        flops=ctx.flops,
        copy_model=False,
        init_scheme=init_scheme,
    )


def result_from_scores(name: str, scores: Dict[str, object], value_key: str = "expressivity") -> ProxyResult:
    """A ProxyResult carrying all four AZ numbers, with ``value`` = scores[value_key]."""
    sub = {k: float(scores[k]) for k in AZ_KEYS}
    sub["degenerate_features"] = float(scores["degenerate_features"])
    sub["degenerate_pairs"] = float(scores["degenerate_pairs"])
    return ProxyResult(name=name, value=float(scores[value_key]), sub_scores=sub, degenerate=int(scores["degenerate"]))


@register_proxy("az", description="AZ-NAS: all four proxies from one pass; value = expressivity "
                "(the AZ-NAS score itself exists only over a set, see rank.az_nas_scores; higher is better)")
def az_proxy(ctx: ProxyContext) -> ProxyResult:
    """All four AZ-NAS proxies in sub_scores; value = expressivity (no aggregation on one net)."""
    return result_from_scores("az", _run(ctx))


def _single(key: str) -> Callable[[ProxyContext], ProxyResult]:
    def fn(ctx: ProxyContext) -> ProxyResult:
        return result_from_scores(f"az_{key}", _run(ctx), value_key=key)

    fn.__name__ = f"az_{key}_proxy"
    fn.__doc__ = f"AZ-NAS {key} (one full AZ pass; the other three are in sub_scores; higher is better)."
    return fn


for _key in AZ_KEYS:
    register_proxy(f"az_{_key}")(_single(_key))


def _variant(suffix: str, scheme: str) -> Callable[[ProxyContext], ProxyResult]:
    def fn(ctx: ProxyContext) -> ProxyResult:
        return result_from_scores(f"az-{suffix}", _run(ctx, scheme))

    fn.__name__ = f"az_{suffix}_proxy"
    return fn


for _suffix, _scheme in INIT_VARIANTS.items():
    register_proxy(f"az-{_suffix}", description=f"AZ-NAS with {_scheme} initialisation (AZ-NAS Table 8); "
                   f"az-{_suffix}_trainability & co read its sub-scores (higher is better)")(_variant(_suffix, _scheme))
