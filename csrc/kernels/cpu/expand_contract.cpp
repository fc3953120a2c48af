// Fused expand -> BN+ReLU -> 1x1 contract over channels-last pixels (see the header).
//
// Pixels go in tiles of a few dozen rows (for a KxK first convolution, each tile's patches are
// gathered from the image first). Per tile, stage 1 computes the E-wide middle
// h = relu(scale * (x W1^T) + shift) into a small buffer that stays in L1/L2, stage 2 computes
// y = h W2^T from it. Both stages are small GEMMs; on AVX2+FMA CPUs each runs a 6-pixel x 16-
// channel register tile (12 accumulators, the classic shape for 16 vector registers). The
// portable path is the same arithmetic in plain loops (the reference the SIMD path is tested
// against, and what non-x86 or pre-AVX2 CPUs run).
#include "expand_contract.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "../common/batch_norm.h"
#include "cpu_clones.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define ZSNAS_HAVE_AVX2_PATH 1
#endif

namespace zsnas::kernels {

namespace {

constexpr long long kRows = 6;             // pixels per register tile
constexpr long long kGroup = 2 * kRows;    // pixels through both stages at a time (AVX2 path)
constexpr long long kMiddleFloats = 8192;  // middle buffer per tile: 32 KB, about L1
constexpr long long kMomentRows = 64;      // rows per float32 block of the moment sums

long long round_up(long long v, long long m) { return (v + m - 1) / m * m; }

// Weights repacked so inner loops read contiguous output channels: w1t [c][e_pad], w2t
// [e_pad][d_pad]. The padding is zero (scale and shift too), so a padded middle channel is
// relu(0) = 0 and adds nothing to y.
struct Packed {
  long long c, e, d, e_pad, d_pad;
  std::vector<float> w1t, scale, shift, w2t;

  Packed(const float* w1, const float* sc, const float* sh, const float* w2, long long c_, long long e_, long long d_)
      : c(c_), e(e_), d(d_), e_pad(round_up(e_, 16)), d_pad(round_up(d_, 8)), w1t(c_ * e_pad, 0.0f),
        scale(e_pad, 0.0f), shift(e_pad, 0.0f), w2t(e_pad * d_pad, 0.0f) {
    for (long long k = 0; k < c; ++k)
      for (long long j = 0; j < e; ++j) w1t[k * e_pad + j] = w1[j * c + k];
    std::copy(sc, sc + e, scale.begin());
    std::copy(sh, sh + e, shift.begin());
    for (long long j = 0; j < e; ++j)
      for (long long o = 0; o < d; ++o) w2t[j * d_pad + o] = w2[o * e + j];
  }

  // Pixels per tile (the unit of the thread split and of the padded leftover): a multiple of
  // kGroup whose middle fits kMiddleFloats.
  long long tile_rows() const {
    long long rows = kMiddleFloats / e_pad / kGroup * kGroup;
    return std::clamp(rows, kGroup, 4 * kGroup);
  }
};

// `rows` pixels of x [rows, c] into y [rows, d]; h holds rows * e_pad floats.
ZSNAS_CPU_CLONES void tile_portable(const Packed& pk, const float* x, float* y, long long rows, bool relu, float* h) {
  const long long c = pk.c, e_pad = pk.e_pad, d = pk.d, d_pad = pk.d_pad;
  std::vector<float> acc(d_pad);
  for (long long i = 0; i < rows; ++i) {
    float* hi = h + i * e_pad;
    std::fill(hi, hi + e_pad, 0.0f);
    for (long long k = 0; k < c; ++k) {
      const float xk = x[i * c + k];
      const float* w = pk.w1t.data() + k * e_pad;
      for (long long j = 0; j < e_pad; ++j) hi[j] += xk * w[j];
    }
    for (long long j = 0; j < e_pad; ++j) hi[j] = bn_apply(hi[j], pk.scale[j], pk.shift[j], relu);
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (long long j = 0; j < e_pad; ++j) {
      const float hj = hi[j];
      const float* w = pk.w2t.data() + j * d_pad;
      for (long long o = 0; o < d_pad; ++o) acc[o] += hj * w[o];
    }
    std::copy(acc.begin(), acc.begin() + d, y + i * d);
  }
}

#ifdef ZSNAS_HAVE_AVX2_PATH

#define ZSNAS_AVX2 __attribute__((target("avx2,fma")))

// acc[i][v] = sum_k a[i*a_row + k*a_k] * b[k*ldb + 8v .. +8] for R rows of a, NV vectors of b
// (R * NV = 12 accumulators, plus NV operands and a broadcast: within 16 vector registers).
template <int R, int NV>
ZSNAS_AVX2 __attribute__((always_inline)) inline void micro_tile(const float* a, long long a_row, long long a_k,
                                                                 const float* b, long long ldb, long long k_n,
                                                                 __m256 acc[R][NV]) {
  _Pragma("GCC unroll 12") for (int i = 0; i < R; ++i)
    _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (long long k = 0; k < k_n; ++k) {
    __m256 bv[NV];
    _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + k * ldb + 8 * v);
    _Pragma("GCC unroll 12") for (int i = 0; i < R; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i * a_row + k * a_k);
      _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
}

// Stage 2 for one block of NV*8 output channels starting at o0: R rows of the middle h into R
// rows of y.
template <int R, int NV>
ZSNAS_AVX2 void contract_block(const Packed& pk, const float* h, float* y, long long o0) {
  __m256 acc[R][NV];
  micro_tile<R, NV>(h, pk.e_pad, 1, pk.w2t.data() + o0, pk.d_pad, pk.e_pad, acc);
  _Pragma("GCC unroll 12") for (int i = 0; i < R; ++i) {
    float* yi = y + i * pk.d;
    _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) {
      const long long o = o0 + 8 * v;
      if (o + 8 <= pk.d) {
        _mm256_storeu_ps(yi + o, acc[i][v]);
      } else {  // the last, partial vector of a row: y rows are d floats apart
        alignas(32) float part[8];
        _mm256_store_ps(part, acc[i][v]);
        std::memcpy(yi + o, part, sizeof(float) * (pk.d - o));
      }
    }
  }
}

// `rows` (a multiple of kGroup) pixels of x [rows, c] into y [rows, d]; h holds kGroup * e_pad.
// kGroup pixels at a time go through both stages, so their middle and both packed weights stay
// in L1. Register tiles are 6 pixels x 16 channels, except an 8-channel tail of y (d = 24, 40)
// which takes all 12 pixels x 8 channels (6 x 8 would wait on loads, not on FMAs).
ZSNAS_AVX2 void tile_avx2(const Packed& pk, const float* x, float* y, long long rows, bool relu, float* h) {
  const long long c = pk.c, e_pad = pk.e_pad, d = pk.d;
  const __m256 zero = _mm256_setzero_ps();
  for (long long r0 = 0; r0 < rows; r0 += kGroup) {
    for (long long j0 = 0; j0 < e_pad; j0 += 16) {
      const __m256 sc[2] = {_mm256_loadu_ps(&pk.scale[j0]), _mm256_loadu_ps(&pk.scale[j0 + 8])};
      const __m256 sh[2] = {_mm256_loadu_ps(&pk.shift[j0]), _mm256_loadu_ps(&pk.shift[j0 + 8])};
      for (long long half = 0; half < kGroup; half += kRows) {
        __m256 acc[kRows][2];
        micro_tile<kRows, 2>(x + (r0 + half) * c, c, 1, pk.w1t.data() + j0, e_pad, c, acc);
        _Pragma("GCC unroll 6") for (int i = 0; i < kRows; ++i) {
          _Pragma("GCC unroll 2") for (int v = 0; v < 2; ++v) {
            __m256 t = _mm256_fmadd_ps(acc[i][v], sc[v], sh[v]);
            if (relu) t = _mm256_max_ps(zero, t);  // max(0, NaN) is NaN: NaNs survive, as in torch
            _mm256_storeu_ps(h + (half + i) * e_pad + j0 + 8 * v, t);
          }
        }
      }
    }
    float* yg = y + r0 * d;
    for (long long o0 = 0; o0 < pk.d_pad; o0 += 16) {
      if (o0 + 16 <= pk.d_pad) {
        contract_block<kRows, 2>(pk, h, yg, o0);
        contract_block<kRows, 2>(pk, h + kRows * e_pad, yg + kRows * d, o0);
      } else {
        contract_block<kGroup, 1>(pk, h, yg, o0);
      }
    }
  }
}

// Moments of one block of n <= kMomentRows pixels: d = x - origin goes into dm (pixel-major,
// rows padded to 16 columns), then q += dm^T dm runs as the register-tiled GEMM above (its
// "a" operand read down dm's columns). Float32 over the block, folded into float64 sums s [c]
// and q [c, c]. dm holds kMomentRows * cols_pad + kRows floats (tiles of rows past c read it).

ZSNAS_AVX2 void moments_block_avx2(const float* x, const float* origin, long long n, long long c, float* dm,
                                   double* s, double* q) {
  const long long cols_pad = round_up(c, 16), c8 = c / 8 * 8;
  alignas(32) float si[8];
  for (long long i0 = 0; i0 < c8; i0 += 8) {  // 8 channels at a time down the block's rows
    const __m256 o = _mm256_loadu_ps(origin + i0);
    __m256 sum = _mm256_setzero_ps();
    for (long long p = 0; p < n; ++p) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + p * c + i0), o);
      _mm256_storeu_ps(dm + p * cols_pad + i0, d);
      sum = _mm256_add_ps(sum, d);
    }
    _mm256_store_ps(si, sum);
    for (int i = 0; i < 8; ++i) s[i0 + i] += si[i];
  }
  for (long long i = c8; i < c; ++i) {  // channels past the last multiple of 8
    float sum = 0.0f;
    for (long long p = 0; p < n; ++p) {
      const float d = x[p * c + i] - origin[i];
      dm[p * cols_pad + i] = d;
      sum += d;
    }
    s[i] += sum;
  }
  for (long long r0 = 0; r0 < c; r0 += kRows) {
    for (long long j0 = 0; j0 < cols_pad; j0 += 16) {
      __m256 acc[kRows][2];
      micro_tile<kRows, 2>(dm + r0, 1, cols_pad, dm + j0, cols_pad, n, acc);
      alignas(32) float part[kRows][16];
      _Pragma("GCC unroll 6") for (int i = 0; i < kRows; ++i) {
        _mm256_store_ps(part[i], acc[i][0]);
        _mm256_store_ps(part[i] + 8, acc[i][1]);
      }
      for (long long i = r0; i < std::min(c, r0 + kRows); ++i)
        for (long long j = j0; j < std::min(c, j0 + 16); ++j) q[i * c + j] += part[i - r0][j - j0];
    }
  }
}

bool cpu_has_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

#endif  // ZSNAS_HAVE_AVX2_PATH

// The rows the first convolution multiplies: x's own pixels (a 1x1 convolution, x [pixels, c])
// or, for a KxK one, each output pixel's patch gathered from the NHWC image x [n, h, w, cin]
// (im2col on the fly, c = k*k*cin in (ky, kx, channel) order, zeros outside the image).
struct PixelRows {
  const float* x;
  long long n, h, w, cin, k, stride, pad, ho, wo, c;

  bool direct() const { return k == 1 && stride == 1 && pad == 0; }
  long long pixels() const { return n * ho * wo; }

  // Pointer to `count` rows starting at pixel p0: into x, or gathered into buf (count * c).
  const float* rows(long long p0, long long count, float* buf) const {
    if (direct()) return x + p0 * c;
    long long img = p0 / (ho * wo), oy = (p0 / wo) % ho, ox = p0 % wo;  // walked, not divided, below
    for (long long r = 0; r < count; ++r) {
      float* out = buf + r * c;
      for (long long ky = 0; ky < k; ++ky) {
        const long long iy = oy * stride + ky - pad;
        for (long long kx = 0; kx < k; ++kx, out += cin) {
          const long long ix = ox * stride + kx - pad;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
            for (long long ci = 0; ci < cin; ++ci) out[ci] = 0.0f;
          } else {
            const float* in = x + ((img * h + iy) * w + ix) * cin;
            for (long long ci = 0; ci < cin; ++ci) out[ci] = in[ci];
          }
        }
      }
      if (++ox == wo) {
        ox = 0;
        if (++oy == ho) oy = 0, ++img;
      }
    }
    return buf;
  }
};

// Pixels [p0, p1) of the whole problem.
void run_range(const Packed& pk, const PixelRows& src, float* y, long long p0, long long p1, bool relu, bool simd) {
  const long long tile = pk.tile_rows();
  std::vector<float> h(tile * pk.e_pad), xbuf(tile * pk.c);
  for (long long t0 = p0; t0 < p1; t0 += tile) {
    const long long rows = std::min(tile, p1 - t0);
    const float* xt = src.rows(t0, rows, xbuf.data());
    float* yt = y + t0 * pk.d;
#ifdef ZSNAS_HAVE_AVX2_PATH
    if (simd) {
      const long long full = rows / kGroup * kGroup;
      if (full > 0) tile_avx2(pk, xt, yt, full, relu, h.data());
      if (rows > full) {  // fewer than kGroup pixels left: run them zero-padded, keep the real rows
        const long long rest = rows - full;
        std::vector<float> xpad(kGroup * pk.c, 0.0f), ypad(kGroup * pk.d);
        std::copy(xt + full * pk.c, xt + rows * pk.c, xpad.begin());
        tile_avx2(pk, xpad.data(), ypad.data(), kGroup, relu, h.data());
        std::copy(ypad.begin(), ypad.begin() + rest * pk.d, yt + full * pk.d);
      }
      continue;
    }
#endif
    (void)simd;
    tile_portable(pk, xt, yt, rows, relu, h.data());
  }
}

// Both stages over every pixel; `threads` split the pixels.
void expand_contract(const Packed& pk, const PixelRows& src, float* y, bool relu, int threads, bool simd) {
  const long long pixels = src.pixels();
  // Each thread gets a whole number of tiles and at least a few of them (a thread costs ~50 us).
  const long long tile = pk.tile_rows();
  const long long tiles = (pixels + tile - 1) / tile;
  const long long workers = std::max(1LL, std::min<long long>(threads, tiles / 8));
  if (workers == 1) {
    run_range(pk, src, y, 0, pixels, relu, simd);
    return;
  }
  const long long per = (tiles + workers - 1) / workers * tile;
  std::vector<std::thread> pool;
  for (long long w = 1; w < workers; ++w) {
    const long long p0 = std::min(pixels, w * per), p1 = std::min(pixels, (w + 1) * per);
    if (p0 < p1) pool.emplace_back(run_range, std::cref(pk), std::cref(src), y, p0, p1, relu, simd);
  }
  run_range(pk, src, y, 0, std::min(pixels, per), relu, simd);
  for (auto& t : pool) t.join();
}

// Float32 sums over one block of n rows, folded into float64 s [c] and q [c, c]; scratch holds
// c * (c + 2) floats.
ZSNAS_CPU_CLONES void moments_block_portable(const float* x, const float* origin, long long n, long long c, double* s,
                                             double* q, float* scratch) {
  float* bs = scratch;
  float* dv = bs + c;
  float* bq = dv + c;
  std::fill(bs, bs + c, 0.0f);
  std::fill(bq, bq + c * c, 0.0f);
  for (long long p = 0; p < n; ++p) {
    for (long long i = 0; i < c; ++i) dv[i] = x[p * c + i] - origin[i];
    for (long long i = 0; i < c; ++i) {
      const float di = dv[i];
      bs[i] += di;
      float* row = bq + i * c;
      for (long long j = 0; j < c; ++j) row[j] += di * dv[j];
    }
  }
  for (long long i = 0; i < c; ++i) s[i] += bs[i];
  for (long long i = 0; i < c * c; ++i) q[i] += bq[i];
}

// Float64 per-channel mean [c] and biased covariance [c, c] of the rows. Sums of (row - origin)
// and its outer products, origin = the first row, in float32 over blocks of 64 rows folded into
// float64 (as the batch-norm statistics pass does): shifted sums do not cancel, and a 64-term
// float32 block is accurate to ~1e-7 of the channel's spread.
void row_moments(const PixelRows& src, double* mean, double* cov, bool simd) {
  const long long pixels = src.pixels(), c = src.c;
  std::fill(mean, mean + c, 0.0);
  std::fill(cov, cov + c * c, 0.0);
  if (pixels <= 0) return;
  std::vector<double> s(c, 0.0), q(c * c, 0.0);
  std::vector<float> origin(c), buf(kMomentRows * c);
  std::copy_n(src.rows(0, 1, buf.data()), c, origin.begin());
#ifdef ZSNAS_HAVE_AVX2_PATH
  std::vector<float> dm(simd ? kMomentRows * round_up(c, 16) + kRows : 0, 0.0f);
#endif
  std::vector<float> scratch(simd ? 0 : c * (c + 2));
  for (long long b0 = 0; b0 < pixels; b0 += kMomentRows) {
    const long long n = std::min(kMomentRows, pixels - b0);
    const float* rows = src.rows(b0, n, buf.data());
#ifdef ZSNAS_HAVE_AVX2_PATH
    if (simd) {
      moments_block_avx2(rows, origin.data(), n, c, dm.data(), s.data(), q.data());
      continue;
    }
#endif
    moments_block_portable(rows, origin.data(), n, c, s.data(), q.data(), scratch.data());
  }
  const double n = static_cast<double>(pixels);
  for (long long i = 0; i < c; ++i) mean[i] = origin[i] + s[i] / n;
  for (long long i = 0; i < c; ++i)
    for (long long j = 0; j < c; ++j) cov[i * c + j] = q[i * c + j] / n - (s[i] / n) * (s[j] / n);
}

// The middle's batch statistics from the rows' moments: mean[j] = w_j mu and var[j] =
// w_j Sigma w_j^T for each row w_j of w [e, c], in float64. Sigma w_j accumulates column by
// column (Sigma is symmetric), with no dependent sum chain, so it vectorises: on a 4x4 map this
// step would otherwise cost as much as the convolutions.
ZSNAS_CPU_CLONES void project_moments(const float* w, long long e, long long c, const double* mu, const double* cov,
                                      double* mean, double* var) {
  std::vector<double> wj(c), t(c);
  for (long long j = 0; j < e; ++j) {
    for (long long a = 0; a < c; ++a) wj[a] = w[j * c + a];
    std::fill(t.begin(), t.end(), 0.0);
    for (long long b = 0; b < c; ++b) {
      const double wb = wj[b];
      const double* col = cov + b * c;
      for (long long a = 0; a < c; ++a) t[a] += col[a] * wb;
    }
    double m = 0.0, q = 0.0;
    for (long long a = 0; a < c; ++a) {
      m += wj[a] * mu[a];
      q += wj[a] * t[a];
    }
    mean[j] = m;
    var[j] = q;
  }
}

}  // namespace

void expand_bn_contract_train_cpu(const float* x, const float* w1, const float* gamma, const float* beta, double eps,
                                  const float* w2, float* y, double* mid_mean, double* mid_var, long long n,
                                  long long h, long long w, long long cin, long long k, long long stride,
                                  long long pad, long long e, long long d, bool relu, int threads, bool portable) {
  const long long ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
  const PixelRows src{x, n, h, w, cin, k, stride, pad, ho, wo, k * k * cin};
  const long long c = src.c;
  bool simd = false;
#ifdef ZSNAS_HAVE_AVX2_PATH
  simd = !portable && cpu_has_avx2_fma();
#endif
  // w1 [e, cin, k, k] in the gathered rows' (ky, kx, channel) order: [e, c]
  std::vector<float> w1r(e * c);
  for (long long j = 0; j < e; ++j)
    for (long long ci = 0; ci < cin; ++ci)
      for (long long t = 0; t < k * k; ++t) w1r[j * c + t * cin + ci] = w1[(j * cin + ci) * k * k + t];
  std::vector<double> mean(c), cov(c * c);
  row_moments(src, mean.data(), cov.data(), simd);
  std::vector<double> m(e), v(e);
  project_moments(w1r.data(), e, c, mean.data(), cov.data(), m.data(), v.data());
  std::vector<float> scale(e), shift(e);
  for (long long j = 0; j < e; ++j) {
    if (v[j] < 0.0) v[j] = 0.0;  // rounding of a constant channel (a NaN stays NaN)
    const double sc = (gamma ? gamma[j] : 1.0) / std::sqrt(v[j] + eps);
    mid_mean[j] = m[j];
    mid_var[j] = v[j];
    scale[j] = static_cast<float>(sc);
    shift[j] = static_cast<float>((beta ? beta[j] : 0.0) - m[j] * sc);
  }
  if (src.pixels() <= 0 || d <= 0) return;
  const Packed pk(w1r.data(), scale.data(), shift.data(), w2, c, e, d);
  expand_contract(pk, src, y, relu, threads, simd);
}

bool expand_contract_simd() {
#ifdef ZSNAS_HAVE_AVX2_PATH
  return cpu_has_avx2_fma();
#else
  return false;
#endif
}

}  // namespace zsnas::kernels
