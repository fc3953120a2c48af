// CPU twin of the CUDA training-mode batch-norm(+ReLU) kernel: one read pass for the
// per-channel sums, one read/write pass for the affine map and ReLU (in place when y == x).
// Against torch's BN followed by ReLU this saves two full passes and one tensor allocation.
//
// The statistics pass accumulates (x - origin), origin = the channel's first element, in
// float32 over blocks of kBlockRows rows (8-wide vector adds/FMAs) and folds each block into
// float64: 2-3x faster than converting every element to float64, so the pass runs at memory
// bandwidth. Shifted sums do not cancel, and a block of 64 float32 adds is accurate to ~1e-7
// of the channel's spread: far below what float32 features carry.
#include "batch_norm_relu.h"

#include <vector>

#include "../common/batch_norm.h"
#include "cpu_clones.h"

namespace zsnas::kernels {

namespace {

constexpr long long kBlockRows = 64;

// Channels innermost ([outer, C]). Rows are walked as "wide rows" of W = k*C >= 256 floats, so
// the inner loop is long and vectorises whatever C is (C = 16 would leave 2 vectors a row);
// accumulator j belongs to channel j % C and is folded into float64 after every block.
long long wide_row(long long c_n) { return c_n * ((256 + c_n - 1) / c_n); }

std::vector<float> tile(const float* v, long long c_n, long long w) {
  std::vector<float> out(w);
  for (long long r = 0; r < w; r += c_n) {
    for (long long c = 0; c < c_n; ++c) out[r + c] = v[c];
  }
  return out;
}

// Per-channel float64 sums of two float32 per-element terms over the wide rows of [outer, C]:
// terms(at, j, s, q) adds element `at`'s terms to the float32 partials s, q of slot j
// (channel j % C); the partials are folded into float64 after every kBlockRows wide rows.
template <typename Terms>
__attribute__((always_inline)) inline void wide_row_sums(long long outer, long long c_n, const Terms& terms,
                                                         double* sum_a, double* sum_b) {
  const long long w = wide_row(c_n), total = outer * c_n;
  std::vector<float> bs(w), bq(w);
  float* __restrict__ s = bs.data();
  float* __restrict__ q = bq.data();
  for (long long b0 = 0; b0 < total; b0 += w * kBlockRows) {
    const long long b1 = b0 + w * kBlockRows < total ? b0 + w * kBlockRows : total;
    for (long long j = 0; j < w; ++j) s[j] = q[j] = 0.0f;
    for (long long p = b0; p < b1; p += w) {
      const long long len = b1 - p < w ? b1 - p : w;
      for (long long j = 0; j < len; ++j) terms(p + j, j, s[j], q[j]);
    }
    for (long long r = 0; r < w; r += c_n) {
      for (long long c = 0; c < c_n; ++c) {
        sum_a[c] += s[r + c];
        sum_b[c] += q[r + c];
      }
    }
  }
}

// Forward sums: sum(x - origin) and sum((x - origin)^2).
ZSNAS_CPU_CLONES
void shifted_sums_rows(const float* __restrict__ x, const float* origin, double* sum, double* sumsq,
                       long long outer, long long c_n) {
  const std::vector<float> ow = tile(origin, c_n, wide_row(c_n));
  const float* __restrict__ o = ow.data();
  wide_row_sums(outer, c_n, [x, o](long long at, long long j, float& s, float& q) {
    float d = x[at] - o[j];
    s += d;
    q += d * d;
  }, sum, sumsq);
}

// A contiguous run of one channel ([outer, C, inner] with inner > 1): 8 float32 lanes per
// block of kBlockRows * 8 elements, folded into float64.
ZSNAS_CPU_CLONES
void shifted_sums_run(const float* p, long long len, float origin, double* sum, double* sumsq) {
  constexpr long long kBlock = kBlockRows * 8;
  double s64 = 0.0, q64 = 0.0;
  for (long long i0 = 0; i0 < len; i0 += kBlock) {
    const long long i1 = i0 + kBlock < len ? i0 + kBlock : len;
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, q[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long long i = i0;
    for (; i + 8 <= i1; i += 8) {
      for (int l = 0; l < 8; ++l) {
        float d = p[i + l] - origin;
        s[l] += d;
        q[l] += d * d;
      }
    }
    for (; i < i1; ++i) {
      float d = p[i] - origin;
      s[0] += d;
      q[0] += d * d;
    }
    for (int l = 0; l < 8; ++l) {
      s64 += s[l];
      q64 += q[l];
    }
  }
  *sum += s64;
  *sumsq += q64;
}

// y[j] = bn_apply(x[j], scale, shift) over a span, scale/shift per element (Vec) or one
// value (float). In place (x == y) gets its own loop: gcc's runtime alias check would send
// x == y to its scalar fallback, 3x slower.
inline float at(const float* v, long long j) { return v[j]; }
inline float at(float v, long long) { return v; }

template <bool kRelu, typename Coef>
__attribute__((always_inline)) inline void apply_span(const float* x, float* y, Coef scale, Coef shift,
                                                      long long len) {
  if (x == y) {
    float* __restrict__ io = y;
    for (long long j = 0; j < len; ++j) io[j] = bn_apply(io[j], at(scale, j), at(shift, j), kRelu);
  } else {
    const float* __restrict__ in = x;
    float* __restrict__ out = y;
    for (long long j = 0; j < len; ++j) out[j] = bn_apply(in[j], at(scale, j), at(shift, j), kRelu);
  }
}

ZSNAS_CPU_CLONES
void apply_rows(const float* x, float* y, const float* scale, const float* shift, long long outer, long long c_n,
                bool relu) {
  const long long w = wide_row(c_n), total = outer * c_n;
  std::vector<float> scw = tile(scale, c_n, w), shw = tile(shift, c_n, w);
  const float* __restrict__ sc = scw.data();
  const float* __restrict__ sh = shw.data();
  for (long long p = 0; p < total; p += w) {
    const long long len = total - p < w ? total - p : w;
    if (relu) {  // two instantiations so that each loop vectorises without a branch on `relu`
      apply_span<true>(x + p, y + p, sc, sh, len);
    } else {
      apply_span<false>(x + p, y + p, sc, sh, len);
    }
  }
}

ZSNAS_CPU_CLONES
void apply_run(const float* p, float* out, long long len, float scale, float shift, bool relu) {
  if (relu) {
    apply_span<true>(p, out, scale, shift, len);
  } else {
    apply_span<false>(p, out, scale, shift, len);
  }
}

// Backward sums: sum(g) and sum(g * (x - mean)).
ZSNAS_CPU_CLONES
void grad_sums_rows(const float* __restrict__ g, const float* __restrict__ x, const float* mean, double* sum_g,
                    double* sum_gd, long long outer, long long c_n) {
  const std::vector<float> mw = tile(mean, c_n, wide_row(c_n));
  const float* __restrict__ m = mw.data();
  wide_row_sums(outer, c_n, [g, x, m](long long at, long long j, float& s, float& q) {
    s += g[at];
    q += g[at] * (x[at] - m[j]);
  }, sum_g, sum_gd);
}

ZSNAS_CPU_CLONES
void grad_sums_run(const float* __restrict__ g, const float* __restrict__ x, long long len, float mean,
                   double* sum_g, double* sum_gd) {
  constexpr long long kBlock = kBlockRows * 8;
  double s64 = 0.0, q64 = 0.0;
  for (long long i0 = 0; i0 < len; i0 += kBlock) {
    const long long i1 = i0 + kBlock < len ? i0 + kBlock : len;
    float s = 0.0f, q = 0.0f;
    for (long long i = i0; i < i1; ++i) {  // a float32 reduction: gcc keeps it scalar, blocks stay short
      s += g[i];
      q += g[i] * (x[i] - mean);
    }
    s64 += s;
    q64 += q;
  }
  *sum_g += s64;
  *sum_gd += q64;
}

ZSNAS_CPU_CLONES
void grad_apply_rows(const float* __restrict__ g, const float* __restrict__ x, float* __restrict__ dx, const float* a,
                     const float* b, const float* c, long long outer, long long c_n) {
  const long long w = wide_row(c_n), total = outer * c_n;
  std::vector<float> aw = tile(a, c_n, w), bw = tile(b, c_n, w), cw = tile(c, c_n, w);
  const float* __restrict__ ap = aw.data();
  const float* __restrict__ bp = bw.data();
  const float* __restrict__ cp = cw.data();
  for (long long p = 0; p < total; p += w) {
    const long long len = total - p < w ? total - p : w;
    for (long long j = 0; j < len; ++j) dx[p + j] = bn_backward_apply(g[p + j], x[p + j], ap[j], bp[j], cp[j]);
  }
}

}  // namespace

void batch_norm_relu_train_cpu(const float* x, float* y, const float* gamma, const float* beta, double* mean,
                               double* var, long long outer, long long channels, long long inner, double eps,
                               bool relu) {
  const long long c_n = channels;
  const long long n = outer * inner;
  std::vector<double> sum(c_n, 0.0), sumsq(c_n, 0.0);
  std::vector<float> origin(c_n, 0.0f);
  if (n > 0) {
    for (long long c = 0; c < c_n; ++c) origin[c] = x[c * inner];  // the channel's first element
  }
  if (inner == 1) {
    shifted_sums_rows(x, origin.data(), sum.data(), sumsq.data(), outer, c_n);
  } else {
    for (long long o = 0; o < outer; ++o) {
      for (long long c = 0; c < c_n; ++c) {
        shifted_sums_run(x + (o * c_n + c) * inner, inner, origin[c], &sum[c], &sumsq[c]);
      }
    }
  }
  std::vector<float> scale(c_n), shift(c_n);
  for (long long c = 0; c < c_n; ++c) {
    bn_finalize(sum[c], sumsq[c], n, origin[c], eps, gamma ? gamma[c] : 1.0, beta ? beta[c] : 0.0, &mean[c],
                &var[c], &scale[c], &shift[c]);
  }
  if (inner == 1) {
    apply_rows(x, y, scale.data(), shift.data(), outer, c_n, relu);
  } else {
    for (long long o = 0; o < outer; ++o) {
      for (long long c = 0; c < c_n; ++c) {
        const long long off = (o * c_n + c) * inner;
        apply_run(x + off, y + off, inner, scale[c], shift[c], relu);
      }
    }
  }
}

void batch_norm_train_backward_cpu(const float* g, const float* x, const double* mean, const double* var,
                                   const float* gamma, float* dx, long long outer, long long channels,
                                   long long inner, double eps) {
  const long long c_n = channels;
  std::vector<double> sum_g(c_n, 0.0), sum_gd(c_n, 0.0);
  std::vector<float> mean_f(c_n);
  for (long long c = 0; c < c_n; ++c) mean_f[c] = static_cast<float>(mean[c]);
  if (inner == 1) {
    grad_sums_rows(g, x, mean_f.data(), sum_g.data(), sum_gd.data(), outer, c_n);
  } else {
    for (long long o = 0; o < outer; ++o) {
      for (long long c = 0; c < c_n; ++c) {
        const long long off = (o * c_n + c) * inner;
        grad_sums_run(g + off, x + off, inner, mean_f[c], &sum_g[c], &sum_gd[c]);
      }
    }
  }
  // sum_gd was taken around the float32 mean: the correction sum_g * (mean - mean_f) makes it
  // exactly the sum around the float64 mean.
  std::vector<float> a(c_n), b(c_n), c(c_n);
  for (long long k = 0; k < c_n; ++k) {
    const double gd = sum_gd[k] - sum_g[k] * (mean[k] - static_cast<double>(mean_f[k]));
    bn_backward_coeffs(sum_g[k], gd, outer * inner, mean[k], var[k], eps, gamma ? gamma[k] : 1.0, &a[k], &b[k],
                       &c[k]);
  }
  if (inner == 1) {
    grad_apply_rows(g, x, dx, a.data(), b.data(), c.data(), outer, c_n);
  } else {
    for (long long o = 0; o < outer; ++o) {
      for (long long k = 0; k < c_n; ++k) {
        const long long off = (o * c_n + k) * inner;
        for (long long i = 0; i < inner; ++i) dx[off + i] = bn_backward_apply(g[off + i], x[off + i], a[k], b[k], c[k]);
      }
    }
  }
}

}  // namespace zsnas::kernels
