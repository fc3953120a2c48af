"""Further proxies of the papers (REFERENCE.md §9): GradSign, TE-NAS (linear regions and the NTK
condition number), Zen-NAS's Φ-score, plain and depth.

Per-sample gradients -- ntk_cond's rows of ∂(Σ_c logits_i)/∂W and GradSign's ∂L(x_i, y_i)/∂W --
can be computed batched (``method="batched"``) or one backward per sample (``method="loop"``);
both give the same values (float64 tests). For the NTK, BN couples the samples, so batched is
``autograd.grad`` with ``is_grads_batched``; ntk_cond runs the loop, which measured faster on this
CPU (NTK_METHOD). GradSign forwards each sample alone, so batched is one forward of the batch with
per-sample BN statistics, one backward to every layer's output, and each sample's weight gradient
from its input and that output gradient (1.7x the loop on this CPU). When several of these
proxies score one network, the NTK is computed once (``ctx.shared``: te_nas reads ntk_cond's).

Orientation: higher is better as returned; each proxy documents its degenerate case (a defined
value, counted, never NaN).
"""
from __future__ import annotations

import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .classic import (_BN_TYPES, _cpu_generator, _grads, _loss_grads, _result, _strip_bn, _weights, batch,
                      init_default, layers, ntk_cond_value, prepare, relu_patterns, shared_relu_patterns)
from .registry import ProxyContext, ProxyResult, register_proxy

METHODS = ("batched", "loop")
PHI_PROBES = 8  # Gaussian probes per input estimating ‖J‖_F² = E_v ‖J v‖²
SALT_PHI_WEIGHTS, SALT_PHI_INPUT, SALT_PHI_PROBES = 0x0F1, 0x0F2, 0x0F3


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _use_channels_last(model: nn.Module, x: torch.Tensor, channels_last: Optional[bool]) -> bool:
    """channels_last by default for 4-d inputs on the CPU: oneDNN's convolutions and their
    backward run 1.3-4.4x faster in it on NB201 cells (bench/bench_per_sample.py); the values
    move only by float32 rounding."""
    if channels_last is None:
        channels_last = x.device.type == "cpu"
    return bool(channels_last) and x.dim() == 4


def _channels_last(model: nn.Module) -> nn.Module:
    """A channels_last copy (the caller's model keeps its layout)."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


# --------------------------------------------------------------------------------------------
# the NTK (ntk_cond, te_nas)
# --------------------------------------------------------------------------------------------

NTK_PARAMS = ("layers", "weights")


def _ntk_params(model: nn.Module, params: str) -> List[torch.Tensor]:
    """"layers": every Conv/Linear weight (REFERENCE §6); "weights": every parameter whose name
    contains 'weight', as TE-NAS's get_ntk_n takes them (BN's γ too)."""
    if params == "layers":
        return _weights(model)
    if params == "weights":
        return [w for name, w in model.named_parameters() if "weight" in name and w.requires_grad]
    raise ValueError(f"params must be one of {', '.join(NTK_PARAMS)}, got {params!r}")


def ntk_gram(model: nn.Module, x: torch.Tensor, method: str = "batched",
             channels_last: Optional[bool] = None, params: str = "layers") -> torch.Tensor:
    """NTK Gram matrix G Gᵀ (fp64, CPU), G_n = ∂(Σ_c logits[n, c])/∂W over every Conv/Linear
    weight (``params="weights"``: TE-NAS's set, BN's γ included), from one forward of the batch
    (BN's batch coupling included, as TE-NAS). `channels_last` (default: on the CPU) runs it on a
    channels_last copy of model and input."""
    from ..ops import torch_ops_only

    _check_method(method)
    if _use_channels_last(model, x, channels_last):
        model, x = _channels_last(model), x.contiguous(memory_format=torch.channels_last)
    ws = _ntk_params(model, params)
    with torch_ops_only():  # the batched backward runs through torch's ops only
        logits = model(x)
    b = logits.shape[0]
    gram = torch.zeros(b, b, dtype=torch.float64)
    if not logits.requires_grad:
        return gram
    per_sample = logits.sum(1)
    if method == "batched":
        eye = torch.eye(b, dtype=per_sample.dtype, device=per_sample.device)
        rows = torch.autograd.grad(per_sample, ws, grad_outputs=eye, is_grads_batched=True, allow_unused=True)
        for w, g in zip(ws, rows):
            if g is not None:
                g = g.reshape(b, -1).double()
                gram += (g @ g.T).cpu()
        return gram
    rows = [_grads(per_sample[i], ws, retain_graph=True) for i in range(b)]
    for l in range(len(ws)):
        g_l = torch.stack([r[l].reshape(-1) for r in rows]).double()
        gram += (g_l @ g_l.T).cpu()
        for r in rows:
            r[l] = None
    return gram


# BN couples the samples, so every NTK row costs a full-batch backward whichever way it is taken;
# vmap over the cotangents measured 0.49x the loop on this CPU (bench/bench_per_sample.py --vmap).
NTK_METHOD = "loop"


def ntk_cond_score(model: nn.Module, x: torch.Tensor, method: str = NTK_METHOD,
                   channels_last: Optional[bool] = None, params: str = "layers") -> ProxyResult:
    """NTK condition number (TE-NAS): −λmax/λmin of :func:`ntk_gram` (capped at −1e12, degenerate)."""
    value, degenerate = ntk_cond_value(ntk_gram(model, x, method, channels_last, params).numpy())
    return _result("ntk_cond", value, degenerate=degenerate)


def _shared_ntk(ctx: ProxyContext) -> ProxyResult:
    return ctx.shared(("ntk_cond", ctx.seed, ctx.batch_size, ctx.resolution),
                      lambda: ntk_cond_score(prepare(ctx), batch(ctx)[0]))


@register_proxy("ntk_cond", min_batch_size=2, version=2,  # 2: channels_last on the CPU
                description="−λmax/λmin of the NTK (higher is better)")
def ntk_cond(ctx: ProxyContext) -> ProxyResult:
    r = _shared_ntk(ctx)
    return ProxyResult("ntk_cond", r.value, dict(r.sub_scores), r.degenerate)


# --------------------------------------------------------------------------------------------
# linear regions, TE-NAS
# --------------------------------------------------------------------------------------------

def linear_regions_value(patterns: np.ndarray) -> Tuple[float, int]:
    """Distinct activation patterns among the inputs: TE-NAS's LinearRegionCount
    (Σ_i 1 / #{j: pattern_j = pattern_i}). One region (every input alike, or no ReLU at all) is
    the floor: value 1, degenerate=1."""
    n = len(np.unique(np.packbits(np.asarray(patterns, dtype=bool), axis=1), axis=0)) if patterns.size else 1
    return float(n), int(n <= 1)


def linear_regions_score(model: nn.Module, x: torch.Tensor) -> ProxyResult:
    return linear_regions_of_patterns(relu_patterns(model, x))


def linear_regions_of_patterns(patterns: np.ndarray) -> ProxyResult:
    value, degenerate = linear_regions_value(patterns)
    return _result("linear_regions", value, degenerate=degenerate)


@register_proxy("linear_regions", min_batch_size=2,
                description="distinct ReLU activation patterns over the batch (TE-NAS, higher is better)")
def linear_regions(ctx: ProxyContext) -> ProxyResult:
    return linear_regions_of_patterns(shared_relu_patterns(ctx))


# TE-NAS's own protocol (prune_tenas.py): 3 batches of 1000 single-channel 3×3 inputs through the
# cell's thin network (the one cell at width 1), BN in train mode over each batch, the regions
# counted over all 3000; the mean over 3 draws (its --repeat 3): on the dev cells one draw ranks
# at τ 0.46-0.51 (seeds 0, 1), the mean at 0.50-0.52.
TENAS_LR_BATCHES, TENAS_LR_BATCH, TENAS_LR_INPUT, TENAS_REPEATS = 3, 1000, (1, 3, 3), 3
SALT_TENAS_LR = 0x7E5  # draw k: weights from salt + 2k, inputs from salt + 2k + 1
# ... and its κ (prune_launch.py on NAS-Bench-201): the cell in a C=3, N=1 network with the stem,
# one batch of 72 in train mode, the gradients of every parameter named 'weight' (get_ntk_n).
TENAS_NTK_BATCH = 72
SALT_TENAS_NTK = 0x7E6


def linear_regions_tenas_score(model: nn.Module, batches: Sequence[torch.Tensor]) -> ProxyResult:
    """Distinct ReLU patterns over the inputs of every batch (each batch forwarded alone, so BN's
    statistics are the batch's), named ``linear_regions_tenas``."""
    with torch.no_grad():
        patterns = np.concatenate([relu_patterns(model, x) for x in batches])
    value, degenerate = linear_regions_value(patterns)
    return _result("linear_regions_tenas", value, degenerate=degenerate, inputs=float(len(patterns)))


def _nb201_cell(ctx: ProxyContext, proxy: str) -> str:
    from ..targets import resolve_target

    target = resolve_target(ctx.target) if ctx.target is not None else None
    if target is None or target.kind not in ("named", "builder") or not target.name.startswith("|"):
        what = "no target" if target is None else repr(target.name)
        raise ValueError(f"{proxy} is TE-NAS's protocol for NAS-Bench-201 cells (it builds the cell's thin "
                         f"network); it was given {what}. Use linear_regions for any other network.")
    return target.name


def _tenas_lr_inputs(ctx: ProxyContext, g: torch.Generator) -> torch.Tensor:
    """One batch of TE-NAS's inputs: 3×3 crops of one channel of the data's images (ctx.data),
    else Gaussian 3×3 patches."""
    if ctx.data is not None:
        from ..data import draw_crops

        return draw_crops(ctx.data, TENAS_LR_BATCH, TENAS_LR_INPUT[-1], g)
    return torch.randn((TENAS_LR_BATCH,) + TENAS_LR_INPUT, generator=g)


# version 2: the mean of 3 draws; 3: TE-NAS's depth 1 (one cell)
@register_proxy("linear_regions_tenas", version=3, fixed_batch=f"{TENAS_LR_BATCHES}x{TENAS_LR_BATCH}",
                description="linear regions as TE-NAS counts them: the cell's thin network (the one cell "
                            "at width 1, no stem), 3×1000 single-channel 3×3 inputs, mean of 3 draws; NB201 cells "
                            "only (higher is better)")
def linear_regions_tenas(ctx: ProxyContext) -> ProxyResult:
    """TE-NAS's R for an NB201 cell (its pruning code's protocol; Gaussian 3×3 patches, or with
    ctx.data crops of its images as TE-NAS takes them): up to 3000 instead of saturating at the
    batch size as ``linear_regions`` on the full network does. Sub-scores: each draw's count
    (``draw1``..)."""
    from ..nn.nb201 import nb201_thin_network

    cell = _nb201_cell(ctx, "linear_regions_tenas")
    draws = []
    for k in range(TENAS_REPEATS):
        model = init_default(nb201_thin_network(cell, num_classes=ctx.num_classes),
                             _cpu_generator(ctx, SALT_TENAS_LR + 2 * k)).to(ctx.device).train()
        g = _cpu_generator(ctx, SALT_TENAS_LR + 2 * k + 1)
        batches = [_tenas_lr_inputs(ctx, g).to(ctx.device) for _ in range(TENAS_LR_BATCHES)]
        draws.append(linear_regions_tenas_score(model, batches))
    return _mean_of_draws("linear_regions_tenas", draws, inputs=draws[0].sub_scores["inputs"])


def _mean_of_draws(name: str, draws: Sequence[ProxyResult], **sub: float) -> ProxyResult:
    """TE-NAS's --repeat: the mean of the draws' values, each draw's value a sub-score (draw1..)."""
    return _result(name, float(np.mean([d.value for d in draws])), degenerate=sum(d.degenerate for d in draws),
                   **sub, **{f"draw{k + 1}": d.value for k, d in enumerate(draws)})


@register_proxy("ntk_cond_tenas", min_batch_size=1, fixed_batch=str(TENAS_NTK_BATCH),
                description="−κ as TE-NAS takes it on NB201: the cell in a C=3, N=1 network, a batch of 72, "
                            "every 'weight' parameter, mean of 3 draws; NB201 cells only (higher is better)")
def ntk_cond_tenas(ctx: ProxyContext) -> ProxyResult:
    """TE-NAS's NTK condition number for an NB201 cell (prune_launch.py's settings: batch 72, its
    C=3, N=1 network; PyTorch's default initialisation, which its launcher's init name leaves in
    place), negated; the mean over 3 draws of weights and batch (Gaussian, or ctx.data's images).
    ~40x cheaper than ntk_cond on the C=16, N=5 network. Sub-scores: each draw (``draw1``..)."""
    import dataclasses

    from ..nn.nb201 import nb201_tenas_ntk_network

    cell = _nb201_cell(ctx, "ntk_cond_tenas")
    sub = dataclasses.replace(ctx, batch_size=TENAS_NTK_BATCH)
    draws = []
    for k in range(TENAS_REPEATS):
        model = init_default(nb201_tenas_ntk_network(cell, num_classes=ctx.num_classes),
                             _cpu_generator(ctx, SALT_TENAS_NTK + 2 * k)).to(ctx.device).train()
        x, _ = batch(sub, SALT_TENAS_NTK + 2 * k + 1)
        draws.append(ntk_cond_score(model, x, params="weights"))
    return _mean_of_draws("ntk_cond_tenas", draws)


@register_proxy("te_nas", min_batch_size=2, version=2,  # 2: its NTK in channels_last on the CPU
                description="TE-score R − κ (linear regions minus the NTK condition number; higher is better)")
def te_nas(ctx: ProxyContext) -> ProxyResult:
    """Zen-NAS's TE-score R − κ, with R and −κ as sub-scores (TE-NAS itself sums the two ranks
    across candidates: `zsnas bench --aggregate sum:linear_regions_tenas+ntk_cond_tenas`). κ capped
    at 1e12."""
    ntk = _shared_ntk(ctx)
    lr = linear_regions(ctx)
    return _result("te_nas", lr.value + ntk.value, degenerate=lr.degenerate + ntk.degenerate,
                   linear_regions=lr.value, ntk_cond=ntk.value)


# --------------------------------------------------------------------------------------------
# GradSign
# --------------------------------------------------------------------------------------------

def per_sample_loss_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          method: str = "batched") -> List[torch.Tensor]:
    """[B, *w.shape] per layer: ∂L(x_i, y_i)/∂W with each sample forwarded alone (batch 1, train
    mode: BN over that sample), as AZ-NAS's GradSign code does.

    ``loop`` forwards and backwards each sample alone; ``batched`` forwards the batch once with
    each BN normalising every sample over its own H×W (what BN does to a batch of one), takes
    ∂ΣL_i/∂(each layer's output) in one backward -- sample i's share only reaches L_i -- and
    forms each sample's weight gradient from its input and that gradient. BN in eval mode, which
    needs no batch statistics, runs as it is."""
    _check_method(method)
    ws = _weights(model)
    if method == "loop":
        rows = []
        for i in range(x.shape[0]):
            rows.append(_grads(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), ws))
        return [torch.stack([r[l] for r in rows]) for l in range(len(ws))]
    net = _samplewise_bn(model)
    mods = layers(net)
    calls: List[Tuple[nn.Module, torch.Tensor, torch.Tensor]] = []

    def keep(mod, inputs, out):
        calls.append((mod, inputs[0].detach(), out))
        return out.clone()  # what follows gets a copy: an in-place op (ReLU(inplace), +=) leaves `out` as it was

    handles = [m.register_forward_hook(keep) for m in mods]
    try:
        loss = F.cross_entropy(net(x), y, reduction="sum")
    finally:
        for h in handles:
            h.remove()
    grads: Dict[int, torch.Tensor] = {}
    live = [(m, a, o) for m, a, o in calls if o.requires_grad]
    if live and loss.requires_grad:
        outs = torch.autograd.grad(loss, [o for _, _, o in live], allow_unused=True)
        for (m, a, _), g in zip(live, outs):
            if g is not None:  # a module run more than once sums its calls, as autograd does
                gw = _weight_grad_per_sample(m, a, g)
                grads[id(m)] = grads[id(m)] + gw if id(m) in grads else gw
    return [grads[id(m)] if id(m) in grads else
            torch.zeros((x.shape[0],) + tuple(m.weight.shape), dtype=m.weight.dtype, device=m.weight.device)
            for m in mods]


def _samplewise_bn(model: nn.Module) -> nn.Module:
    """A copy of model whose BN layers in training mode normalise each sample alone (batch
    statistics of a batch of one: instance norm with BN's affine and eps)."""
    net = copy.deepcopy(model)
    for m in net.modules():
        if isinstance(m, _BN_TYPES) and (m.training or not m.track_running_stats):
            def forward(inp, m=m):
                if inp.dim() < 3:
                    raise ValueError(f"{type(m).__name__} on a {inp.dim()}-d input has no statistics for one sample "
                                     f"(per-sample gradients forward each sample alone)")
                return F.instance_norm(inp, weight=m.weight, bias=m.bias, eps=m.eps)
            m.forward = forward
    return net


def _weight_grad_per_sample(m: nn.Module, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """[B, *m.weight.shape]: each sample's ∂L/∂W of one call of a Linear or Conv2d, from its input
    `a` and the gradient `g` of its output. A convolution's is one weight gradient of the
    samples side by side as groups (B·groups), which oneDNN / cuDNN run at a batch's speed."""
    b = a.shape[0]
    if isinstance(m, nn.Linear):
        return torch.einsum("b...o,b...i->boi", g, a)
    a, padding = _conv_input_and_padding(m, a)
    w = m.weight.shape
    gw = torch.nn.grad.conv2d_weight(a.reshape(1, b * a.shape[1], *a.shape[2:]), (b * w[0],) + tuple(w[1:]),
                                     g.reshape(1, b * g.shape[1], *g.shape[2:]), stride=m.stride, padding=padding,
                                     dilation=m.dilation, groups=b * m.groups)
    return gw.reshape((b,) + tuple(w))


def _conv_input_and_padding(m: nn.Conv2d, a: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """The convolution's input and the zero padding left to apply to it: a padding mode other than
    zeros, or 'same', is applied here."""
    if isinstance(m.padding, str):
        if m.padding == "valid":
            return a, (0, 0)
        pads = []
        for d, k in zip(reversed(m.dilation), reversed(m.kernel_size)):  # 'same' (stride 1)
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
    elif m.padding_mode == "zeros":
        return a, tuple(m.padding)
    else:
        pads = [p for p in reversed(m.padding) for _ in range(2)]
    mode = "constant" if m.padding_mode == "zeros" else m.padding_mode
    return F.pad(a, pads, mode=mode), (0, 0)


def gradsign_value(grads: Sequence[torch.Tensor]) -> Tuple[float, int]:
    """mean over weight entries k of |Σ_i sign(g_ik)|. In [0, B]; 0 (degenerate=1) when every
    per-sample gradient is zero."""
    total, count, degenerate = gradsign_sums(grads)
    return (total / count if count else 0.0), degenerate


def gradsign_sums(grads: Sequence[torch.Tensor]) -> Tuple[float, int, int]:
    """(Σ_k |Σ_i sign(g_ik)|, the number of entries k, degenerate): degenerate=1 when every
    per-sample gradient is zero."""
    total, count, nonzero = 0.0, 0, False
    for g in grads:
        # sums of B signs are exact in float32 (B < 2^24); the sum over entries is taken in float64
        agree = torch.sign(g.reshape(g.shape[0], -1)).sum(0).abs()
        nonzero = nonzero or bool(torch.count_nonzero(g) > 0)
        total += float(agree.sum(dtype=torch.float64))
        count += agree.numel()
    return total, count, int(not nonzero)


def layers_run(model: nn.Module, x: torch.Tensor) -> List[bool]:
    """For each of layers(model): does a forward of x call it? (An NB201 cell's dead edges do not.)"""
    from ..nn.hooks import forward_with_hooks

    ran = set()
    forward_with_hooks(model, x, layers(model), lambda mod, i, o: ran.add(id(mod)))
    return [id(m) in ran for m in layers(model)]


def gradsign_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, method: str = "batched") -> ProxyResult:
    """GradSign over the layers the network runs: AZ-NAS's correction of the authors' code,
    which counts an unused layer's zeros and so dilutes the mean (a sum over the used layers'
    entries divided by their number). Sub-score ``sum``: Σ_k without the division (gradsign_sum)."""
    used = layers_run(model, x[:1])
    grads = [g for g, u in zip(per_sample_loss_grads(model, x, y, method), used) if u]
    total, count, degenerate = gradsign_sums(grads)
    return _result("gradsign", total / count if count else 0.0, degenerate=degenerate, layers_used=sum(used),
                   sum=total)


def _shared_gradsign(ctx: ProxyContext) -> ProxyResult:
    return ctx.shared(("gradsign", ctx.seed, ctx.batch_size, ctx.resolution),
                      lambda: gradsign_score(prepare(ctx), *batch(ctx)))


@register_proxy("gradsign", min_batch_size=2, version=3,  # 2: unused layers left out; 3: batched by hooks
                description="mean_k |Σ_i sign(∂L_i/∂W_k)| over the layers run, per-sample gradient sign agreement "
                            "as AZ-NAS ports it (the authors' published numbers are gradsign_sum; higher is better)")
def gradsign(ctx: ProxyContext) -> ProxyResult:
    r = _shared_gradsign(ctx)
    return ProxyResult("gradsign", r.value, dict(r.sub_scores), r.degenerate)


@register_proxy("gradsign_sum", min_batch_size=2,
                description="Σ_k |Σ_i sign(∂L_i/∂W_k)|, GradSign summed over the weight entries as its authors' "
                            "code for the published numbers does (higher is better)")
def gradsign_sum(ctx: ProxyContext) -> ProxyResult:
    """GradSign's sum over every weight entry k instead of AZ-NAS's mean. The GradSign authors'
    scripts behind their published NB201 τ (naswot-code/gradsign.py) and ρ (the zero-cost-nas
    measure grad_conflict, results under 201_results_batch_128/sum/) take np.nansum; the mean is
    in their stand-alone zero-cost-nas-code/gradsign.py and AZ-NAS's port, which REFERENCE §9
    follows for ``gradsign``. The sum grows with the number of weights, which the mean divides
    out (nb201_dev: mean τ −0.14, sum 0.57, #params 0.54). An unused layer's entries add 0, so
    counting its zeros or leaving it out gives the same sum. One per-sample pass serves both
    when they score one network."""
    r = _shared_gradsign(ctx)
    return _result("gradsign_sum", r.sub_scores["sum"], degenerate=r.degenerate, mean=r.value,
                   layers_used=r.sub_scores["layers_used"])


# --------------------------------------------------------------------------------------------
# plain, depth
# --------------------------------------------------------------------------------------------

def plain_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> ProxyResult:
    """−Σ ∂L/∂W ⊙ W over every Conv/Linear weight (NAS-Bench-Zero's orientation; zero-cost-nas
    returns the sum unsigned: sub-score ``raw``). Degenerate (0) when the loss gradient is zero."""
    ws, gs = _loss_grads(model, x, y)
    raw = sum(float((w.detach().double() * g.double()).sum()) for w, g in zip(ws, gs))
    return _result("plain", -raw, degenerate=int(all(bool((g == 0).all()) for g in gs)), raw=raw)


@register_proxy("plain", description="−Σ ∂L/∂W⊙W (NAS-Bench-Zero, higher is better)")
def plain(ctx: ProxyContext) -> ProxyResult:
    model = prepare(ctx)
    x, y = batch(ctx)
    return plain_score(model, x, y)


NB201_WEIGHTED = {"nor_conv_1x1": 1, "nor_conv_3x3": 1}


def nb201_depth(cell: str, cells_per_stage: int = 5) -> int:
    """Weight layers on the longest path of the NB201 network: stem conv, 3 × N cells (each the
    longest weighted path through its DAG), two residual reduction blocks (2 convs each), the
    classifier."""
    nodes = [part.strip("|") for part in cell.strip().split("+")]
    depth = [0]
    for j, node in enumerate(nodes, start=1):
        best = None
        for edge in node.split("|"):
            if not edge:
                continue
            op, _, src = edge.partition("~")
            if op == "none":
                continue
            d = depth[int(src)] + NB201_WEIGHTED.get(op, 0)
            best = d if best is None else max(best, d)
        depth.append(best if best is not None else 0)
    return 1 + 3 * cells_per_stage * depth[-1] + 2 * 2 + 1


@register_proxy("depth", fixed_batch="none", description="conv + linear layers on the main path (higher is better)")
def depth(ctx: ProxyContext) -> ProxyResult:
    if ctx.target is None:
        raise ValueError("depth needs the scored target (zsnas.score / bench / search give it)")
    return _result("depth", float(depth_of(ctx.target)))


def depth_of(target) -> int:
    """Conv + Linear layers on the network's main path (shortcut projections and SE not counted)."""
    from ..targets import resolve_target

    t = resolve_target(target)
    if t.kind == "arch":
        from ..arch import Arch

        units = Arch(t.structure).units()
        return sum(sum(1 for l in u["layers"] if l["kind"] == "conv") for u in units) + 1
    if t.kind == "named" and t.name.startswith("|"):
        return nb201_depth(t.name)
    model = t.build(residual=True)
    skip = set()
    for name, m in model.named_modules():
        if "downsample" in name.split(".") or type(m).__name__ == "SqueezeExcite":
            skip.update(id(x) for x in m.modules())
    return sum(1 for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in skip)


# --------------------------------------------------------------------------------------------
# params / FLOPs per stage
# --------------------------------------------------------------------------------------------

STAGES = 5  # params_stage1..5, flops_stage1..5 are registered (ImageNet networks have 5 resolutions)


def stage_counts(model: nn.Module, resolution: int, in_channels: int = 3) -> List[Dict[str, int]]:
    """Params and conv+linear MACs per stage, a stage being the layers that run at one feature
    resolution (in the order met from the input; the classifier counts in the last stage).
    Parameters of Conv/Linear/BN layers are counted (those of a layer applied twice once)."""
    from ..nn.counting import layer_macs
    from ..nn.hooks import forward_with_hooks

    rows: List[tuple] = []  # (module, resolution of its output, params, macs) in forward order

    def hook(m, inp, out):
        h = out.shape[-1] if out.dim() == 4 else None
        rows.append((id(m), h, sum(p.numel() for p in m.parameters(recurse=False)), layer_macs(m, out)))

    kinds = (nn.Conv2d, nn.Linear) + _BN_TYPES
    forward_with_hooks(model.eval(), torch.zeros(1, in_channels, resolution, resolution),
                       (m for m in model.modules() if isinstance(m, kinds)), hook)
    stages: List[Dict[str, int]] = []
    where: Dict[int, int] = {}
    seen = set()
    for mid, h, own, macs in rows:
        if h is not None and h not in where:
            where[h] = len(where)
            stages.append({"resolution": h, "params": 0, "flops": 0})
        k = where[h] if h is not None else len(stages) - 1
        stages[k]["flops"] += macs
        if mid not in seen:
            seen.add(mid)
            stages[k]["params"] += own
    return stages


def _stages(ctx: ProxyContext) -> List[Dict[str, int]]:
    return ctx.shared(("stages", ctx.resolution),
                      lambda: stage_counts(ctx.build(residual=True), ctx.resolution, ctx.in_channels))


def _stage_proxy(what: str, k: int):
    def fn(ctx: ProxyContext) -> ProxyResult:
        stages = _stages(ctx)
        value = stages[k - 1][what] if k <= len(stages) else 0
        sub = {f"stage{i + 1}": float(s[what]) for i, s in enumerate(stages)}
        return _result(f"{what}_stage{k}", float(value), degenerate=int(k > len(stages)), **sub)

    return fn


_ORDINALS = ("first", "second", "third", "fourth", "fifth")
for _k in range(1, STAGES + 1):
    for _what in ("params", "flops"):
        register_proxy(f"{_what}_stage{_k}", fixed_batch="none",
                       description=f"{'parameters' if _what == 'params' else 'conv+linear MACs'} of stage {_k} (the "
                                   f"layers at the {_ORDINALS[_k - 1]} feature resolution; higher is better)")(
            _stage_proxy(_what, _k))


# --------------------------------------------------------------------------------------------
# Φ-score
# --------------------------------------------------------------------------------------------

def phi_score(model: nn.Module, x: torch.Tensor, probes: torch.Tensor,
              channels_last: Optional[bool] = None) -> ProxyResult:
    """Φ = ln E_x ‖J(x)‖_F, J the Jacobian of the pre-GAP feature map (``forward_pre_gap``, else
    the output) w.r.t. the input, on `model` as given (make it vanilla and BN-free first; each
    sample is then independent). ‖J(x_i)‖_F² = E_v ‖J v‖², estimated over `probes` [P, *x.shape]
    by forward-mode jvp. In the model's dtype: a float32 network that overflows gives the
    largest finite value ln(float max) with degenerate=1 (sub-score ``overflow``).
    `channels_last` (default: on the CPU) runs it on a channels_last copy of model and tensors."""
    from torch.func import jvp

    if _use_channels_last(model, x, channels_last):
        model, x = _channels_last(model), x.contiguous(memory_format=torch.channels_last)
        probes = [v.contiguous(memory_format=torch.channels_last) for v in probes]
    f = model.forward_pre_gap if hasattr(model, "forward_pre_gap") else model
    sq = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for v in probes:
        _, jv = jvp(f, (x,), (v,))
        jv = jv.detach()
        sq += jv.reshape(jv.shape[0], -1).double().pow(2).sum(1) if torch.isfinite(jv).all() else math.inf
    norms = torch.sqrt(sq / len(probes))
    value = float(torch.log(norms.mean())) if norms.mean() > 0 else -math.inf
    cap = math.log(torch.finfo(x.dtype).max)
    overflow = not math.isfinite(value) or value > cap
    if overflow:
        value = cap
    degenerate = int(overflow or value == -math.inf)
    if value == -math.inf:
        value = math.log(torch.finfo(x.dtype).tiny)
    return _result("phi", value, degenerate=degenerate, overflow=int(overflow))


def phi_network(ctx: ProxyContext) -> nn.Module:
    """The vanilla, BN-free network with N(0, 1) weights that Φ is defined on."""
    from .zen import gaussian_init_, vanilla_builder

    model = vanilla_builder(ctx.build)(residual=False)
    _strip_bn(model)
    gaussian_init_(model, _cpu_generator(ctx, SALT_PHI_WEIGHTS))
    return model.to(ctx.device).eval()


@register_proxy("phi", needs_residual=False, version=2,  # 2: channels_last on the CPU
                description="Zen-NAS Φ-score: ln E‖∂f/∂x‖_F, vanilla BN-free network, N(0,1) weights (higher is better)")
def phi(ctx: ProxyContext) -> ProxyResult:
    model = phi_network(ctx)
    shape = (ctx.batch_size, ctx.in_channels, ctx.resolution, ctx.resolution)
    x = torch.randn(shape, generator=_cpu_generator(ctx, SALT_PHI_INPUT)).to(ctx.device)
    v = torch.randn((PHI_PROBES,) + shape, generator=_cpu_generator(ctx, SALT_PHI_PROBES)).to(ctx.device)
    return phi_score(model, x, v)


FURTHER_PROXIES = ("ntk_cond", "ntk_cond_tenas", "gradsign", "gradsign_sum", "linear_regions",
                   "linear_regions_tenas", "te_nas", "phi", "plain", "depth")

__all__ = ["FURTHER_PROXIES", "ntk_gram", "ntk_cond_score", "relu_patterns", "linear_regions_value",
           "linear_regions_score", "linear_regions_tenas_score", "per_sample_loss_grads", "gradsign_value",
           "gradsign_sums", "gradsign_score", "plain_score",
           "phi_score", "phi_network", "nb201_depth", "depth_of", "stage_counts"]
