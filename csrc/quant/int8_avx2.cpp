// int8 GEMM with AVX2: vpmaddubsw (u8 x s8 pairs summed to int16, saturating) + vpmaddwd.
// Saturation is avoided by splitting each activation byte u = (u & 0x7f) + (u & 0x80): a pair of
// low parts sums to at most 2 * 127 * 127 = 32258 and a pair of high parts is 128 * (w0 + w1),
// at most 32512 in magnitude (weights are clamped to [-127, 127]), so both are exact in int16 and
// the int32 sums equal vpdpbusd's. Compiled with only -mavx2 (CMakeLists.txt).
#include <immintrin.h>

#include <cstring>

#define PYRNN_SIMD_AVX2
#define PYRNN_KERNEL_NS int8k_avx2
#include "quant/int8_cells.h"

namespace pyrnn {
namespace int8 {
namespace avx2 {

// MR rows x one group of 16 output columns (two registers of 8) over the whole Kp.
template <int MR>
static void tile(int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w, std::int32_t* c,
                 std::ptrdiff_t ldc) {
  const __m256i ones = _mm256_set1_epi16(1), lo_mask = _mm256_set1_epi8(0x7f), hi_mask = _mm256_set1_epi8(-128);
  __m256i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int k = 0; k < Kp; k += 4) {
    const std::int8_t* blk = w + static_cast<std::ptrdiff_t>(k) * kGroup;
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32));
    for (int r = 0; r < MR; ++r) {
      std::int32_t four;
      std::memcpy(&four, a + r * lda + k, 4);
      const __m256i av = _mm256_set1_epi32(four);
      const __m256i lo = _mm256_and_si256(av, lo_mask), hi = _mm256_and_si256(av, hi_mask);
      const __m256i s0 = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, w0), ones),
                                          _mm256_madd_epi16(_mm256_maddubs_epi16(hi, w0), ones));
      const __m256i s1 = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, w1), ones),
                                          _mm256_madd_epi16(_mm256_maddubs_epi16(hi, w1), ones));
      acc[r][0] = _mm256_add_epi32(acc[r][0], s0);
      acc[r][1] = _mm256_add_epi32(acc[r][1], s1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc + 8), acc[r][1]);
  }
}

static void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 std::int32_t* c, std::ptrdiff_t ldc) {
  constexpr int MR = 4, MB = 96;
  const std::ptrdiff_t wstride = static_cast<std::ptrdiff_t>(Kp) * kGroup;
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = m0 + MB < M ? m0 + MB : M;
    for (int g = g0; g < g1; ++g) {
      for (int m = m0; m < m1; m += MR) {
        const int rows = m1 - m < MR ? m1 - m : MR;
        const std::uint8_t* am = a + m * lda;
        std::int32_t* cm = c + m * ldc + g * kGroup;
        switch (rows) {
          case 4: tile<4>(Kp, am, lda, w + g * wstride, cm, ldc); break;
          case 3: tile<3>(Kp, am, lda, w + g * wstride, cm, ldc); break;
          case 2: tile<2>(Kp, am, lda, w + g * wstride, cm, ldc); break;
          default: tile<1>(Kp, am, lda, w + g * wstride, cm, ldc); break;
        }
      }
    }
  }
}

const Table& table() {
  static const Table t = int8k_avx2::make_table<int8k_avx2::Simd<float>>("avx2", &gemm);
  return t;
}

}  // namespace avx2
}  // namespace int8
}  // namespace pyrnn
