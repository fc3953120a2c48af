// A convolution that widens (1x1, or KxK over few input channels: a stem), training-mode BN+ReLU
// and a 1x1 convolution back down, fused over channels-last pixels:
//
//   y[p, :] = W2 · relu(scale ⊙ (W1 · patch(x, p)) + shift)        -> y [pixels, D]
//
// In inverted-bottleneck chains (ZenNet's K1KXK1 blocks, ResNet bottlenecks without residuals)
// and after a stem, the middle tensor is E-wide, E >> C, D; unfused it is written by the first
// convolution, read twice and rewritten by BN, and read by the second convolution: memory-bound
// work that costs more than the arithmetic. Fused, each tile of pixels keeps its E-wide middle
// in cache. BN needs the middle's batch statistics before it can be applied; they follow
// exactly from the input rows' moments: mean = W1 mu, var = diag(W1 Sigma W1^T), from one cheap
// pass over the C-wide rows (C = k*k*cin patch values for a KxK convolution).
#pragma once

namespace zsnas::kernels {

// x: NHWC float32 image [n, h, w, cin]; w1: the first convolution's weight [e, cin, k, k]
// (stride, zero padding pad, no bias); gamma/beta [e] (null = 1/0); w2 [d, e];
// y: [n, ho, wo, d]. The middle's float64 batch mean and biased variance go to mid_mean/mid_var
// [e]. `threads` split the pixels; `portable` forces the plain-C++ path (the AVX2+FMA one is
// taken on CPUs that have it otherwise).
void expand_bn_contract_train_cpu(const float* x, const float* w1, const float* gamma, const float* beta, double eps,
                                  const float* w2, float* y, double* mid_mean, double* mid_var, long long n,
                                  long long h, long long w, long long cin, long long k, long long stride,
                                  long long pad, long long e, long long d, bool relu, int threads, bool portable);

// Whether expand_bn_contract_train_cpu has its AVX2+FMA path on this CPU (else it runs plain
// loops, slower than oneDNN's convolutions: callers should not fuse).
bool expand_contract_simd();

}  // namespace zsnas::kernels
