# Generated: pybind11-stubgen zsnas._kernels -o /tmp/stubs (regenerate after changing csrc/bindings)
"""
zsnas fused numeric kernels over raw buffers (CPU and, when compiled, CUDA)
"""
from __future__ import annotations
import typing
__all__: list[str] = ['abs_diff_sum_cpu', 'abs_diff_sum_cuda', 'batch_norm_relu_train_cpu', 'batch_norm_relu_train_cuda', 'batch_norm_train_backward_cpu', 'batch_norm_train_backward_cuda', 'box_mean3x3_cpu', 'box_mean3x3_cuda', 'cuda_archs', 'cuda_compiled', 'expand_bn_contract_train_cpu', 'expand_contract_simd', 'rademacher_from_words_cpu', 'rademacher_from_words_cuda']
def abs_diff_sum_cpu(a: typing.SupportsInt | typing.SupportsIndex, b: typing.SupportsInt | typing.SupportsIndex, out: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex, cols: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    out[i] = sum_j |a[i,j]-b[i,j]| for contiguous float32 a, b (rows x cols) into float64 out
    """
def abs_diff_sum_cuda(a: typing.SupportsInt | typing.SupportsIndex, b: typing.SupportsInt | typing.SupportsIndex, out: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex, cols: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    CUDA twin of abs_diff_sum_cpu; device pointers and a cudaStream_t handle
    """
def batch_norm_relu_train_cpu(x: typing.SupportsInt | typing.SupportsIndex, y: typing.SupportsInt | typing.SupportsIndex, gamma: typing.SupportsInt | typing.SupportsIndex, beta: typing.SupportsInt | typing.SupportsIndex, mean: typing.SupportsInt | typing.SupportsIndex, var: typing.SupportsInt | typing.SupportsIndex, outer: typing.SupportsInt | typing.SupportsIndex, channels: typing.SupportsInt | typing.SupportsIndex, inner: typing.SupportsInt | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, relu: bool) -> None:
    """
    training-mode batch norm (+ReLU) of contiguous float32 x seen as [outer, channels, inner] into y (may be x); gamma/beta 0 = no affine; float64 batch mean and biased variance into mean/var
    """
def batch_norm_relu_train_cuda(x: typing.SupportsInt | typing.SupportsIndex, y: typing.SupportsInt | typing.SupportsIndex, gamma: typing.SupportsInt | typing.SupportsIndex, beta: typing.SupportsInt | typing.SupportsIndex, mean: typing.SupportsInt | typing.SupportsIndex, var: typing.SupportsInt | typing.SupportsIndex, workspace: typing.SupportsInt | typing.SupportsIndex, outer: typing.SupportsInt | typing.SupportsIndex, channels: typing.SupportsInt | typing.SupportsIndex, inner: typing.SupportsInt | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, relu: bool, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    CUDA twin of batch_norm_relu_train_cpu; workspace = 2*channels device floats
    """
def batch_norm_train_backward_cpu(g: typing.SupportsInt | typing.SupportsIndex, x: typing.SupportsInt | typing.SupportsIndex, mean: typing.SupportsInt | typing.SupportsIndex, var: typing.SupportsInt | typing.SupportsIndex, gamma: typing.SupportsInt | typing.SupportsIndex, dx: typing.SupportsInt | typing.SupportsIndex, outer: typing.SupportsInt | typing.SupportsIndex, channels: typing.SupportsInt | typing.SupportsIndex, inner: typing.SupportsInt | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex) -> None:
    """
    input gradient of training-mode batch norm: dx from dL/dy g, input x and the forward's float64 mean/var; gamma 0 = no affine; dx a separate buffer
    """
def batch_norm_train_backward_cuda(g: typing.SupportsInt | typing.SupportsIndex, x: typing.SupportsInt | typing.SupportsIndex, mean: typing.SupportsInt | typing.SupportsIndex, var: typing.SupportsInt | typing.SupportsIndex, gamma: typing.SupportsInt | typing.SupportsIndex, dx: typing.SupportsInt | typing.SupportsIndex, workspace: typing.SupportsInt | typing.SupportsIndex, outer: typing.SupportsInt | typing.SupportsIndex, channels: typing.SupportsInt | typing.SupportsIndex, inner: typing.SupportsInt | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    CUDA twin of batch_norm_train_backward_cpu; workspace = 3*channels device floats
    """
def box_mean3x3_cpu(x: typing.SupportsInt | typing.SupportsIndex, out: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, c: typing.SupportsInt | typing.SupportsIndex, h: typing.SupportsInt | typing.SupportsIndex, w: typing.SupportsInt | typing.SupportsIndex, channels_last: bool, include_pad: bool, transpose: bool) -> None:
    """
    3x3 box mean (AvgPool2d(3,1,1)) of float32 [n,c,h,w] (NCHW or NHWC memory) into out, or its transpose (the input gradient) when transpose
    """
def box_mean3x3_cuda(x: typing.SupportsInt | typing.SupportsIndex, out: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, c: typing.SupportsInt | typing.SupportsIndex, h: typing.SupportsInt | typing.SupportsIndex, w: typing.SupportsInt | typing.SupportsIndex, channels_last: bool, include_pad: bool, transpose: bool, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    CUDA twin of box_mean3x3_cpu; device pointers and a cudaStream_t handle
    """
def expand_bn_contract_train_cpu(x: typing.SupportsInt | typing.SupportsIndex, w1: typing.SupportsInt | typing.SupportsIndex, gamma: typing.SupportsInt | typing.SupportsIndex, beta: typing.SupportsInt | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, w2: typing.SupportsInt | typing.SupportsIndex, y: typing.SupportsInt | typing.SupportsIndex, mid_mean: typing.SupportsInt | typing.SupportsIndex, mid_var: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, h: typing.SupportsInt | typing.SupportsIndex, w: typing.SupportsInt | typing.SupportsIndex, cin: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, stride: typing.SupportsInt | typing.SupportsIndex, pad: typing.SupportsInt | typing.SupportsIndex, e: typing.SupportsInt | typing.SupportsIndex, d: typing.SupportsInt | typing.SupportsIndex, relu: bool, threads: typing.SupportsInt | typing.SupportsIndex, portable: bool) -> None:
    """
    y [n,ho,wo,d] = conv1x1(w2 [d,e]) of ReLU(BN_train(conv(w1 [e,cin,k,k], stride, pad) of NHWC float32 x [n,h,w,cin])), the e-wide middle never stored; its float64 batch mean/biased variance into mid_mean/mid_var [e]; gamma/beta 0 = no affine; portable: plain loops instead of the AVX2+FMA path
    """
def expand_contract_simd() -> bool:
    """
    whether expand_bn_contract_train_cpu has its AVX2+FMA path on this CPU
    """
def rademacher_from_words_cpu(words: typing.SupportsInt | typing.SupportsIndex, out: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    out[i] = +1/-1 from bit i%32 (LSB first) of 32-bit words[i/32], for float32 out of n elements
    """
def rademacher_from_words_cuda(words: typing.SupportsInt | typing.SupportsIndex, out: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    CUDA twin of rademacher_from_words_cpu; device pointers and a cudaStream_t handle
    """
cuda_archs: str = '75,80,90'
cuda_compiled: bool = True
