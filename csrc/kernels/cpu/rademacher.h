// Rademacher (+-1) probes from random 32-bit words: out[i] = bit (i % 32) of words[i / 32]
// as +1 / -1. The words come from the caller's generator (torch's), so a seed fixes the probe
// on every device; this kernel only unpacks them, 32 float writes per word.
#pragma once

#include <cstdint>

namespace zsnas::kernels {

// words holds at least ceil(n / 32) entries.
void rademacher_from_words_cpu(const std::uint32_t* words, float* out, long long n);

// Defined only when the CUDA kernels are compiled (ZSNAS_WITH_CUDA); `stream` is a cudaStream_t.
void rademacher_from_words_cuda(const std::uint32_t* words, float* out, long long n, void* stream);

}  // namespace zsnas::kernels
