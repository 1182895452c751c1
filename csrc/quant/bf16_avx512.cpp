// bf16 GEMM with AVX512-BF16 (vdpbf16ps: pairs of bf16 products summed into float32 lanes).
// Compiled with only -mavx512f -mavx512bf16 (CMakeLists.txt); used only when cpuid reports
// AVX512-BF16 (bf16_layer.cpp).
#include <immintrin.h>

#include <cstring>

#include "quant/tiles.h"

#include "quant/bf16.h"

namespace pyrnn {
namespace bf16 {
namespace avx512_bf16 {

template <int MR, int NG>
static void tile(int Kp, const std::uint16_t* a, std::ptrdiff_t lda, const std::uint16_t* w, std::ptrdiff_t wstride,
                 float* c, std::ptrdiff_t ldc) {
  __m512 acc[MR][NG];
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_setzero_ps();
  for (int k = 0; k < Kp; k += 2) {
    __m512bh wv[NG];
    for (int g = 0; g < NG; ++g)
      wv[g] = (__m512bh)_mm512_loadu_si512(w + g * wstride + static_cast<std::ptrdiff_t>(k) * kGroup);
    for (int r = 0; r < MR; ++r) {
      std::int32_t two;
      std::memcpy(&two, a + r * lda + k, 4);
      const __m512bh av = (__m512bh)_mm512_set1_epi32(two);
      for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_dpbf16_ps(acc[r][g], av, wv[g]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < NG; ++g) _mm512_storeu_ps(c + r * ldc + g * kGroup, acc[r][g]);
}

static void gemm(int M, int g0, int g1, int Kp, const std::uint16_t* a, std::ptrdiff_t lda, const std::uint16_t* w,
                 float* c, std::ptrdiff_t ldc) {
  constexpr int MR = 8, MB = 96;
  const std::ptrdiff_t wstride = static_cast<std::ptrdiff_t>(Kp) * kGroup;
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = m0 + MB < M ? m0 + MB : M;
    for (int g = g0; g < g1; g += 2) {
      for (int m = m0; m < m1; m += MR) {
        const int rows = m1 - m < MR ? m1 - m : MR;
        if (g + 1 < g1) quant::with_rows<MR>(rows, [&](auto mr) { tile<decltype(mr)::value, 2>(Kp, a + m * lda, lda, w + g * wstride, wstride, c + m * ldc + g * kGroup, ldc); });
        else quant::with_rows<MR>(rows, [&](auto mr) { tile<decltype(mr)::value, 1>(Kp, a + m * lda, lda, w + g * wstride, wstride, c + m * ldc + g * kGroup, ldc); });
      }
    }
  }
}

const Table& table() {
  static const Table t{"avx512_bf16", &gemm};
  return t;
}

}  // namespace avx512_bf16
}  // namespace bf16
}  // namespace pyrnn
