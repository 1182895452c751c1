// bf16 GEMM with AVX-512F, widening the bf16 weights to float32 in registers (bf16.h): for
// AVX-512 CPUs where vdpbf16ps is absent or slow. On the Intel Xeon (Emerald Rapids) measured
// here vdpbf16ps retires one per two cycles, half the float32 FMA rate in products (the
// widening costs 2 ops per 32 products instead). bf16_avx2.cpp's scheme at twice the width:
// a group of 16 columns is one register, the activation rows are widened once per block of
// rows, and since a product of two bf16 values is exact in float32, tiles of 3 or more rows sum
// in the scalar path's order and give its results bit for bit; 1- and 2-row tiles (batch 1)
// keep 4 or 2 partial sums so the FMA latency is not the bound. Compiled with only -mavx512f.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "quant/bf16.h"
#include "quant/tiles.h"

namespace pyrnn {
namespace bf16 {
namespace avx512f {

// One k pair of the tile: rows [0, MR) of a times NG groups of widened weights, the products
// of k into partial sum SE and those of k + 1 into SO.
template <int MR, int NG, int S, int SE, int SO>
__attribute__((always_inline)) inline void pair_step(int k, const float* a, std::ptrdiff_t lda, const std::uint16_t* w,
                                                     std::ptrdiff_t wstride, __m512 (&acc)[MR][NG][S]) {
  // lane l of a group's block holds (w[l, k], w[l, k + 1]): the low half is k, the high k + 1
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  __m512 we[NG], wo[NG];
  for (int g = 0; g < NG; ++g) {
    const __m512i b = _mm512_loadu_si512(w + g * wstride + static_cast<std::ptrdiff_t>(k) * kGroup);
    we[g] = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
    wo[g] = _mm512_castsi512_ps(_mm512_and_si512(b, hi_mask));
  }
  for (int r = 0; r < MR; ++r) {
    const __m512 a0 = _mm512_set1_ps(a[r * lda + k]), a1 = _mm512_set1_ps(a[r * lda + k + 1]);
    for (int g = 0; g < NG; ++g) {
      acc[r][g][SE] = _mm512_fmadd_ps(a0, we[g], acc[r][g][SE]);
      acc[r][g][SO] = _mm512_fmadd_ps(a1, wo[g], acc[r][g][SO]);
    }
  }
}

// Rows [0, MR) of a (float32, stride lda) times NG groups of 16 columns, in S partial sums per
// accumulator (S = 4: pairs alternate between sums 0, 1 and 2, 3).
template <int MR, int NG, int S>
static void tile(int Kp, const float* a, std::ptrdiff_t lda, const std::uint16_t* w, std::ptrdiff_t wstride, float* c,
                 std::ptrdiff_t ldc) {
  static_assert(S == 1 || S == 2 || S == 4, "partial sums");
  __m512 acc[MR][NG][S];
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < NG; ++g)
      for (int s = 0; s < S; ++s) acc[r][g][s] = _mm512_setzero_ps();
  int k = 0;
  if constexpr (S == 4)
    for (; k + 4 <= Kp; k += 4) {
      pair_step<MR, NG, S, 0, 1>(k, a, lda, w, wstride, acc);
      pair_step<MR, NG, S, 2, 3>(k + 2, a, lda, w, wstride, acc);
    }
  for (; k < Kp; k += 2) pair_step<MR, NG, S, 0, S == 1 ? 0 : 1>(k, a, lda, w, wstride, acc);
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < NG; ++g) {
      __m512 sum = acc[r][g][0];
      if constexpr (S == 2) sum = _mm512_add_ps(sum, acc[r][g][1]);
      if constexpr (S == 4)
        sum = _mm512_add_ps(_mm512_add_ps(sum, acc[r][g][1]), _mm512_add_ps(acc[r][g][2], acc[r][g][3]));
      _mm512_storeu_ps(c + r * ldc + g * kGroup, sum);
    }
}

// A tile of `rows` rows (1 to 8): 1 and 2 rows with partial sums, 3 and more with one sum.
template <int NG>
static void tile_rows(int rows, int Kp, const float* a, std::ptrdiff_t lda, const std::uint16_t* w,
                      std::ptrdiff_t wstride, float* c, std::ptrdiff_t ldc) {
  if (rows == 1) return tile<1, NG, 4>(Kp, a, lda, w, wstride, c, ldc);
  if (rows == 2) return tile<2, NG, 2>(Kp, a, lda, w, wstride, c, ldc);
  quant::with_rows<8>(rows, [&](auto mr) { tile<decltype(mr)::value, NG, 1>(Kp, a, lda, w, wstride, c, ldc); });
}

// Widens rows [0, M) of Kp bf16 values (stride lda) into float32 rows of stride Kp.
static void widen_rows(int M, int Kp, const std::uint16_t* a, std::ptrdiff_t lda, float* out) {
  for (int m = 0; m < M; ++m) {
    const std::uint16_t* src = a + m * lda;
    float* dst = out + static_cast<std::ptrdiff_t>(m) * Kp;
    int k = 0;
    for (; k + 16 <= Kp; k += 16) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + k));
      _mm512_storeu_ps(dst + k, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
    for (; k < Kp; ++k) dst[k] = to_float(src[k]);
  }
}

static void gemm(int M, int g0, int g1, int Kp, const std::uint16_t* a, std::ptrdiff_t lda, const std::uint16_t* w,
                 float* c, std::ptrdiff_t ldc) {
  constexpr int MR = 8;
  // rows widened per block: up to 64, and at most 256 KB of them (they stay in L2 across the groups)
  const int MB = std::max(MR, std::min(64, 65536 / std::max(Kp, 1) / MR * MR));
  const std::ptrdiff_t wstride = static_cast<std::ptrdiff_t>(Kp) * kGroup;
  std::vector<float> wide(static_cast<std::size_t>(std::min(M, MB)) * Kp);
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = std::min(M, m0 + MB);
    widen_rows(m1 - m0, Kp, a + m0 * lda, lda, wide.data());
    for (int g = g0; g < g1; g += 2) {  // two groups per tile: each broadcast row value feeds 4 FMAs
      const std::uint16_t* wg = w + g * wstride;
      for (int m = m0; m < m1; m += MR) {
        const float* am = wide.data() + static_cast<std::ptrdiff_t>(m - m0) * Kp;
        float* cm = c + m * ldc + g * kGroup;
        const int rows = std::min(MR, m1 - m);
        if (g + 1 < g1) tile_rows<2>(rows, Kp, am, Kp, wg, wstride, cm, ldc);
        else tile_rows<1>(rows, Kp, am, Kp, wg, wstride, cm, ldc);
      }
    }
  }
}

const Table& table() {
  static const Table t{"avx512f", &gemm};
  return t;
}

}  // namespace avx512f
}  // namespace bf16
}  // namespace pyrnn
