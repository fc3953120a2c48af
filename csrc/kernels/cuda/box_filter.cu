// CUDA 3x3 box mean: one thread per output element (grid-stride), nine direct taps.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common/box_filter.h"
#include "../cpu/box_filter.h"

namespace zsnas::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void box_mean3x3_kernel(const float* __restrict__ x, float* __restrict__ out, long long n, long long c,
                                   long long h, long long w, bool channels_last, bool include_pad, bool transpose) {
  const long long total = n * c * h * w;
  for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<long long>(gridDim.x) * blockDim.x) {
    long long ch, col, row, img;
    if (channels_last) {  // k = ((img * h + row) * w + col) * c + ch
      ch = k % c;
      col = (k / c) % w;
      row = (k / (c * w)) % h;
      img = k / (c * w * h);
    } else {  // k = ((img * c + ch) * h + row) * w + col
      col = k % w;
      row = (k / w) % h;
      ch = (k / (w * h)) % c;
      img = k / (w * h * c);
    }
    float acc = 0.0f;
    for (long long dr = -1; dr <= 1; ++dr) {
      const long long r = row + dr;
      if (r < 0 || r >= h) continue;
      for (long long dc = -1; dc <= 1; ++dc) {
        const long long q = col + dc;
        if (q < 0 || q >= w) continue;
        const long long at = channels_last ? ((img * h + r) * w + q) * c + ch : ((img * c + ch) * h + r) * w + q;
        const float v = x[at];
        acc += transpose ? v * box_axis_weight(r, h, include_pad) * box_axis_weight(q, w, include_pad) : v;
      }
    }
    out[k] = transpose ? acc : acc * box_axis_weight(row, h, include_pad) * box_axis_weight(col, w, include_pad);
  }
}

}  // namespace

void box_mean3x3_cuda(const float* x, float* out, long long n, long long c, long long h, long long w,
                      bool channels_last, bool include_pad, bool transpose, void* stream) {
  const long long total = n * c * h * w;
  if (total == 0) return;
  long long blocks = (total + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;
  box_mean3x3_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      x, out, n, c, h, w, channels_last, include_pad, transpose);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("box_mean3x3_cuda launch failed: ") + cudaGetErrorString(err));
}

}  // namespace zsnas::kernels
