// CPU twin of the CUDA abs-diff-sum kernel: out[i] = sum_j |a[i,j] - b[i,j]| (float64 accumulation).
#include "abs_diff_sum.h"

#include "../common/abs_diff.h"

namespace zsnas::kernels {

void abs_diff_sum_cpu(const float* a, const float* b, double* out, long long rows, long long cols) {
  for (long long i = 0; i < rows; ++i) {
    const float* ra = a + i * cols;
    const float* rb = b + i * cols;
    double acc = 0.0;
    for (long long j = 0; j < cols; ++j) acc += abs_diff(ra[j], rb[j]);
    out[i] = acc;
  }
}

}  // namespace zsnas::kernels
