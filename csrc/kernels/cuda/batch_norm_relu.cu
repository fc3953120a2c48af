// CUDA training-mode batch norm (+ReLU): one block per channel reduces float64 sums (grid-
// stride over the channel's elements, shared-memory tree), finalises scale/shift into the
// workspace, then an element-wise kernel applies them (in place when y == x). The backward
// (input gradient) has the same two-kernel shape.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common/batch_norm.h"
#include "../cpu/batch_norm_relu.h"

namespace zsnas::kernels {

namespace {

constexpr int kThreads = 256;

// Tree-reduces every thread's (s, q) of the block into ps[0], pq[0] (kThreads-sized arrays).
__device__ void block_sum2(double* ps, double* pq, double s, double q) {
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
}

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
  block_sum2(ps, pq, s, q);
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

__global__ void bn_grad_sums_kernel(const float* __restrict__ g, const float* __restrict__ x, const double* mean,
                                    const double* var, const float* gamma, float* coeffs, long long outer,
                                    long long channels, long long inner, double eps) {
  __shared__ double ps[kThreads];
  __shared__ double pq[kThreads];
  const long long c = blockIdx.x;
  const long long n = outer * inner;
  const double m = mean[c];
  double s = 0.0, q = 0.0;
  for (long long k = threadIdx.x; k < n; k += blockDim.x) {
    long long o = k / inner, i = k - o * inner;
    long long at = (o * channels + c) * inner + i;
    double gv = g[at];
    s += gv;
    q += gv * (static_cast<double>(x[at]) - m);
  }
  block_sum2(ps, pq, s, q);
  if (threadIdx.x == 0) {
    bn_backward_coeffs(ps[0], pq[0], n, m, var[c], eps, gamma ? gamma[c] : 1.0, &coeffs[c], &coeffs[channels + c],
                       &coeffs[2 * channels + c]);
  }
}

__global__ void bn_grad_apply_kernel(const float* __restrict__ g, const float* __restrict__ x, float* __restrict__ dx,
                                     const float* coeffs, long long total, long long channels, long long inner) {
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<long long>(gridDim.x) * blockDim.x) {
    long long c = (k / inner) % channels;
    dx[k] = bn_backward_apply(g[k], x[k], coeffs[c], coeffs[channels + c], coeffs[2 * channels + c]);
  }
}

void check(const char* what) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("batch_norm_relu_train_cuda: ") + what + " failed: " + cudaGetErrorString(err));
}

// Blocks for an element-wise grid-stride kernel over `total` elements.
unsigned grid_for(long long total) {
  long long blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks > 65535 ? 65535 : blocks);
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
  bn_apply_kernel<<<grid_for(total), kThreads, 0, s>>>(x, y, scale, shift, total, channels, inner, relu);
  check("apply launch");
}

void batch_norm_train_backward_cuda(const float* g, const float* x, const double* mean, const double* var,
                                    const float* gamma, float* dx, float* workspace, long long outer,
                                    long long channels, long long inner, double eps, void* stream) {
  if (channels == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  bn_grad_sums_kernel<<<static_cast<unsigned>(channels), kThreads, 0, s>>>(g, x, mean, var, gamma, workspace, outer,
                                                                            channels, inner, eps);
  check("backward sums launch");
  const long long total = outer * channels * inner;
  if (total == 0) return;
  bn_grad_apply_kernel<<<grid_for(total), kThreads, 0, s>>>(g, x, dx, workspace, total, channels, inner);
  check("backward apply launch");
}

}  // namespace zsnas::kernels
