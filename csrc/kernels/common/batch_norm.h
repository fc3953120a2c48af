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

}  // namespace zsnas::kernels
