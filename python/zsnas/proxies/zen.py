"""Zen-score (Zen-NAS, Algorithm 1; REFERENCE.md §3), registered as proxy "zen".

On the network *without* residual links, BN in training mode, conv/linear weights ~ N(0,1),
biases 0, BN gamma=1 beta=0, strict fp32 (TF32 off):

    x, eps ~ N(0,1);  x' = x + alpha*eps                       (alpha = 0.01)
    Delta   = mean_b  sum_{c,h,w} |f(x) - f(x')|              f = model.forward_pre_gap
    sigma_i = sqrt(mean_c Var_batch[input of BN i])           (biased variance, as BN uses)
    score   = ln Delta + sum_i ln sigma_i,   averaged over `repeats` independent draws.

Choices (documented differences from the authors' code):
* sigma_i comes from the batch statistics of the **x** pass (the clean input), as BN itself
  computed them (see _BNVarianceRecorder); the authors read BN ``running_var`` after both passes (momentum 0.1,
  never reset), which under-reports on one repeat and drifts upward over repeats. The paper's
  published ResNet numbers are the converged value, i.e. the batch variance. x and x' differ
  by 1 %, so which pass is used changes sigma_i by far less than the seed-to-seed spread.
* A repeat whose Delta or some sigma_i is exactly 0 (a network whose features are all zero)
  scores -inf and is counted in ``ProxyResult.degenerate``; the mean over repeats is then -inf
  (never NaN). ``std`` is taken over the finite repeats only (0.0 when fewer than two).
* On CPU the model and inputs are converted to channels_last (oneDNN convolutions and BN run
  ~1.5x faster there); this changes results only by fp32 rounding.
* Plain chain networks (ArchNet or ResNet without residuals, Sequentials) run through
  _FusedForward: each training-mode BN and the ReLU after it is one in-place kernel that also
  returns the batch variance (zsnas.ops.batch_norm_relu_train_); other networks run their own
  forward. On CPUs with AVX2+FMA, a widening convolution -> BN+ReLU -> 1x1 convolution back
  down is one more fused step (zsnas.ops.expand_bn_contract_train): inverted bottlenecks
  (ZenNet's K1KXK1 units meet this way, unit to unit) and a KxK stem over few channels
  feeding a 1x1. The wide middle tensor is never stored; its BN statistics follow from the
  input rows' mean and covariance. About a quarter off ZenNet-1.0M's Zen-score.
  Deep random networks without residuals amplify float32 rounding: on ZenNet-1.0M every
  float32 path (torch's own NCHW or channels_last, fused or not) lands 0.01-0.1 from the
  float64 score (B=64 to B=16; the seed-to-seed spread is ~1); on shallow nets the paths agree
  to < 1e-5.
"""
from __future__ import annotations

import contextlib
import copy
import math
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .init import empty_like_weight, reinit_
from .registry import ProxyContext, ProxyResult, register_proxy

ALPHA = 0.01

try:  # fused kernels over the compiled module (zsnas.ops), when built
    from ..ops import CUDA_COMPILED as _CUDA_KERNELS
    from ..ops import abs_diff_sum as _fused_abs_diff_sum
    from ..ops import batch_norm_relu_train_eager_ as _fused_bn_relu_
    from ..ops import EXPAND_SIMD as _EXPAND_SIMD
    from ..ops import expand_bn_contract_train_eager as _fused_expand_contract
except Exception:  # pragma: no cover - the compiled module is missing: plain torch
    _fused_abs_diff_sum = _fused_bn_relu_ = _fused_expand_contract = None
    _CUDA_KERNELS = _EXPAND_SIMD = False

# Largest (rows + D) * E of a pair that _FusedForward fuses: both weight matrices (float32)
# must stay in L2 while the pixel tiles stream past them; bigger pairs run as two convolutions.
# Measured against conv + BN kernel + conv (one thread): 64-256-64 (128 KB) 1.8x faster,
# 96-384-96 (288 KB) even, 128-512-128 (512 KB) 0.8x, 256-1024-256 (2 MB) 0.5x.
_EXPAND_MAX_WEIGHTS = 65536
# Largest k*k*C patch of a KxK first convolution that it fuses (gathered per pixel; a stem).
_EXPAND_MAX_PATCH = 64


@contextlib.contextmanager
def strict_fp32():
    """Turn TF32 off for matmuls and convolutions (CUDA and oneDNN), restoring the flags after.

    Zen-score's Delta is a small difference of two large forward passes; TF32's 10-bit
    mantissa would swamp it.
    """
    b = torch.backends
    saved = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    try:
        b.cuda.matmul.allow_tf32 = False
        b.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        yield
    finally:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = saved[0], saved[1]
        torch.set_float32_matmul_precision(saved[2])


def gaussian_init_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Zen-NAS init: conv/linear weights ~ N(0,1), their biases 0, BN/GroupNorm gamma=1 beta=0."""
    return reinit_(model, lambda m: empty_like_weight(m).normal_(0.0, 1.0, generator=generator))


def _per_sample_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_{c,h,w} |a - b| per sample, float64 [B]."""
    if a.dtype == torch.float32 and _fused_abs_diff_sum is not None:
        if a.dim() == 4 and a.is_contiguous(memory_format=torch.channels_last) and not a.is_contiguous():
            # the per-sample sum ignores element order: hand the kernel a contiguous NHWC view
            a, b = a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)
        return _fused_abs_diff_sum(a, b)
    return (a.double() - b.double()).abs().flatten(1).sum(1)


class _BNVarianceRecorder:
    """Records sigma_i^2 = mean_c Var_batch(input of BN i) during one armed forward pass.

    The variance comes from BN's own statistics kernel (much faster than a second reduction,
    torch.var over N,H,W is ~6x slower than the whole BN on CPU): while armed, every BN runs
    with momentum 1 on a zeroed ``running_var``, so afterwards ``running_var`` holds exactly
    this batch's unbiased variance, which we turn back into the biased one BN normalised with.
    A BN without running statistics falls back to torch.var on its input.
    """

    def __init__(self, model: nn.Module):
        self.bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
        self._counts: dict = {}
        self._direct: dict = {}
        self._saved_momentum: dict = {}
        self.armed = False
        self._handles = [bn.register_forward_pre_hook(self._hook) for bn in self.bns]

    def _hook(self, module, args):
        if not self.armed:
            return
        x = args[0]
        per_channel = x.numel() // x.shape[1]
        self._counts[id(module)] = per_channel
        if module.running_var is None:
            dims = [d for d in range(x.dim()) if d != 1]
            self._direct[id(module)] = torch.var(x, dim=dims, correction=0).double().mean()

    def arm(self) -> None:
        self._counts.clear()
        self._direct.clear()
        for bn in self.bns:
            if bn.running_var is not None:
                self._saved_momentum[id(bn)] = bn.momentum
                bn.momentum = 1.0
                bn.running_var.zero_()
                bn.running_mean.zero_()
        self.armed = True

    def disarm(self) -> List[float]:
        """Stop recording; mean_c batch variance of each BN in module order (that ran)."""
        self.armed = False
        out = []
        for bn in self.bns:
            key = id(bn)
            if bn.running_var is not None:
                bn.momentum = self._saved_momentum.pop(key)
            if key not in self._counts:
                continue  # this BN did not run in the pass
            if key in self._direct:
                out.append(float(self._direct[key]))
            else:
                n = self._counts[key]
                out.append(float(bn.running_var.double().mean()) * (n - 1) / n)
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


class _FusedForward:
    """forward_pre_gap of a plain chain network with every BatchNorm2d(+ReLU) fused.

    A zsnas network without residual links (ArchNet units, ResNet blocks, Sequentials, the tiny
    test nets) is a straight chain of layers. Flattened, every training-mode BatchNorm2d (and a ReLU right
    after it, also a non-residual Unit's final ReLU) runs as one in-place kernel
    (zsnas.ops.batch_norm_relu_train_) on the convolution output it follows; the kernel also
    returns the batch variance sigma_i^2 needs, so no recording pass is needed either. Against
    torch's BN, then ReLU into a new tensor, this saves two memory passes and one allocation
    per layer: about a third of a ZenNet forward on CPU. Values agree to float32 rounding.

    ``plan(model)`` returns None for anything it does not recognise (residual units, NB201
    cells, BN inside an opaque module, a subclass overriding forward_pre_gap, ...): zen_score
    then runs the model's own forward with _BNVarianceRecorder.
    Running statistics are not updated on this path (Zen-score never reads them).
    """

    def __init__(self, steps: list):
        self.steps = steps

    @classmethod
    def plan(cls, model: nn.Module, expand: bool = False) -> Optional["_FusedForward"]:
        """The fused step list of ``model``, or None. ``expand``: also fuse each widening
        convolution -> BN+ReLU -> 1x1 convolution into one step (see _fuse_expansions)."""
        from ..nn.arch_net import Unit
        from ..nn.common import ContractNet
        from ..nn.resnet import BasicBlock, Bottleneck

        if not isinstance(model, ContractNet) or type(model).forward_pre_gap is not ContractNet.forward_pre_gap:
            return None
        leaves: list = []

        def flatten(m: nn.Module) -> bool:
            if isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward:
                return all(flatten(c) for c in m)
            if type(m) is Unit and not m.residual and type(m).forward is Unit.forward:
                if not flatten(m.body):
                    return False
                if m.final_relu:
                    leaves.append(nn.ReLU())
                return True
            if type(m) in (BasicBlock, Bottleneck) and not m.residual:
                return all(flatten(c) for c in m.plain_layers())
            if type(m) is nn.Identity:
                return True
            if type(m) is nn.BatchNorm2d:
                leaves.append(m)
                return True
            if any(isinstance(c, _BatchNorm) for c in m.modules()):
                return False  # its BN would escape the variance record
            leaves.append(m)
            return True

        if not all(flatten(u) for u in model.units) or not flatten(model.tail):
            return None
        steps = []
        for i, m in enumerate(leaves):
            if type(m) is nn.ReLU and i > 0 and steps and steps[-1][0] == "bn" and not steps[-1][2]:
                steps[-1] = ("bn", steps[-1][1], True)
            elif type(m) is nn.BatchNorm2d:
                if not (m.training or m.running_var is None):
                    return None  # eval-mode BN uses running statistics
                steps.append(("bn", m, False))
            elif type(m) is nn.ReLU:
                steps.append(("relu", m, True))
            else:
                steps.append(("call", m, isinstance(m, nn.Conv2d)))
        return cls(_fuse_expansions(steps) if expand else steps)

    def __call__(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """(features, [biased per-channel batch variance of each BN input, float64])."""
        owned = False  # may x be overwritten (a fresh tensor no one else holds)?
        variances = []
        for kind, m, flag in self.steps:
            if kind == "bn":
                if x.dim() != 4:
                    raise ValueError(f"zen_score: BatchNorm2d got a {x.dim()}-D input of shape {tuple(x.shape)}")
                if not owned:
                    x = x.clone()
                _, var = _fused_bn_relu_(x, m.weight, m.bias, float(m.eps), flag)
                variances.append(var)
                owned = True
            elif kind == "expand":
                conv_a, bn, conv_b = m
                x, _, var = _fused_expand_contract(x, conv_a.weight, bn.weight, bn.bias, float(bn.eps),
                                                   conv_b.weight, flag, conv_a.stride[0], conv_a.padding[0])
                variances.append(var)
                owned = True
            elif kind == "relu":
                x = torch.relu_(x) if owned else torch.relu(x)
                owned = True
            else:
                x = m(x)
                owned = flag  # a convolution's output is fresh; other modules may alias
        return x, variances


def _is_plain_conv(m: nn.Module) -> bool:
    """A bias-free, ungrouped, undilated nn.Conv2d running torch's own forward with a square
    kernel, equal strides and equal zero padding."""
    return (type(m) is nn.Conv2d and m.groups == 1 and m.bias is None and m.dilation == (1, 1)
            and m.padding_mode == "zeros" and isinstance(m.padding, tuple) and m.padding[0] == m.padding[1]
            and m.kernel_size[0] == m.kernel_size[1] and m.stride[0] == m.stride[1])


def _is_plain_1x1(m: nn.Module) -> bool:
    return _is_plain_conv(m) and m.kernel_size == (1, 1) and m.stride == (1, 1) and m.padding == (0, 0)


def _expansion_rows(m: nn.Module) -> Optional[int]:
    """Width of the rows the fused expand kernel would multiply for first convolution m: its
    input channels (1x1) or its patch size k*k*C for a KxK one over few channels (a stem, at
    most _EXPAND_MAX_PATCH values); None when m cannot lead an expansion."""
    if not _is_plain_conv(m):
        return None
    if _is_plain_1x1(m):
        return m.in_channels
    rows = m.kernel_size[0] * m.kernel_size[1] * m.in_channels
    return rows if rows <= _EXPAND_MAX_PATCH else None


def _fuse_expansions(steps: list) -> list:
    """Replace each run conv (C -> E) -> BN(+ReLU) -> conv1x1 (E -> D) with E at least as wide as
    the first convolution's rows and as D (an inverted bottleneck: ZenNet's K1KXK1 units meet
    this way, unit to unit; a 3x3 stem feeding a 1x1) by one "expand" step, so the E-wide
    middle never reaches memory (zsnas.ops.expand_bn_contract_train)."""
    out, i = [], 0
    while i < len(steps):
        window = steps[i:i + 3]
        if len(window) == 3 and [w[0] for w in window] == ["call", "bn", "call"]:
            conv_a, bn, conv_b = (w[1] for w in window)
            rows = _expansion_rows(conv_a)
            if rows is not None and _is_plain_1x1(conv_b) and conv_b.in_channels == conv_a.out_channels:
                e, d = conv_a.out_channels, conv_b.out_channels
                if e >= max(rows, d) and (rows + d) * e <= _EXPAND_MAX_WEIGHTS:
                    out.append(("expand", (conv_a, bn, conv_b), window[1][2]))
                    i += 3
                    continue
        out.append(steps[i])
        i += 1
    return out


def _deepcopy_model(model: nn.Module, who: str) -> nn.Module:
    try:
        return copy.deepcopy(model)
    except Exception as e:  # e.g. a module holding an object that cannot be copied
        raise ValueError(
            f"{who}: cannot deep-copy {type(model).__name__} ({e}); pass a builder, or "
            "copy_model=False to let the proxy re-initialise this model in place"
        ) from e


def _resolve_model(model_or_builder, copy_model: bool = True) -> nn.Module:
    if isinstance(model_or_builder, nn.Module):
        return _deepcopy_model(model_or_builder, "zen_score") if copy_model else model_or_builder
    if callable(model_or_builder):
        model = model_or_builder(residual=False)
        if not isinstance(model, nn.Module):
            raise ValueError(f"zen_score: the builder returned {type(model).__name__}, not an nn.Module")
        return model
    raise ValueError(
        f"zen_score expects an nn.Module or a builder build(residual=...), got {type(model_or_builder).__name__}"
    )


def zen_score(
    model_or_builder: Union[nn.Module, Callable[..., nn.Module]],
    *,
    resolution: int = 224,
    batch_size: int = 16,
    repeats: int = 1,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    alpha: float = ALPHA,
    generator: Optional[torch.Generator] = None,
    init: bool = True,
    inputs: Optional[Sequence[Tuple[torch.Tensor, torch.Tensor]]] = None,
    in_channels: int = 3,
    dtype: torch.dtype = torch.float32,
    channels_last: Optional[bool] = None,
    copy_model: bool = True,
    progress: Optional[Callable[[int], None]] = None,
) -> ProxyResult:
    """Zen-score of one network (REFERENCE.md §3).

    Args:
        model_or_builder: a builder ``build(residual=False) -> nn.Module`` (called once), or an
            ``nn.Module`` (used as given: pass one built without residual links; deep-copied
            unless ``copy_model=False``, then it is re-initialised and converted in place).
            It must have ``forward_pre_gap``.
        resolution, batch_size, in_channels: input shape [B, in_channels, R, R].
        repeats: independent draws (fresh weights and inputs) averaged.
        seed / generator: all randomness comes from ``generator`` (default: a CPU-or-device
            generator seeded with ``seed``); the global RNG is never touched.
        init: re-initialise the weights (Zen-NAS Gaussian init) at every repeat. With
            ``init=False`` the model's own weights are used (tests set them).
        inputs: explicit ``[(x, eps), ...]`` per repeat instead of drawing them.
        dtype: float32 (the method) or float64 (for reference checks).
        channels_last: run in channels_last memory format; default: on CPU only.
        progress: called with 1 after each repeat (a progress display for long scoring).

    Returns a ProxyResult with ``value`` = mean score and sub-scores ``delta_log``,
    ``bn_log_sum`` (means over repeats), ``std``, ``repeat_<k>`` and ``bn_layers``.
    """
    device = torch.device(device)
    repeats = int(repeats)
    if inputs is not None:
        inputs = list(inputs)
        repeats = len(inputs)
    if repeats < 1:
        raise ValueError(f"zen_score: repeats must be >= 1, got {repeats}")
    if inputs is None and (int(batch_size) < 1 or int(resolution) < 1):
        raise ValueError(f"zen_score: batch_size and resolution must be >= 1, got {batch_size}, {resolution}")
    model = _resolve_model(model_or_builder, copy_model)
    if not hasattr(model, "forward_pre_gap"):
        raise ValueError(f"zen_score: {type(model).__name__} has no forward_pre_gap (the zsnas model contract)")
    if not any(isinstance(m, _BatchNorm) for m in model.modules()):
        # without BN, Zen-score degenerates to ln Δ of an unnormalised network: not Zen-NAS's score
        raise ValueError(f"zen_score: {type(model).__name__} has no BatchNorm layer; Zen-score (ln Δ + Σ ln σ_BN) "
                         "is defined on BN networks (a ViT has LayerNorm): score it with 'phi', 'naswot' or the az "
                         "proxies instead")
    if channels_last is None:
        channels_last = device.type == "cpu"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, dtype=dtype).to(memory_format=fmt)
    model.train()
    if generator is None:
        generator = torch.Generator(device=device)
        generator.manual_seed(int(seed))

    fused = None
    if _fused_bn_relu_ is not None and dtype == torch.float32 and (
            device.type == "cpu" or (device.type == "cuda" and _CUDA_KERNELS)):
        # the expand kernel: CPU with AVX2+FMA, channels_last (what it reads and writes)
        fused = _FusedForward.plan(model, expand=device.type == "cpu" and channels_last and _EXPAND_SIMD)
    recorder = _BNVarianceRecorder(model)
    if fused is not None:
        recorder.remove()  # the fused path reads the variances from its BN kernel
    scores, delta_logs, bn_sums = [], [], []
    degenerate = 0
    try:
        with strict_fp32(), torch.no_grad():
            for r in range(repeats):
                if init:
                    gaussian_init_(model, generator)
                if inputs is not None:
                    x, eps = (t.to(device=device, dtype=dtype) for t in inputs[r])
                else:
                    shape = (int(batch_size), int(in_channels), int(resolution), int(resolution))
                    x = torch.randn(shape, generator=generator, device=device, dtype=dtype)
                    eps = torch.randn(shape, generator=generator, device=device, dtype=dtype)
                x_mix = torch.add(x, eps, alpha=alpha)
                x = x.contiguous(memory_format=fmt)
                x_mix = x_mix.contiguous(memory_format=fmt)

                if fused is not None:
                    f_x, bn_vars = fused(x)
                    variances = [float(v.mean()) for v in bn_vars]
                    f_mix, _ = fused(x_mix)
                else:
                    recorder.arm()
                    try:
                        f_x = model.forward_pre_gap(x)
                    finally:
                        variances = recorder.disarm()
                    f_mix = model.forward_pre_gap(x_mix)

                delta = float(_per_sample_l1(f_x, f_mix).mean())
                delta_log = math.log(delta) if delta > 0 else -math.inf
                bn_sum = sum(0.5 * math.log(v) if v > 0 else -math.inf for v in variances)
                if math.isnan(delta) or any(math.isnan(v) for v in variances):
                    raise FloatingPointError(
                        f"zen_score: NaN in repeat {r} (Delta={delta}); the network overflows in {dtype}"
                    )
                if delta_log == -math.inf or bn_sum == -math.inf:
                    degenerate += 1
                delta_logs.append(delta_log)
                bn_sums.append(bn_sum)
                scores.append(delta_log + bn_sum)
                if progress is not None:
                    progress(1)
    finally:
        recorder.remove()

    finite = [s for s in scores if math.isfinite(s)]
    mean_f = sum(finite) / len(finite) if finite else 0.0
    std = math.sqrt(sum((s - mean_f) ** 2 for s in finite) / len(finite)) if len(finite) >= 2 else 0.0
    value = sum(scores) / len(scores) if len(finite) == len(scores) else -math.inf
    sub = {
        "delta_log": _mean_or_neg_inf(delta_logs),
        "bn_log_sum": _mean_or_neg_inf(bn_sums),
        "std": std,
        "bn_layers": float(len(recorder.bns)),
    }
    sub.update({f"repeat_{k}": s for k, s in enumerate(scores)})
    return ProxyResult(name="zen", value=value, sub_scores=sub, degenerate=degenerate)


def _mean_or_neg_inf(values: Iterable[float]) -> float:
    values = list(values)
    return -math.inf if any(v == -math.inf for v in values) else sum(values) / len(values)


def vanilla_builder(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """build(residual=...) whose network is made vanilla (SE removed, ReLU only) before use."""
    from ..nn.vanilla import vanilla_

    def vanilla_build(residual: bool = False) -> nn.Module:
        model = build(residual=residual)
        vanilla_(model)
        return model

    return vanilla_build


@register_proxy("zen", needs_residual=False, description="Zen-score (Zen-NAS): ln Delta + sum ln sigma_BN, no residuals (higher is better)")
def zen_proxy(ctx: ProxyContext) -> ProxyResult:
    """Zen-score on the vanilla network (ctx.build(residual=False), SE removed, activations
    ReLU: zsnas.nn.vanilla): B=ctx.batch_size, ctx.repeats draws, ctx seed."""
    return zen_score(
        vanilla_builder(ctx.build),
        resolution=ctx.resolution,
        batch_size=ctx.batch_size,
        repeats=ctx.repeats,
        device=ctx.device,
        generator=ctx.generator(salt=0x2E4),
        in_channels=ctx.in_channels,
        progress=ctx.progress,
    )
