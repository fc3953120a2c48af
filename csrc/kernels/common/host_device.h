// ZSNAS_HD marks per-element arithmetic shared by a CPU kernel and its CUDA twin.
#pragma once

#ifdef __CUDACC__
#define ZSNAS_HD __host__ __device__ __forceinline__
#else
#define ZSNAS_HD inline
#endif
