// pybind11 glue for zsnas._kernels: raw pointers and stream handles in, nothing torch-specific.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "../kernels/cpu/abs_diff_sum.h"
#include "../kernels/cpu/batch_norm_relu.h"
#include "../kernels/cpu/box_filter.h"
#include "../kernels/cpu/expand_contract.h"
#include "../kernels/cpu/rademacher.h"

namespace py = pybind11;
using namespace zsnas::kernels;

namespace {
template <typename T>
T* ptr(std::uintptr_t p) { return reinterpret_cast<T*>(p); }
}  // namespace

PYBIND11_MODULE(_kernels, m) {
  m.doc() = "zsnas fused numeric kernels over raw buffers (CPU and, when compiled, CUDA)";
#ifdef ZSNAS_WITH_CUDA
  m.attr("cuda_compiled") = true;
  m.attr("cuda_archs") = ZSNAS_CUDA_ARCHS;
#else
  m.attr("cuda_compiled") = false;
  m.attr("cuda_archs") = "";
#endif
  m.def(
      "abs_diff_sum_cpu",
      [](std::uintptr_t a, std::uintptr_t b, std::uintptr_t out, long long rows, long long cols) {
        py::gil_scoped_release release;
        abs_diff_sum_cpu(ptr<const float>(a), ptr<const float>(b), ptr<double>(out), rows, cols);
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("rows"), py::arg("cols"),
      "out[i] = sum_j |a[i,j]-b[i,j]| for contiguous float32 a, b (rows x cols) into float64 out");
  m.def(
      "batch_norm_relu_train_cpu",
      [](std::uintptr_t x, std::uintptr_t y, std::uintptr_t gamma, std::uintptr_t beta, std::uintptr_t mean,
         std::uintptr_t var, long long outer, long long channels, long long inner, double eps, bool relu) {
        py::gil_scoped_release release;
        batch_norm_relu_train_cpu(ptr<const float>(x), ptr<float>(y), ptr<const float>(gamma), ptr<const float>(beta),
                                  ptr<double>(mean), ptr<double>(var), outer, channels, inner, eps, relu);
      },
      py::arg("x"), py::arg("y"), py::arg("gamma"), py::arg("beta"), py::arg("mean"), py::arg("var"), py::arg("outer"),
      py::arg("channels"), py::arg("inner"), py::arg("eps"), py::arg("relu"),
      "training-mode batch norm (+ReLU) of contiguous float32 x seen as [outer, channels, inner] into y (may be x); "
      "gamma/beta 0 = no affine; float64 batch mean and biased variance into mean/var");
  m.def(
      "batch_norm_train_backward_cpu",
      [](std::uintptr_t g, std::uintptr_t x, std::uintptr_t mean, std::uintptr_t var, std::uintptr_t gamma,
         std::uintptr_t dx, long long outer, long long channels, long long inner, double eps) {
        py::gil_scoped_release release;
        batch_norm_train_backward_cpu(ptr<const float>(g), ptr<const float>(x), ptr<const double>(mean),
                                      ptr<const double>(var), ptr<const float>(gamma), ptr<float>(dx), outer, channels,
                                      inner, eps);
      },
      py::arg("g"), py::arg("x"), py::arg("mean"), py::arg("var"), py::arg("gamma"), py::arg("dx"), py::arg("outer"),
      py::arg("channels"), py::arg("inner"), py::arg("eps"),
      "input gradient of training-mode batch norm: dx from dL/dy g, input x and the forward's float64 mean/var; "
      "gamma 0 = no affine; dx a separate buffer");
  m.def(
      "box_mean3x3_cpu",
      [](std::uintptr_t x, std::uintptr_t out, long long n, long long c, long long h, long long w, bool channels_last,
         bool include_pad, bool transpose) {
        py::gil_scoped_release release;
        box_mean3x3_cpu(ptr<const float>(x), ptr<float>(out), n, c, h, w, channels_last, include_pad, transpose);
      },
      py::arg("x"), py::arg("out"), py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("channels_last"),
      py::arg("include_pad"), py::arg("transpose"),
      "3x3 box mean (AvgPool2d(3,1,1)) of float32 [n,c,h,w] (NCHW or NHWC memory) into out, or its transpose "
      "(the input gradient) when transpose");
  m.def(
      "expand_bn_contract_train_cpu",
      [](std::uintptr_t x, std::uintptr_t w1, std::uintptr_t gamma, std::uintptr_t beta, double eps, std::uintptr_t w2,
         std::uintptr_t y, std::uintptr_t mid_mean, std::uintptr_t mid_var, long long n, long long h, long long w,
         long long cin, long long k, long long stride, long long pad, long long e, long long d, bool relu,
         int threads, bool portable) {
        py::gil_scoped_release release;
        expand_bn_contract_train_cpu(ptr<const float>(x), ptr<const float>(w1), ptr<const float>(gamma),
                                     ptr<const float>(beta), eps, ptr<const float>(w2), ptr<float>(y),
                                     ptr<double>(mid_mean), ptr<double>(mid_var), n, h, w, cin, k, stride, pad, e, d,
                                     relu, threads, portable);
      },
      py::arg("x"), py::arg("w1"), py::arg("gamma"), py::arg("beta"), py::arg("eps"), py::arg("w2"), py::arg("y"),
      py::arg("mid_mean"), py::arg("mid_var"), py::arg("n"), py::arg("h"), py::arg("w"), py::arg("cin"), py::arg("k"),
      py::arg("stride"), py::arg("pad"), py::arg("e"), py::arg("d"), py::arg("relu"), py::arg("threads"),
      py::arg("portable"),
      "y [n,ho,wo,d] = conv1x1(w2 [d,e]) of ReLU(BN_train(conv(w1 [e,cin,k,k], stride, pad) of NHWC float32 x "
      "[n,h,w,cin])), the e-wide middle never stored; its float64 batch mean/biased variance into mid_mean/mid_var "
      "[e]; gamma/beta 0 = no affine; portable: plain loops instead of the AVX2+FMA path");
  m.def("expand_contract_simd", &expand_contract_simd,
        "whether expand_bn_contract_train_cpu has its AVX2+FMA path on this CPU");
  m.def(
      "rademacher_from_words_cpu",
      [](std::uintptr_t words, std::uintptr_t out, long long n) {
        py::gil_scoped_release release;
        rademacher_from_words_cpu(ptr<const std::uint32_t>(words), ptr<float>(out), n);
      },
      py::arg("words"), py::arg("out"), py::arg("n"),
      "out[i] = +1/-1 from bit i%32 (LSB first) of 32-bit words[i/32], for float32 out of n elements");
#ifdef ZSNAS_WITH_CUDA
  m.def(
      "abs_diff_sum_cuda",
      [](std::uintptr_t a, std::uintptr_t b, std::uintptr_t out, long long rows, long long cols, std::uintptr_t stream) {
        abs_diff_sum_cuda(ptr<const float>(a), ptr<const float>(b), ptr<double>(out), rows, cols,
                          reinterpret_cast<void*>(stream));
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("rows"), py::arg("cols"), py::arg("stream"),
      "CUDA twin of abs_diff_sum_cpu; device pointers and a cudaStream_t handle");
  m.def(
      "batch_norm_relu_train_cuda",
      [](std::uintptr_t x, std::uintptr_t y, std::uintptr_t gamma, std::uintptr_t beta, std::uintptr_t mean,
         std::uintptr_t var, std::uintptr_t workspace, long long outer, long long channels, long long inner, double eps,
         bool relu, std::uintptr_t stream) {
        batch_norm_relu_train_cuda(ptr<const float>(x), ptr<float>(y), ptr<const float>(gamma), ptr<const float>(beta),
                                   ptr<double>(mean), ptr<double>(var), ptr<float>(workspace), outer, channels, inner,
                                   eps, relu, reinterpret_cast<void*>(stream));
      },
      py::arg("x"), py::arg("y"), py::arg("gamma"), py::arg("beta"), py::arg("mean"), py::arg("var"),
      py::arg("workspace"), py::arg("outer"), py::arg("channels"), py::arg("inner"), py::arg("eps"), py::arg("relu"),
      py::arg("stream"), "CUDA twin of batch_norm_relu_train_cpu; workspace = 2*channels device floats");
  m.def(
      "batch_norm_train_backward_cuda",
      [](std::uintptr_t g, std::uintptr_t x, std::uintptr_t mean, std::uintptr_t var, std::uintptr_t gamma,
         std::uintptr_t dx, std::uintptr_t workspace, long long outer, long long channels, long long inner, double eps,
         std::uintptr_t stream) {
        batch_norm_train_backward_cuda(ptr<const float>(g), ptr<const float>(x), ptr<const double>(mean),
                                       ptr<const double>(var), ptr<const float>(gamma), ptr<float>(dx),
                                       ptr<float>(workspace), outer, channels, inner, eps,
                                       reinterpret_cast<void*>(stream));
      },
      py::arg("g"), py::arg("x"), py::arg("mean"), py::arg("var"), py::arg("gamma"), py::arg("dx"),
      py::arg("workspace"), py::arg("outer"), py::arg("channels"), py::arg("inner"), py::arg("eps"), py::arg("stream"),
      "CUDA twin of batch_norm_train_backward_cpu; workspace = 3*channels device floats");
  m.def(
      "box_mean3x3_cuda",
      [](std::uintptr_t x, std::uintptr_t out, long long n, long long c, long long h, long long w, bool channels_last,
         bool include_pad, bool transpose, std::uintptr_t stream) {
        box_mean3x3_cuda(ptr<const float>(x), ptr<float>(out), n, c, h, w, channels_last, include_pad, transpose,
                         reinterpret_cast<void*>(stream));
      },
      py::arg("x"), py::arg("out"), py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("channels_last"),
      py::arg("include_pad"), py::arg("transpose"), py::arg("stream"),
      "CUDA twin of box_mean3x3_cpu; device pointers and a cudaStream_t handle");
  m.def(
      "rademacher_from_words_cuda",
      [](std::uintptr_t words, std::uintptr_t out, long long n, std::uintptr_t stream) {
        rademacher_from_words_cuda(ptr<const std::uint32_t>(words), ptr<float>(out), n, reinterpret_cast<void*>(stream));
      },
      py::arg("words"), py::arg("out"), py::arg("n"), py::arg("stream"),
      "CUDA twin of rademacher_from_words_cpu; device pointers and a cudaStream_t handle");
#endif
}
