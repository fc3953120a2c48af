// CPU twin of the CUDA Rademacher unpack: a fixed 32-iteration inner loop per word, which the
// compiler turns into shifts, masks and converts over 8 lanes (memory-bound on the writes).
#include "rademacher.h"

#include "../common/rademacher.h"
#include "cpu_clones.h"

namespace zsnas::kernels {

ZSNAS_CPU_CLONES
void rademacher_from_words_cpu(const std::uint32_t* words, float* out, long long n) {
  const long long full = n / 32;
  for (long long w = 0; w < full; ++w) {
    const std::uint32_t word = words[w];
    float* o = out + w * 32;
    for (int b = 0; b < 32; ++b) o[b] = sign_of_bit(word, b);
  }
  for (long long i = full * 32; i < n; ++i) out[i] = sign_of_bit(words[full], static_cast<int>(i - full * 32));
}

}  // namespace zsnas::kernels
