// CUDA training-mode batch norm (+ReLU): one block per channel reduces float64 sums (grid-
// stride over the channel's elements, shared-memory tree), finalises scale/shift into the
// workspace, then an element-wise kernel applies them (in place when y == x).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common/batch_norm.h"
#include "../cpu/batch_norm_relu.h"

namespace zsnas::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void bn_stats_kernel(const float* __restrict__ x, const float* gamma, const float* beta, double* mean,
                                double* var, float* scale, float* shift, long long outer, long long channels,
                                long long inner, double eps) {
  __shared__ double ps[kThreads];
  __shared__ double pq[kThreads];
  const long long c = blockIdx.x;
  const long long n = outer * inner;
  double s = 0.0, q = 0.0;
  for (long long k = threadIdx.x; k < n; k += blockDim.x) {
    long long o = k / inner, i = k - o * inner;
    double v = x[(o * channels + c) * inner + i];
    s += v;
    q += v * v;
  }
  ps[threadIdx.x] = s;
  pq[threadIdx.x] = q;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h >>= 1) {
    if (threadIdx.x < h) {
      ps[threadIdx.x] += ps[threadIdx.x + h];
      pq[threadIdx.x] += pq[threadIdx.x + h];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    bn_finalize(ps[0], pq[0], n, 0.0, eps, gamma ? gamma[c] : 1.0, beta ? beta[c] : 0.0, &mean[c], &var[c], &scale[c],
                &shift[c]);
  }
}

__global__ void bn_apply_kernel(const float* x, float* y, const float* scale, const float* shift, long long total,
                                long long channels, long long inner, bool relu) {
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<long long>(gridDim.x) * blockDim.x) {
    long long c = (k / inner) % channels;
    y[k] = bn_apply(x[k], scale[c], shift[c], relu);
  }
}

void check(const char* what) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("batch_norm_relu_train_cuda: ") + what + " failed: " + cudaGetErrorString(err));
}

}  // namespace

void batch_norm_relu_train_cuda(const float* x, float* y, const float* gamma, const float* beta, double* mean,
                                double* var, float* workspace, long long outer, long long channels,
                                long long inner, double eps, bool relu, void* stream) {
  if (channels == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  float* scale = workspace;
  float* shift = workspace + channels;
  bn_stats_kernel<<<static_cast<unsigned>(channels), kThreads, 0, s>>>(x, gamma, beta, mean, var, scale, shift, outer,
                                                                        channels, inner, eps);
  check("statistics launch");
  const long long total = outer * channels * inner;
  if (total == 0) return;
  long long blocks = (total + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;
  bn_apply_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(x, y, scale, shift, total, channels, inner, relu);
  check("apply launch");
}

}  // namespace zsnas::kernels
