// A pair of 1x1 convolutions around a training-mode BN+ReLU, fused over channels-last pixels:
//
//   y[p, :] = W2 · relu(scale ⊙ (W1 · x[p, :]) + shift)          x [P, C] -> y [P, D]
//
// In inverted-bottleneck chains (ZenNet's K1KXK1 blocks, ResNet bottlenecks without residuals)
// the middle tensor is E-wide, E >> C, D; unfused it is written by the first convolution, read
// twice and rewritten by BN, and read by the second convolution: memory-bound work that costs
// more than the arithmetic. Fused, each tile of pixels keeps its E-wide middle in cache.
// BN needs the middle's batch statistics before it can be applied; they follow exactly from the
// input's: mean = W1 mu_x, var = diag(W1 Sigma_x W1^T), so channel_moments_cpu supplies mu_x and
// Sigma_x in one cheap pass over the C-wide input.
#pragma once

namespace zsnas::kernels {

// x [pixels, c], w1 [e, c], scale/shift [e], w2 [d, e], y [pixels, d]: float32, row-major.
// `threads` splits the pixels; `portable` forces the plain-C++ path (the AVX2+FMA one is taken
// on CPUs that have it otherwise).
void expand_contract_cpu(const float* x, const float* w1, const float* scale, const float* shift, const float* w2,
                         float* y, long long pixels, long long c, long long e, long long d, bool relu, int threads,
                         bool portable);

// Float64 per-channel mean [c] and biased covariance [c, c] of the rows of x [pixels, c].
void channel_moments_cpu(const float* x, double* mean, double* cov, long long pixels, long long c);

// The whole training-mode pair: conv1x1 (w1 [e, c]) -> BN with batch statistics (gamma/beta
// [e], null = 1/0) -> ReLU when `relu` -> conv1x1 (w2 [d, e]). The middle's float64 batch mean
// and biased variance come out in mid_mean/mid_var [e], from the input's moments.
void expand_bn_contract_train_cpu(const float* x, const float* w1, const float* gamma, const float* beta, double eps,
                                  const float* w2, float* y, double* mid_mean, double* mid_var, long long pixels,
                                  long long c, long long e, long long d, bool relu, int threads, bool portable);

// Whether expand_contract_cpu has its AVX2+FMA path on this CPU (else it runs plain loops,
// slower than two oneDNN convolutions: callers should not fuse).
bool expand_contract_simd();

}  // namespace zsnas::kernels
