// ZSNAS_CPU_CLONES: the build targets baseline x86-64 (SSE2); marking a hot loop with it adds
// an AVX2 clone that the loader picks on CPUs that have it (gcc's target_clones).
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define ZSNAS_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ZSNAS_CPU_CLONES
#endif
