// bfloat16 inference (issue 17): weights stored as bf16 (round to nearest even from float32),
// the rows multiplied by them (x, h_{t-1}) rounded to bf16 at each step, products accumulated in
// float32: vdpbf16ps where the CPU has AVX512-BF16 and runs it fast (bf16_avx512.cpp), widened to
// float32 elsewhere (bf16_avx512f.cpp, bf16_avx2.cpp, bf16_scalar.cpp). Gates and states in float32 (the int8 layers' epilogue).
// Reference: pyrnn.reference_quant (bf16_*). Unlike int8, results differ across ISAs by float32
// summation order (vdpbf16ps sums pairs).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "quant/int8.h"

namespace pyrnn {
namespace bf16 {

constexpr int kGroup = 16;  // output rows per packed group; a group holds Kp/2 blocks of [16 rows][2 k]

inline std::uint16_t from_float(float f) {  // round to nearest even; NaN stays NaN
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}
inline float to_float(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// c[m, g*16 + j] = sum_k a[m, k] * w_g[j, k] (float32) for rows [0, M), groups [g0, g1).
using GemmFn = void (*)(int M, int g0, int g1, int Kp, const std::uint16_t* a, std::ptrdiff_t lda,
                        const std::uint16_t* w, float* c, std::ptrdiff_t ldc);
struct Table {
  const char* name;
  GemmFn gemm;
};
namespace scalar { const Table& table(); }
namespace avx2 { const Table& table(); }         // widened to float32 in registers (bf16_avx2.cpp)
namespace avx512f { const Table& table(); }      // the same at 512 bits (bf16_avx512f.cpp)
namespace avx512_bf16 { const Table& table(); }  // vdpbf16ps (bf16_avx512.cpp)
bool bf16_supported();
// An ISA ("scalar", "avx2", "avx512": vdpbf16ps on CPUs that run it fast, else widening) or one
// kernel by name ("avx512f", "avx512_bf16"), for tests; std::invalid_argument if it cannot run.
const Table& table_for(const char* isa);
const Table& active();

struct Weights {
  int N = 0, K = 0, Kp = 0, groups = 0;
  std::vector<std::uint16_t> packed;
  Weights() = default;
  Weights(const float* w, int N, int K);  // w [N, K] float32, rounded to bf16
};

void gemm(const Table& t, int M, const std::uint16_t* a, std::ptrdiff_t lda, const Weights& w, float* c,
          std::ptrdiff_t ldc);

void linear(int M, const float* x, const Weights& w, float* y);

// As int8::layer_forward (w_hn: GRU reset before; w_hr: LSTM projection).
void layer_forward(int8::Cell cell, int T, int B, int I, int H, const Weights& w_ih, const Weights& w_hh,
                   const float* bias_x, const float* bias_hn, const float* x, const float* h0, const float* c0,
                   const std::int32_t* lengths, float* out, float* hn, float* cn,
                   const Weights* w_hn = nullptr, const Weights* w_hr = nullptr);

}  // namespace bf16
}  // namespace pyrnn
