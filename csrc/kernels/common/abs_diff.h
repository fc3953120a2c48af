// Per-element arithmetic shared by the CPU and CUDA abs-diff-sum kernels, so the CPU tests
// exercise exactly what the GPU computes.
#pragma once

#include "host_device.h"

namespace zsnas::kernels {

// |a - b| accumulated in double: the Zen-score perturbation is ~1e-2 of the activations, and
// a float sum over millions of elements would lose the digits that matter.
ZSNAS_HD double abs_diff(float a, float b) {
  double d = static_cast<double>(a) - static_cast<double>(b);
  return d < 0 ? -d : d;
}

}  // namespace zsnas::kernels
