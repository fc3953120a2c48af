// CPU twin of the CUDA 3x3 box mean: separable, one image at a time. Each row's horizontal
// 3-tap sums go into a rolling buffer of three rows; each output row combines three of them.
// The tensor is seen as [B, H, W, V]: NHWC is B = N, V = C (every loop runs over W*C
// contiguous floats and vectorises); NCHW is B = N*C, V = 1.
#include "box_filter.h"

#include <vector>

#include "../common/box_filter.h"
#include "cpu_clones.h"

namespace zsnas::kernels {

namespace {

// hs[j] = a[j - v] + a[j] + a[j + v] over a row of len floats (taps outside the row skipped).
ZSNAS_CPU_CLONES
void horizontal_sums(const float* __restrict__ a, float* __restrict__ hs, long long len, long long v) {
  for (long long j = 0; j < len; ++j) hs[j] = a[j];
  for (long long j = v; j < len; ++j) hs[j] += a[j - v];
  for (long long j = 0; j + v < len; ++j) hs[j] += a[j + v];
}

ZSNAS_CPU_CLONES
void scale_row(const float* __restrict__ x, const float* __restrict__ s, float* __restrict__ out, long long len) {
  for (long long j = 0; j < len; ++j) out[j] = x[j] * s[j];
}

// out[j] = (wa*a[j] + wb*b[j] + wc*c[j]) * col[j]; a or c may be null (a row outside the
// image), col may be null (no column weights).
ZSNAS_CPU_CLONES
void combine_rows(const float* a, float wa, const float* __restrict__ b, float wb, const float* c, float wc,
                  const float* __restrict__ col, float* __restrict__ out, long long len) {
  for (long long j = 0; j < len; ++j) out[j] = b[j] * wb;
  if (a != nullptr) {
    for (long long j = 0; j < len; ++j) out[j] += a[j] * wa;
  }
  if (c != nullptr) {
    for (long long j = 0; j < len; ++j) out[j] += c[j] * wc;
  }
  if (col != nullptr) {
    for (long long j = 0; j < len; ++j) out[j] *= col[j];
  }
}

}  // namespace

void box_mean3x3_cpu(const float* x, float* out, long long n, long long c, long long h, long long w,
                     bool channels_last, bool include_pad, bool transpose) {
  const long long b_n = channels_last ? n : n * c;
  const long long v = channels_last ? c : 1;
  const long long len = w * v;
  if (b_n == 0 || h == 0 || len == 0) return;
  std::vector<float> col(len), rows(h), scaled(transpose ? len : 0), ring(3 * len);
  for (long long j = 0; j < len; ++j) col[j] = box_axis_weight(j / v, w, include_pad);
  for (long long i = 0; i < h; ++i) rows[i] = box_axis_weight(i, h, include_pad);
  // Horizontal sums of input row i into ring slot i % 3 (transpose: of the row scaled by c(w)).
  auto load = [&](const float* image, long long i) {
    const float* src = image + i * len;
    if (transpose) {
      scale_row(src, col.data(), scaled.data(), len);
      src = scaled.data();
    }
    horizontal_sums(src, ring.data() + (i % 3) * len, len, v);
  };
  for (long long b = 0; b < b_n; ++b) {
    const float* image = x + b * h * len;
    float* dst = out + b * h * len;
    load(image, 0);
    for (long long i = 0; i < h; ++i) {
      if (i + 1 < h) load(image, i + 1);
      const float* prev = i > 0 ? ring.data() + ((i - 1) % 3) * len : nullptr;
      const float* cur = ring.data() + (i % 3) * len;
      const float* next = i + 1 < h ? ring.data() + ((i + 1) % 3) * len : nullptr;
      if (transpose) {  // each source row carries its own r weight; columns were weighted at load
        combine_rows(prev, i > 0 ? rows[i - 1] : 0.0f, cur, rows[i], next, i + 1 < h ? rows[i + 1] : 0.0f, nullptr,
                     dst + i * len, len);
      } else {  // the output pixel's r(h) c(w)
        combine_rows(prev, rows[i], cur, rows[i], next, rows[i], col.data(), dst + i * len, len);
      }
    }
  }
}

}  // namespace zsnas::kernels
