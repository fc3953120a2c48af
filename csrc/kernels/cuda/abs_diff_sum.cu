// CUDA abs-diff-sum: one thread block per row, grid-stride over the row, shared-memory tree reduce.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common/abs_diff.h"
#include "../cpu/abs_diff_sum.h"

namespace zsnas::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void abs_diff_sum_kernel(const float* __restrict__ a, const float* __restrict__ b, double* out,
                                    long long cols) {
  __shared__ double partial[kThreads];
  const long long row = blockIdx.x;
  const float* ra = a + row * cols;
  const float* rb = b + row * cols;
  double acc = 0.0;
  for (long long j = threadIdx.x; j < cols; j += blockDim.x) acc += abs_diff(ra[j], rb[j]);
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[row] = partial[0];
}

}  // namespace

void abs_diff_sum_cuda(const float* a, const float* b, double* out, long long rows, long long cols, void* stream) {
  if (rows == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  abs_diff_sum_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(a, b, out, cols);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("abs_diff_sum_cuda launch failed: ") + cudaGetErrorString(err));
}

}  // namespace zsnas::kernels
