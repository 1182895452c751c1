// int8 GEMM with AVX-VNNI (the VEX-encoded vpdpbusd on 256-bit registers: AVX2 machines such as
// Alder Lake, Zen 4/5): u8 x s8, four products summed into each int32 lane, exactly like the
// AVX-512 VNNI kernel. Compiled with only -mavx2 -mfma -mf16c -mavxvnni (CMakeLists.txt, when the
// compiler knows -mavxvnni); selected only when cpuid reports AVX-VNNI (int8_layer.cpp).
#include <immintrin.h>

#include <cstring>

#include "quant/tiles.h"

#define PYRNN_SIMD_AVX2
#define PYRNN_KERNEL_NS int8k_avxvnni
#include "quant/int8_cells.h"

namespace pyrnn {
namespace int8 {
namespace avx_vnni {

// MR rows x one group of 16 output columns (two registers of 8), over the whole Kp.
template <int MR>
static void tile(int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w, std::int32_t* c,
                 std::ptrdiff_t ldc) {
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
      acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], av, w0);
      acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], av, w1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc + 8), acc[r][1]);
  }
}

static void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 std::int32_t* c, std::ptrdiff_t ldc) {
  constexpr int MR = 6, MB = 96;  // 12 accumulators + 2 weight registers + 1 broadcast of 16 ymm
  const std::ptrdiff_t wstride = static_cast<std::ptrdiff_t>(Kp) * kGroup;
  for (int m0 = 0; m0 < M; m0 += MB) {
    const int m1 = m0 + MB < M ? m0 + MB : M;
    for (int g = g0; g < g1; ++g) {
      for (int m = m0; m < m1; m += MR) {
        const int rows = m1 - m < MR ? m1 - m : MR;
        quant::with_rows<MR>(rows, [&](auto mr) {
          tile<decltype(mr)::value>(Kp, a + m * lda, lda, w + g * wstride, c + m * ldc + g * kGroup, ldc);
        });
      }
    }
  }
}

const Table& table() {
  static const Table t = int8k_avxvnni::make_table<int8k_avxvnni::Simd<float>>("avx_vnni", &gemm);
  return t;
}

}  // namespace avx_vnni
}  // namespace int8
}  // namespace pyrnn
