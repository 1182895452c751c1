// int8 GEMM with AVX-512 VNNI (vpdpbusd: u8 x s8, four products summed into each int32 lane).
// Compiled with only -mavx512f -mavx512bw -mavx512vnni (CMakeLists.txt); selected only when cpuid
// reports AVX512-VNNI (int8_layer.cpp).
#include <immintrin.h>

#include <cstring>

#include "quant/tiles.h"

#define PYRNN_SIMD_AVX512
#define PYRNN_KERNEL_NS int8k_avx512
#include "quant/int8_cells.h"

namespace pyrnn {
namespace int8 {
namespace avx512_vnni {

// MR rows x NG groups of 16 output columns, over the whole Kp.
template <int MR, int NG>
static void tile(int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w, std::ptrdiff_t wstride,
                 std::int32_t* c, std::ptrdiff_t ldc) {
  __m512i acc[MR][NG];
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_setzero_si512();
  for (int k = 0; k < Kp; k += 4) {
    __m512i wv[NG];
    for (int g = 0; g < NG; ++g) wv[g] = _mm512_loadu_si512(w + g * wstride + static_cast<std::ptrdiff_t>(k) * kGroup);
    for (int r = 0; r < MR; ++r) {
      std::int32_t four;
      std::memcpy(&four, a + r * lda + k, 4);
      const __m512i av = _mm512_set1_epi32(four);
      for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_dpbusd_epi32(acc[r][g], av, wv[g]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < NG; ++g) _mm512_storeu_si512(c + r * ldc + g * kGroup, acc[r][g]);
}

static void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 const std::int32_t* /*offset: sums u * w itself*/, std::int32_t* c, std::ptrdiff_t ldc) {
  constexpr int MR = 8, MB = 96;  // rows per tile; rows per block (its activations stay in L2)
  const std::ptrdiff_t wstride = static_cast<std::ptrdiff_t>(Kp) * kGroup;
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = m0 + MB < M ? m0 + MB : M;
    for (int g = g0; g < g1; g += 2) {
      const bool two = g + 1 < g1;
      for (int m = m0; m < m1; m += MR) {
        const int rows = m1 - m < MR ? m1 - m : MR;
        if (two) quant::with_rows<MR>(rows, [&](auto mr) { tile<decltype(mr)::value, 2>(Kp, a + m * lda, lda, w + g * wstride, wstride, c + m * ldc + g * kGroup, ldc); });
        else quant::with_rows<MR>(rows, [&](auto mr) { tile<decltype(mr)::value, 1>(Kp, a + m * lda, lda, w + g * wstride, wstride, c + m * ldc + g * kGroup, ldc); });
      }
    }
  }
}

const Table& table() {
  static const Table t = int8k_avx512::make_table<int8k_avx512::Simd<float>>("avx512_vnni", &gemm);
  return t;
}

}  // namespace avx512_vnni
}  // namespace int8
}  // namespace pyrnn
