// Arithmetic shared by the CPU and CUDA training-mode batch-norm(+ReLU) kernels, so the CPU
// tests exercise exactly what the GPU computes.
#pragma once

#include <cmath>

#include "host_device.h"

namespace zsnas::kernels {

// Per-channel statistics from float64 sums over n elements of (x - origin): mean and the
// *biased* variance (what BN normalises with). With origin near the mean (the CPU kernel uses
// the channel's first element) the sums carry no cancellation; the CUDA kernel sums in
// float64 with origin 0, where the cancellation costs (mean/std)^2 * 1e-16, far below float32
// rounding for any real feature. gamma/beta (1/0 when BN has no affine) fold into
// y = x * scale + shift.
ZSNAS_HD void bn_finalize(double sum, double sumsq, long long n, double origin, double eps, double gamma,
                          double beta, double* mean, double* var, float* scale, float* shift) {
  double d = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double v = n > 0 ? sumsq / static_cast<double>(n) - d * d : 0.0;
  if (v < 0.0) v = 0.0;  // rounding of a constant channel (a NaN stays NaN)
  double m = origin + d;
  double s = gamma / sqrt(v + eps);
  *mean = m;
  *var = v;
  *scale = static_cast<float>(s);
  *shift = static_cast<float>(beta - m * s);
}

// y = x * scale + shift, then ReLU; a NaN stays NaN (NaN < 0 is false), as torch's relu.
ZSNAS_HD float bn_apply(float x, float scale, float shift, bool relu) {
  float y = x * scale + shift;
  return (relu && y < 0.0f) ? 0.0f : y;
}

// Input gradient of training-mode BN, dx = a*g + b*x + c per channel, from the channel sums
// sum_g = sum(g) and sum_gd = sum(g * (x - mean)) over its n elements:
//   dx = gamma*r * (g - sum_g/n - (x - mean) * r^2 * sum_gd/n),   r = 1/sqrt(var + eps).
ZSNAS_HD void bn_backward_coeffs(double sum_g, double sum_gd, long long n, double mean, double var, double eps,
                                 double gamma, float* a, float* b, float* c) {
  double r = 1.0 / sqrt(var + eps);
  double k = gamma * r;
  double bx = n > 0 ? -k * r * r * sum_gd / static_cast<double>(n) : 0.0;
  double g_mean = n > 0 ? sum_g / static_cast<double>(n) : 0.0;
  *a = static_cast<float>(k);
  *b = static_cast<float>(bx);
  *c = static_cast<float>(-k * g_mean - bx * mean);
}

// One element of the input gradient.
ZSNAS_HD float bn_backward_apply(float g, float x, float a, float b, float c) { return g * a + x * b + c; }

}  // namespace zsnas::kernels
