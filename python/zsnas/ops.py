"""Torch ops over the compiled kernels in zsnas._kernels (raw pointers + stream handle).

Each op has: the custom op (dispatching to the CPU or CUDA kernel), its fake implementation
for torch.compile, and a pure-torch reference beside it that tests compare against. Ops that
the proxies call hundreds of times per network also exist as ``*_eager`` functions: the same
code without the custom-op dispatcher, which costs ~60 us a call (a ZenNet Zen-score makes
196 batch-norm calls). The custom op wraps exactly that function.
"""
from __future__ import annotations

import contextlib

from typing import Optional, Tuple

import torch

from . import _kernels

CUDA_COMPILED = bool(_kernels.cuda_compiled)
# Whether expand_bn_contract_train's kernel has its AVX2+FMA path on this CPU (without it the
# plain-loop twin is slower than oneDNN's convolutions, so callers do not fuse).
EXPAND_SIMD = bool(_kernels.expand_contract_simd())


def abs_diff_sum_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Σ over every non-batch dim of |a − b|, per sample, in float64."""
    return (a.double() - b.double()).abs().flatten(1).sum(1)


@torch.library.custom_op("zsnas::abs_diff_sum", mutates_args=())
def abs_diff_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample L1 distance Σ_{c,h,w} |a − b| → float64 [B] (Zen-score's Δ before the mean).

    float32 inputs on CPU, or on CUDA when the CUDA kernels were compiled, take the fused
    kernel; anything else takes the pure-torch reference. No autograd (Zen-score needs none).
    """
    if a.shape != b.shape:
        raise ValueError(f"abs_diff_sum: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"abs_diff_sum: devices differ, {a.device} vs {b.device}")
    if a.dim() == 0:
        raise ValueError("abs_diff_sum: inputs need a batch dimension")
    fused = a.dtype == torch.float32 and b.dtype == torch.float32 and (
        a.device.type == "cpu" or (a.device.type == "cuda" and CUDA_COMPILED))
    if not fused:
        return abs_diff_sum_reference(a, b)
    a = a.contiguous()
    b = b.contiguous()
    rows = a.shape[0]
    cols = a.numel() // rows if rows else 0
    out = torch.empty(rows, dtype=torch.float64, device=a.device)
    if a.device.type == "cpu":
        _kernels.abs_diff_sum_cpu(a.data_ptr(), b.data_ptr(), out.data_ptr(), rows, cols)
    else:
        with torch.cuda.device(a.device):
            stream = torch.cuda.current_stream(a.device).cuda_stream
            _kernels.abs_diff_sum_cuda(a.data_ptr(), b.data_ptr(), out.data_ptr(), rows, cols, stream)
    return out


@abs_diff_sum.register_fake
def _abs_diff_sum_fake(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.new_empty((a.shape[0],), dtype=torch.float64)


def batch_norm_relu_train_reference(x: torch.Tensor, weight, bias, eps: float, relu: bool):
    """(y, mean, var): training-mode batch norm over every dim but 1, then ReLU when ``relu``;
    mean and biased variance per channel in float64, y = (x − mean)/sqrt(var + eps)·γ + β."""
    dims = [d for d in range(x.dim()) if d != 1]
    x64 = x.double()
    mean = x64.mean(dim=dims)
    var = x64.var(dim=dims, correction=0)
    shape = [1, -1] + [1] * (x.dim() - 2)
    y = (x64 - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    if weight is not None:
        y = y * weight.double().view(shape)
    if bias is not None:
        y = y + bias.double().view(shape)
    if relu:
        y = torch.relu(y)
    return y.to(x.dtype), mean, var


def _bn_layout(x: torch.Tensor):
    """(outer, C, inner) when x's memory is [outer, C, inner]-contiguous, else None."""
    c = x.shape[1]
    if x.is_contiguous():
        return x.shape[0], c, x.numel() // (x.shape[0] * c) if x.shape[0] * c else 0
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x.numel() // c if c else 0, c, 1
    return None


def _check_bn_args(who: str, x: torch.Tensor, weight: Optional[torch.Tensor], bias: Optional[torch.Tensor]) -> None:
    if x.dim() < 2 or x.shape[1] == 0:
        raise ValueError(f"{who}: x needs [N, C, ...] with C >= 1, got shape {tuple(x.shape)}")
    c = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.shape != (c,) or t.device != x.device):
            raise ValueError(f"{who}: {name} must be [{c}] on {x.device}, got {tuple(t.shape)} on {t.device}")


def _bn_kernel_layout(x: torch.Tensor, *others: Optional[torch.Tensor]):
    """x's (outer, C, inner) when the compiled kernels take x (float32, NCHW- or channels_last-
    contiguous, CPU or compiled CUDA) and every other tensor (float32 or None); else None."""
    if x.dtype != torch.float32 or any(t is not None and t.dtype != torch.float32 for t in others):
        return None
    if not (x.device.type == "cpu" or (x.device.type == "cuda" and CUDA_COMPILED)):
        return None
    return _bn_layout(x)


def _stream(t: torch.Tensor) -> int:
    return torch.cuda.current_stream(t.device).cuda_stream


def _ptr(t: Optional[torch.Tensor]) -> int:
    return t.data_ptr() if t is not None else 0


def _bn_forward_into(x: torch.Tensor, y: torch.Tensor, weight, bias, eps: float, relu: bool, layout):
    """The forward kernel from x into y (same layout; may be x): per-channel float64 mean, var."""
    outer, c, inner = layout
    mean = torch.empty(c, dtype=torch.float64, device=x.device)
    var = torch.empty(c, dtype=torch.float64, device=x.device)
    w = weight.contiguous() if weight is not None else None
    b = bias.contiguous() if bias is not None else None
    if x.device.type == "cpu":
        _kernels.batch_norm_relu_train_cpu(x.data_ptr(), y.data_ptr(), _ptr(w), _ptr(b), mean.data_ptr(),
                                           var.data_ptr(), outer, c, inner, float(eps), bool(relu))
    else:
        work = torch.empty(2 * c, dtype=torch.float32, device=x.device)
        with torch.cuda.device(x.device):
            _kernels.batch_norm_relu_train_cuda(x.data_ptr(), y.data_ptr(), _ptr(w), _ptr(b), mean.data_ptr(),
                                                var.data_ptr(), work.data_ptr(), outer, c, inner, float(eps),
                                                bool(relu), _stream(x))
    return mean, var


def batch_norm_relu_train_eager_(x: torch.Tensor, weight: Optional[torch.Tensor], bias: Optional[torch.Tensor],
                                 eps: float, relu: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """In place: x ← ReLU(BN_train(x)) (ReLU only when ``relu``); returns the per-channel batch
    mean and biased variance (float64 [C]) BN normalised with.

    Fused kernel (one statistics pass, one in-place apply pass) for float32 x on CPU, or on CUDA
    when compiled, in NCHW- or channels_last-contiguous memory; anything else takes the
    pure-torch reference. No running statistics are updated and there is no autograd: it is
    for forward-only uses (Zen-score; batch_norm_train is the differentiable one)."""
    _check_bn_args("batch_norm_relu_train_", x, weight, bias)
    layout = _bn_kernel_layout(x, weight, bias)
    if layout is None:
        y, mean, var = batch_norm_relu_train_reference(x, weight, bias, eps, relu)
        x.copy_(y)
        return mean, var
    return _bn_forward_into(x, x, weight, bias, eps, relu, layout)


batch_norm_relu_train_ = torch.library.custom_op("zsnas::batch_norm_relu_train_", mutates_args=("x",))(
    batch_norm_relu_train_eager_)


@batch_norm_relu_train_.register_fake
def _batch_norm_relu_train_fake(x, weight, bias, eps, relu):
    c = x.shape[1]
    return x.new_empty((c,), dtype=torch.float64), x.new_empty((c,), dtype=torch.float64)


def batch_norm_train_backward_reference(g: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
                                        weight: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """dL/dx of training-mode batch norm (no ReLU) in float64, from dL/dy ``g``, the input and
    the batch mean / biased variance: gamma*r * (g - mean(g) - xhat * mean(g * xhat)),
    xhat = (x - mean) * r, r = 1/sqrt(var + eps), means per channel."""
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    r = 1.0 / torch.sqrt(var.double().view(shape) + eps)
    xhat = (x.double() - mean.double().view(shape)) * r
    g64 = g.double()
    dx = g64 - g64.mean(dim=dims, keepdim=True) - xhat * (g64 * xhat).mean(dim=dims, keepdim=True)
    k = r if weight is None else r * weight.double().view(shape)
    return (k * dx).to(x.dtype)


def batch_norm_train_backward_eager(g: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
                                    weight: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """Input gradient of training-mode batch norm (see the reference): two passes over g and x
    in the compiled kernels (float32 CPU, or compiled CUDA; g is brought to x's layout),
    the reference otherwise."""
    _check_bn_args("batch_norm_train_backward", x, weight, None)
    if g.shape != x.shape:
        raise ValueError(f"batch_norm_train_backward: g has shape {tuple(g.shape)}, x {tuple(x.shape)}")
    layout = _bn_kernel_layout(x, g, weight)
    if layout is None:
        return batch_norm_train_backward_reference(g, x, mean, var, weight, eps)
    outer, c, inner = layout
    if inner == 1 and x.dim() == 4 and not x.is_contiguous():
        g = g.contiguous(memory_format=torch.channels_last)
    else:
        g = g.contiguous()
    mean = mean.to(dtype=torch.float64).contiguous()
    var = var.to(dtype=torch.float64).contiguous()
    w = weight.contiguous() if weight is not None else None
    dx = torch.empty_like(x)
    if x.device.type == "cpu":
        _kernels.batch_norm_train_backward_cpu(g.data_ptr(), x.data_ptr(), mean.data_ptr(), var.data_ptr(), _ptr(w),
                                               dx.data_ptr(), outer, c, inner, float(eps))
    else:
        work = torch.empty(3 * c, dtype=torch.float32, device=x.device)
        with torch.cuda.device(x.device):
            _kernels.batch_norm_train_backward_cuda(g.data_ptr(), x.data_ptr(), mean.data_ptr(), var.data_ptr(),
                                                    _ptr(w), dx.data_ptr(), work.data_ptr(), outer, c, inner,
                                                    float(eps), _stream(x))
    return dx


batch_norm_train_backward = torch.library.custom_op("zsnas::batch_norm_train_backward", mutates_args=())(
    batch_norm_train_backward_eager)


@batch_norm_train_backward.register_fake
def _batch_norm_train_backward_fake(g, x, mean, var, weight, eps):
    return torch.empty_like(x)


_TORCH_OPS_ONLY = [0]


@contextlib.contextmanager
def torch_ops_only():
    """Run the differentiable ops below through torch's own, for graphs that functorch
    transforms or batched backwards (``is_grads_batched``: per-sample gradients) will see; the
    compiled kernels' autograd Functions have no batching rules."""
    _TORCH_OPS_ONLY[0] += 1
    try:
        yield
    finally:
        _TORCH_OPS_ONLY[0] -= 1


def _kernels_allowed() -> bool:
    return not _TORCH_OPS_ONLY[0] and not torch._C._are_functorch_transforms_active()


class _BatchNormTrain(torch.autograd.Function):
    """Training-mode BN differentiable in x only (the kernels above, forward and backward)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps, layout):
        y = torch.empty_like(x)
        mean, var = _bn_forward_into(x, y, weight, bias, eps, False, layout)
        ctx.save_for_backward(x, mean, var, weight)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, g):
        x, mean, var, weight = ctx.saved_tensors
        return batch_norm_train_backward_eager(g, x, mean, var, weight, ctx.eps), None, None, None, None


def batch_norm_train(x: torch.Tensor, weight: Optional[torch.Tensor], bias: Optional[torch.Tensor],
                     eps: float) -> torch.Tensor:
    """Training-mode batch norm (batch statistics, running statistics untouched), differentiable
    in x, through the compiled kernels: on CPU 1.3-2.5x faster than torch's channels_last BN,
    forward and backward, for the 16-64-channel maps of NB201 cells. Falls back to
    F.batch_norm when the kernels do not take x, or weight/bias need gradients."""
    _check_bn_args("batch_norm_train", x, weight, bias)
    layout = _bn_kernel_layout(x, weight, bias)
    if layout is None or any(t is not None and t.requires_grad for t in (weight, bias)) or not _kernels_allowed():
        return torch.nn.functional.batch_norm(x, None, None, weight, bias, True, 0.0, eps)
    return _BatchNormTrain.apply(x, weight, bias, float(eps), layout)


def expand_bn_contract_train_reference(x: torch.Tensor, w1: torch.Tensor, weight: Optional[torch.Tensor],
                                       bias: Optional[torch.Tensor], eps: float, w2: torch.Tensor, relu: bool,
                                       stride: int = 1, padding: int = 0):
    """(y, mid_mean, mid_var) in float64: conv(w1, stride, padding) -> training-mode BN -> ReLU
    when ``relu`` -> conv1x1(w2); the middle's per-channel batch mean and biased variance."""
    mid = torch.nn.functional.conv2d(x.double(), w1.double(), stride=stride, padding=padding)
    h, mean, var = batch_norm_relu_train_reference(mid, weight, bias, eps, relu)
    return torch.nn.functional.conv2d(h, w2.double()), mean, var


def _check_expand_args(x: torch.Tensor, w1: torch.Tensor, weight, bias, w2: torch.Tensor, stride: int,
                       padding: int) -> None:
    who = "expand_bn_contract_train"
    if x.dim() != 4:
        raise ValueError(f"{who}: x must be [N, C, H, W], got shape {tuple(x.shape)}")
    c = x.shape[1]
    if w1.dim() != 4 or w1.shape[1] != c or w1.shape[2] != w1.shape[3]:
        raise ValueError(f"{who}: w1 must be a square convolution weight [E, {c}, k, k], got {tuple(w1.shape)}")
    e = w1.shape[0]
    if w2.dim() != 4 or tuple(w2.shape[1:]) != (e, 1, 1):
        raise ValueError(f"{who}: w2 must be a 1x1 convolution weight [D, {e}, 1, 1], got {tuple(w2.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (e,):
            raise ValueError(f"{who}: BN {name} must be [{e}], got {tuple(t.shape)}")
    k = w1.shape[2]
    if stride < 1 or padding < 0 or min(x.shape[2], x.shape[3]) + 2 * padding < k:
        raise ValueError(f"{who}: a {k}x{k} convolution with stride {stride}, padding {padding} does not fit "
                         f"a {x.shape[2]}x{x.shape[3]} input")


def _conv_out(h: int, w: int, k: int, stride: int, padding: int) -> Tuple[int, int]:
    return (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1


def _expand_kernel_takes(x: torch.Tensor, *others: Optional[torch.Tensor]) -> bool:
    """float32 channels_last 4-D x on CPU, every other tensor float32 on CPU (or None)."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last)
            and all(t is None or (t.dtype == torch.float32 and t.device.type == "cpu") for t in others))


def expand_bn_contract_fusable(x: torch.Tensor) -> bool:
    """Whether expand_bn_contract_train_eager runs its fast kernel on x: float32 channels_last
    on a CPU with AVX2+FMA (EXPAND_SIMD)."""
    return _expand_kernel_takes(x) and EXPAND_SIMD


def expand_bn_contract_train_eager(x: torch.Tensor, w1: torch.Tensor, weight: Optional[torch.Tensor],
                                   bias: Optional[torch.Tensor], eps: float, w2: torch.Tensor, relu: bool,
                                   stride: int = 1, padding: int = 0,
                                   portable: bool = False) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """conv(w1 [E, C, k, k], stride, zero padding) -> training-mode BN(weight, bias, eps) -> ReLU
    (when ``relu``) -> conv1x1(w2 [D, E, 1, 1]) of x [N, C, H, W], without bias terms:
    (y [N, D, Ho, Wo], mid_mean [E], mid_var [E]), the middle's float64 batch mean and biased
    variance (what BN normalised with).

    The fused CPU kernel never stores the E-wide middle: its statistics follow from the input
    rows' mean and covariance (mean = w1 mu, var = w1 Sigma w1^T; a row is a pixel's C channels
    for a 1x1 w1, its k*k*C patch for a KxK one), then each tile of pixels goes through both
    convolutions in cache. Worth it when E is wider than the rows and than D (an inverted
    bottleneck, a stem). It takes float32 channels_last x on CPU (y comes back channels_last);
    anything else runs the pure-torch reference in float64 and returns y in x's dtype.
    ``portable`` forces the kernel's plain-loop path (tests). No autograd, no running stats."""
    stride, padding = int(stride), int(padding)
    _check_expand_args(x, w1, weight, bias, w2, stride, padding)
    if not _expand_kernel_takes(x, w1, weight, bias, w2):
        y, mean, var = expand_bn_contract_train_reference(x, w1, weight, bias, eps, w2, relu, stride, padding)
        return y.to(x.dtype), mean, var
    n, c, h, w = x.shape
    e, k, d = w1.shape[0], w1.shape[2], w2.shape[0]
    ho, wo = _conv_out(h, w, k, stride, padding)
    w1c, w2c = w1.contiguous(), w2.reshape(d, e).contiguous()
    wc = weight.contiguous() if weight is not None else None
    bc = bias.contiguous() if bias is not None else None
    y = torch.empty((n, d, ho, wo), dtype=torch.float32, memory_format=torch.channels_last)
    mean = torch.empty(e, dtype=torch.float64)
    var = torch.empty(e, dtype=torch.float64)
    _kernels.expand_bn_contract_train_cpu(x.data_ptr(), w1c.data_ptr(), _ptr(wc), _ptr(bc), float(eps), w2c.data_ptr(),
                                          y.data_ptr(), mean.data_ptr(), var.data_ptr(), n, h, w, c, k, stride,
                                          padding, e, d, bool(relu), torch.get_num_threads(), bool(portable))
    return y, mean, var


expand_bn_contract_train = torch.library.custom_op("zsnas::expand_bn_contract_train", mutates_args=())(
    expand_bn_contract_train_eager)


@expand_bn_contract_train.register_fake
def _expand_bn_contract_train_fake(x, w1, weight, bias, eps, w2, relu, stride=1, padding=0, portable=False):
    n, _, h, w = x.shape
    e, k, d = w1.shape[0], w1.shape[2], w2.shape[0]
    ho, wo = _conv_out(h, w, k, stride, padding)
    y = x.new_empty((n, d, ho, wo)).contiguous(memory_format=torch.channels_last)
    return y, x.new_empty((e,), dtype=torch.float64), x.new_empty((e,), dtype=torch.float64)


def box_mean3x3_reference(x: torch.Tensor, count_include_pad: bool, transpose: bool = False) -> torch.Tensor:
    """AvgPool2d(3, stride 1, padding 1) of x, or with ``transpose`` its adjoint applied to x
    (the input gradient for output gradient x), through torch's avg_pool2d."""
    if not transpose:
        return torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=count_include_pad)
    probe = torch.zeros_like(x, requires_grad=True)
    with torch.enable_grad():
        y = torch.nn.functional.avg_pool2d(probe, 3, 1, 1, count_include_pad=count_include_pad)
        return torch.autograd.grad(y, probe, x)[0]


def _box_layout(x: torch.Tensor) -> Optional[bool]:
    """True (channels_last) / False (NCHW) when the box kernels take x, else None."""
    if x.dim() != 4 or x.dtype != torch.float32:
        return None
    if not (x.device.type == "cpu" or (x.device.type == "cuda" and CUDA_COMPILED)):
        return None
    if x.is_contiguous():
        return False
    return True if x.is_contiguous(memory_format=torch.channels_last) else None


def box_mean3x3_eager(x: torch.Tensor, count_include_pad: bool, transpose: bool = False) -> torch.Tensor:
    """NAS-Bench-201's avg_pool_3x3 (AvgPool2d(3, 1, 1)) of a [N, C, H, W] tensor, or with
    ``transpose`` its adjoint (what the backward applies to the output gradient).

    Separable kernel, one pass over the input and one over the output, for float32 NCHW- or
    channels_last-contiguous x on CPU (or compiled CUDA); the result keeps x's layout. Other
    inputs take the reference."""
    if x.dim() != 4:
        raise ValueError(f"box_mean3x3: x must be [N, C, H, W], got shape {tuple(x.shape)}")
    cl = _box_layout(x)
    if cl is None:
        return box_mean3x3_reference(x, count_include_pad, transpose)
    out = torch.empty_like(x)
    n, c, h, w = x.shape
    if x.device.type == "cpu":
        _kernels.box_mean3x3_cpu(x.data_ptr(), out.data_ptr(), n, c, h, w, cl, bool(count_include_pad),
                                 bool(transpose))
    else:
        with torch.cuda.device(x.device):
            _kernels.box_mean3x3_cuda(x.data_ptr(), out.data_ptr(), n, c, h, w, cl, bool(count_include_pad),
                                      bool(transpose), _stream(x))
    return out


box_mean3x3_op = torch.library.custom_op("zsnas::box_mean3x3", mutates_args=())(box_mean3x3_eager)


@box_mean3x3_op.register_fake
def _box_mean3x3_fake(x, count_include_pad, transpose=False):
    return torch.empty_like(x)


class _BoxMean3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, count_include_pad):
        ctx.count_include_pad = count_include_pad
        ctx.layout = torch.channels_last if _box_layout(x) else torch.contiguous_format
        return box_mean3x3_eager(x, count_include_pad)

    @staticmethod
    def backward(ctx, g):
        g = g.contiguous(memory_format=ctx.layout)
        return box_mean3x3_eager(g, ctx.count_include_pad, transpose=True), None


def box_mean3x3(x: torch.Tensor, count_include_pad: bool) -> torch.Tensor:
    """Differentiable AvgPool2d(3, 1, 1) through the box kernels (see box_mean3x3_eager); on CPU
    2-5x faster than avg_pool2d on channels_last maps (most on large 16-channel ones), forward
    and backward."""
    if _box_layout(x) is None or not _kernels_allowed():
        return torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=count_include_pad)
    return _BoxMean3x3.apply(x, bool(count_include_pad))


def rademacher_from_words_reference(words: torch.Tensor, n: int) -> torch.Tensor:
    """float32 [n]: sign i is bit (i % 32) of words[i // 32] (LSB first), 1 -> +1, 0 -> -1."""
    bits = torch.bitwise_and(torch.bitwise_right_shift(
        words.to(torch.int64).view(-1, 1), torch.arange(32, device=words.device)), 1)
    return (bits * 2 - 1).to(torch.float32).view(-1)[:n].clone()


def rademacher_from_words_eager(words: torch.Tensor, n: int) -> torch.Tensor:
    """Unpack random 32-bit words (int32, >= ceil(n/32) of them) into n float32 signs +-1.

    AZ-NAS draws its trainability probes this way: the words come from the caller's torch
    generator (so a seed fixes the probe), the kernel writes 32 signs per word. CPU, or CUDA
    when compiled; anything else takes the pure-torch reference."""
    if words.dtype != torch.int32 or words.dim() != 1:
        raise ValueError(f"rademacher_from_words: words must be a 1-D int32 tensor, got {words.dtype} "
                         f"of shape {tuple(words.shape)}")
    if n < 0 or words.numel() * 32 < n:
        raise ValueError(f"rademacher_from_words: {words.numel()} words hold {words.numel() * 32} signs, "
                         f"{n} asked")
    fused = words.device.type == "cpu" or (words.device.type == "cuda" and CUDA_COMPILED)
    if not fused:
        return rademacher_from_words_reference(words, n)
    words = words.contiguous()
    out = torch.empty(n, dtype=torch.float32, device=words.device)
    if words.device.type == "cpu":
        _kernels.rademacher_from_words_cpu(words.data_ptr(), out.data_ptr(), n)
    else:
        with torch.cuda.device(words.device):
            stream = torch.cuda.current_stream(words.device).cuda_stream
            _kernels.rademacher_from_words_cuda(words.data_ptr(), out.data_ptr(), n, stream)
    return out


rademacher_from_words = torch.library.custom_op("zsnas::rademacher_from_words", mutates_args=())(
    rademacher_from_words_eager)


@rademacher_from_words.register_fake
def _rademacher_from_words_fake(words: torch.Tensor, n: int) -> torch.Tensor:
    return words.new_empty((n,), dtype=torch.float32)
