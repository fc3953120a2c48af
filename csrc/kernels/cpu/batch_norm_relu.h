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

// Input gradient of training-mode batch norm (no ReLU) for the same [outer, C, inner] layout:
// g is dL/dy, x the forward input, mean/var what the forward returned; dx is a separate buffer.
void batch_norm_train_backward_cpu(const float* g, const float* x, const double* mean, const double* var,
                                   const float* gamma, float* dx, long long outer, long long channels,
                                   long long inner, double eps);

// Defined only when the CUDA kernels are compiled (ZSNAS_WITH_CUDA). `workspace` is device
// memory for 3*C floats; `stream` is a cudaStream_t.
void batch_norm_train_backward_cuda(const float* g, const float* x, const double* mean, const double* var,
                                    const float* gamma, float* dx, float* workspace, long long outer,
                                    long long channels, long long inner, double eps, void* stream);

}  // namespace zsnas::kernels
