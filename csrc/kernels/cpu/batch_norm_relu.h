// Training-mode batch norm (+ optional ReLU) over a float32 tensor seen as [outer, C, inner]
// (NHWC: outer = N*H*W, inner = 1; NCHW: outer = N, inner = H*W): batch statistics, then
// y = max(x * scale + shift, 0) written to y (which may be x: in place).
#pragma once

namespace zsnas::kernels {

// gamma/beta may be null (no affine: 1 and 0). mean/var receive the per-channel batch mean
// and biased variance (float64, C each).
void batch_norm_relu_train_cpu(const float* x, float* y, const float* gamma, const float* beta, double* mean,
                               double* var, long long outer, long long channels, long long inner, double eps,
                               bool relu);

// Defined only when the CUDA kernels are compiled (ZSNAS_WITH_CUDA). `workspace` is device
// memory for 2*C floats (scale, shift); `stream` is a cudaStream_t.
void batch_norm_relu_train_cuda(const float* x, float* y, const float* gamma, const float* beta, double* mean,
                                double* var, float* workspace, long long outer, long long channels,
                                long long inner, double eps, bool relu, void* stream);

}  // namespace zsnas::kernels
