// Weights shared by the CPU and CUDA 3x3 box-mean kernels (NAS-Bench-201's avg_pool_3x3:
// AvgPool2d(3, stride 1, padding 1)), so the CPU tests exercise what the GPU computes.
#pragma once

#include "host_device.h"

namespace zsnas::kernels {

// The mean's divisor is separable: count(h, w) = taps_in(h) * taps_in(w), where taps_in(i) is
// how many of i-1, i, i+1 lie inside [0, n) (count_include_pad=False), or 3 with padding
// counted (count_include_pad=True). Returns 1 / taps_in for one axis.
ZSNAS_HD float box_axis_weight(long long i, long long n, bool include_pad) {
  if (include_pad) return 1.0f / 3.0f;
  int taps = 1 + (i > 0 ? 1 : 0) + (i + 1 < n ? 1 : 0);
  return 1.0f / static_cast<float>(taps);
}

}  // namespace zsnas::kernels
