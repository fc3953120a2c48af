// 3x3 box mean (AvgPool2d(3, 1, 1)) of a float32 [N, C, H, W] tensor, forward and its
// adjoint (the input gradient), in NHWC (channels_last) or NCHW memory.
//   forward:   y[h, w] = r(h) c(w) * sum_{|dh|,|dw| <= 1} x[h + dh, w + dw]
//   transpose: y[h, w] = sum_{|dh|,|dw| <= 1} r(h + dh) c(w + dw) x[h + dh, w + dw]
// with r, c the axis weights of common/box_filter.h (taps outside the image are skipped).
#pragma once

namespace zsnas::kernels {

// out must not alias x.
void box_mean3x3_cpu(const float* x, float* out, long long n, long long c, long long h, long long w,
                     bool channels_last, bool include_pad, bool transpose);

// Defined only when the CUDA kernels are compiled (ZSNAS_WITH_CUDA); `stream` is a cudaStream_t.
void box_mean3x3_cuda(const float* x, float* out, long long n, long long c, long long h, long long w,
                      bool channels_last, bool include_pad, bool transpose, void* stream);

}  // namespace zsnas::kernels
