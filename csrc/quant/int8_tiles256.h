// The int8 GEMM over 256-bit registers shared by int8_avx2.cpp (vpmaddubsw + vpmaddwd) and
// int8_avxvnni.cpp (VEX vpdpbusd): the same tiles, only the four-byte dot product differs.
// Included only by those files, each compiled with its own ISA flags.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/int8.h"
#include "quant/tiles.h"

namespace pyrnn {
namespace int8 {
namespace tiles256 {

// MR rows x one group of 16 output columns (two registers of 8) over the whole Kp;
// dot(acc, a4, w) adds the products of the quads of a4 and the s8 quads of w into acc's lanes,
// which start at init's 16 values (zero if init is null).
template <int MR, class Dot>
inline void tile(int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w, const std::int32_t* init,
                 std::int32_t* c, std::ptrdiff_t ldc, Dot dot) {
  const __m256i init0 = init ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init)) : _mm256_setzero_si256();
  const __m256i init1 = init ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init + 8)) : _mm256_setzero_si256();
  __m256i acc[MR][2];
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = init0;
    acc[r][1] = init1;
  }
  for (int k = 0; k < Kp; k += 4) {
    const std::int8_t* blk = w + static_cast<std::ptrdiff_t>(k) * kGroup;
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32));
    for (int r = 0; r < MR; ++r) {
      std::int32_t four;
      std::memcpy(&four, a + r * lda + k, 4);
      const __m256i av = _mm256_set1_epi32(four);
      acc[r][0] = dot(acc[r][0], av, w0);
      acc[r][1] = dot(acc[r][1], av, w1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc + 8), acc[r][1]);
  }
}

// int8.h's GemmFn over tiles of up to MR rows, in blocks of 96 rows (their activations stay in L2);
// init: null, or 16 starting values per group (the columns' offsets).
template <int MR, class Dot>
inline void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 const std::int32_t* init, std::int32_t* c, std::ptrdiff_t ldc, Dot dot) {
  constexpr int MB = 96;
  const std::ptrdiff_t wstride = static_cast<std::ptrdiff_t>(Kp) * kGroup;
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = m0 + MB < M ? m0 + MB : M;
    for (int g = g0; g < g1; ++g) {
      for (int m = m0; m < m1; m += MR) {
        const int rows = m1 - m < MR ? m1 - m : MR;
        quant::with_rows<MR>(rows, [&](auto mr) {
          tile<decltype(mr)::value>(Kp, a + m * lda, lda, w + g * wstride, init ? init + g * kGroup : nullptr,
                                    c + m * ldc + g * kGroup, ldc, dot);
        });
      }
    }
  }
}

}  // namespace tiles256
}  // namespace int8
}  // namespace pyrnn
