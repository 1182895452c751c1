// bf16 GEMM with AVX2 + FMA, for CPUs without AVX512-BF16 (bf16.h): the weights stay bf16 in
// memory (half the bytes to read, which is what bounds batch-1 and streaming steps) and are
// widened in registers (a bf16 is the top half of a float32); the activation rows are widened
// once per call. A product of two bf16 values is exact in float32, so each FMA equals the
// scalar path's multiply-then-add: tiles of 3 or 4 rows sum in the scalar path's order and give
// its results bit for bit (products in the normal range); 1- and 2-row tiles (batch 1) split
// each sum over k into 4 or 2 partial sums, so that the FMA latency is not the bound. Compiled
// with only -mavx2 -mfma.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "quant/bf16.h"

namespace pyrnn {
namespace bf16 {
namespace avx2 {

// One k pair of the tile: rows [0, MR) of a times the widened weights, the products of k into
// partial sum SE and those of k + 1 into SO.
template <int MR, int S, int SE, int SO>
__attribute__((always_inline)) inline void pair_step(int k, const float* a, std::ptrdiff_t lda,
                                                     const std::uint16_t* w, __m256 (&acc)[MR][2][S]) {
  // lane l of block j holds (w[8j + l, k], w[8j + l, k + 1]): the low half is k, the high k + 1
  const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  const std::uint16_t* blk = w + static_cast<std::ptrdiff_t>(k) * kGroup;
  const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
  const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16));
  const __m256 we[2] = {_mm256_castsi256_ps(_mm256_slli_epi32(b0, 16)), _mm256_castsi256_ps(_mm256_slli_epi32(b1, 16))};
  const __m256 wo[2] = {_mm256_castsi256_ps(_mm256_and_si256(b0, hi_mask)),
                        _mm256_castsi256_ps(_mm256_and_si256(b1, hi_mask))};
  for (int r = 0; r < MR; ++r) {
    const __m256 a0 = _mm256_broadcast_ss(a + r * lda + k), a1 = _mm256_broadcast_ss(a + r * lda + k + 1);
    for (int j = 0; j < 2; ++j) {
      acc[r][j][SE] = _mm256_fmadd_ps(a0, we[j], acc[r][j][SE]);
      acc[r][j][SO] = _mm256_fmadd_ps(a1, wo[j], acc[r][j][SO]);
    }
  }
}

// Rows [0, MR) of a (float32, stride lda) times one group of 16 columns, in S partial sums per
// accumulator (S = 4: pairs alternate between sums 0, 1 and 2, 3).
template <int MR, int S>
static void tile(int Kp, const float* a, std::ptrdiff_t lda, const std::uint16_t* w, float* c,
                 std::ptrdiff_t ldc) {
  static_assert(S == 1 || S == 2 || S == 4, "partial sums");
  __m256 acc[MR][2][S];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 2; ++j)
      for (int s = 0; s < S; ++s) acc[r][j][s] = _mm256_setzero_ps();
  int k = 0;
  if constexpr (S == 4)
    for (; k + 4 <= Kp; k += 4) {
      pair_step<MR, S, 0, 1>(k, a, lda, w, acc);
      pair_step<MR, S, 2, 3>(k + 2, a, lda, w, acc);
    }
  for (; k < Kp; k += 2) pair_step<MR, S, 0, S == 1 ? 0 : 1>(k, a, lda, w, acc);
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 2; ++j) {
      __m256 sum = acc[r][j][0];
      if constexpr (S == 2) sum = _mm256_add_ps(sum, acc[r][j][1]);
      if constexpr (S == 4)
        sum = _mm256_add_ps(_mm256_add_ps(sum, acc[r][j][1]), _mm256_add_ps(acc[r][j][2], acc[r][j][3]));
      _mm256_storeu_ps(c + r * ldc + j * 8, sum);
    }
}

// Widens rows [0, M) of Kp bf16 values (stride lda) into float32 rows of stride Kp.
static void widen_rows(int M, int Kp, const std::uint16_t* a, std::ptrdiff_t lda, float* out) {
  for (int m = 0; m < M; ++m) {
    const std::uint16_t* src = a + m * lda;
    float* dst = out + static_cast<std::ptrdiff_t>(m) * Kp;
    int k = 0;
    for (; k + 8 <= Kp; k += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k));
      _mm256_storeu_ps(dst + k, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
    for (; k < Kp; ++k) dst[k] = to_float(src[k]);
  }
}

static void gemm(int M, int g0, int g1, int Kp, const std::uint16_t* a, std::ptrdiff_t lda, const std::uint16_t* w,
                 float* c, std::ptrdiff_t ldc) {
  constexpr int MR = 4;
  // rows widened per block: up to 64, and at most 256 KB of them (they stay in L2 across the groups)
  const int MB = std::max(MR, std::min(64, 65536 / std::max(Kp, 1) / MR * MR));
  const std::ptrdiff_t wstride = static_cast<std::ptrdiff_t>(Kp) * kGroup;
  std::vector<float> wide(static_cast<std::size_t>(std::min(M, MB)) * Kp);
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = std::min(M, m0 + MB);
    widen_rows(m1 - m0, Kp, a + m0 * lda, lda, wide.data());
    for (int g = g0; g < g1; ++g) {
      for (int m = m0; m < m1; m += MR) {
        const float* am = wide.data() + static_cast<std::ptrdiff_t>(m - m0) * Kp;
        const std::uint16_t* wg = w + g * wstride;
        float* cm = c + m * ldc + g * kGroup;
        switch (std::min(MR, m1 - m)) {
          case 4: tile<4, 1>(Kp, am, Kp, wg, cm, ldc); break;
          case 3: tile<3, 1>(Kp, am, Kp, wg, cm, ldc); break;
          case 2: tile<2, 2>(Kp, am, Kp, wg, cm, ldc); break;
          default: tile<1, 4>(Kp, am, Kp, wg, cm, ldc); break;
        }
      }
    }
  }
}

const Table& table() {
  static const Table t{"avx2", &gemm};
  return t;
}

}  // namespace avx2
}  // namespace bf16
}  // namespace pyrnn
