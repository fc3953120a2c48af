// Bit -> sign mapping shared by the CPU and CUDA Rademacher kernels, so the CPU tests
// exercise exactly what the GPU computes.
#pragma once

#include <cstdint>

#include "host_device.h"

namespace zsnas::kernels {

// Sign i of a probe is bit (i % 32) of word i / 32, least significant bit first: 1 -> +1, 0 -> -1.
ZSNAS_HD float sign_of_bit(std::uint32_t word, int bit) {
  return static_cast<float>(static_cast<int>((word >> bit) & 1u) * 2 - 1);
}

}  // namespace zsnas::kernels
