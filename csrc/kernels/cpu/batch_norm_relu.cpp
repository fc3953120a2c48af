// CPU twin of the CUDA training-mode batch-norm(+ReLU) kernel: one read pass for the float64
// per-channel sums, one read/write pass for the affine map and ReLU (in place when y == x).
// Against torch's BN followed by ReLU this saves two full passes and one tensor allocation.
#include "batch_norm_relu.h"

#include <vector>

#include "../common/batch_norm.h"
#include "cpu_clones.h"

namespace zsnas::kernels {

ZSNAS_CPU_CLONES
void batch_norm_relu_train_cpu(const float* x, float* y, const float* gamma, const float* beta, double* mean,
                               double* var, long long outer, long long channels, long long inner, double eps,
                               bool relu) {
  const long long c_n = channels;
  std::vector<double> sum(c_n, 0.0), sumsq(c_n, 0.0);
  if (inner == 1) {  // channels innermost: accumulate a row of channels at a time (vectorises)
    double* s = sum.data();
    double* q = sumsq.data();
    for (long long o = 0; o < outer; ++o) {
      const float* row = x + o * c_n;
      for (long long c = 0; c < c_n; ++c) {
        double v = row[c];
        s[c] += v;
        q[c] += v * v;
      }
    }
  } else {
    for (long long o = 0; o < outer; ++o) {
      for (long long c = 0; c < c_n; ++c) {
        const float* p = x + (o * c_n + c) * inner;
        double s = 0.0, q = 0.0;
        for (long long i = 0; i < inner; ++i) {
          double v = p[i];
          s += v;
          q += v * v;
        }
        sum[c] += s;
        sumsq[c] += q;
      }
    }
  }
  std::vector<float> scale(c_n), shift(c_n);
  const long long n = outer * inner;
  for (long long c = 0; c < c_n; ++c) {
    bn_finalize(sum[c], sumsq[c], n, eps, gamma ? gamma[c] : 1.0, beta ? beta[c] : 0.0, &mean[c], &var[c],
                &scale[c], &shift[c]);
  }
  const float* sc = scale.data();
  const float* sh = shift.data();
  if (inner == 1) {
    for (long long o = 0; o < outer; ++o) {
      const float* row = x + o * c_n;
      float* out = y + o * c_n;
      if (relu) {  // two loops so that each one vectorises without a branch on `relu`
        for (long long c = 0; c < c_n; ++c) out[c] = bn_apply(row[c], sc[c], sh[c], true);
      } else {
        for (long long c = 0; c < c_n; ++c) out[c] = bn_apply(row[c], sc[c], sh[c], false);
      }
    }
  } else {
    for (long long o = 0; o < outer; ++o) {
      for (long long c = 0; c < c_n; ++c) {
        const float* p = x + (o * c_n + c) * inner;
        float* out = y + (o * c_n + c) * inner;
        for (long long i = 0; i < inner; ++i) out[i] = bn_apply(p[i], sc[c], sh[c], relu);
      }
    }
  }
}

}  // namespace zsnas::kernels
