// CUDA Rademacher unpack: one thread per output sign (grid-stride), reading its word.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common/rademacher.h"
#include "../cpu/rademacher.h"

namespace zsnas::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void rademacher_kernel(const std::uint32_t* __restrict__ words, float* __restrict__ out, long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    out[i] = sign_of_bit(words[i >> 5], static_cast<int>(i & 31));
  }
}

}  // namespace

void rademacher_from_words_cuda(const std::uint32_t* words, float* out, long long n, void* stream) {
  if (n == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  long long blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;  // grid-stride covers the rest
  rademacher_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(words, out, n);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("rademacher_from_words_cuda launch failed: ") + cudaGetErrorString(err));
}

}  // namespace zsnas::kernels
