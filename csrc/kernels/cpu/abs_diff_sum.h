// Row-wise L1 distance of two float32 matrices (Zen-score's Δ before the batch mean).
#pragma once

namespace zsnas::kernels {

void abs_diff_sum_cpu(const float* a, const float* b, double* out, long long rows, long long cols);

// Defined only when the CUDA kernels are compiled (ZSNAS_WITH_CUDA); `stream` is a cudaStream_t.
void abs_diff_sum_cuda(const float* a, const float* b, double* out, long long rows, long long cols, void* stream);

}  // namespace zsnas::kernels
