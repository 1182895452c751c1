// int8 GEMM with AVX2: vpmaddubsw (u8 x s8 pairs summed to int16, saturating) + vpmaddwd.
// Saturation is avoided by splitting each activation byte u = (u & 0x7f) + (u & 0x80): a pair of
// low parts sums to at most 2 * 127 * 127 = 32258 and a pair of high parts is 128 * (w0 + w1),
// at most 32512 in magnitude (weights are clamped to [-127, 127]), so both are exact in int16 and
// the int32 sums equal vpdpbusd's. Compiled with only -mavx2 (CMakeLists.txt).
#include "quant/int8_tiles256.h"

#define PYRNN_SIMD_AVX2
#define PYRNN_KERNEL_NS int8k_avx2
#include "quant/int8_cells.h"

namespace pyrnn {
namespace int8 {
namespace avx2 {

static void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 std::int32_t* c, std::ptrdiff_t ldc) {
  const __m256i ones = _mm256_set1_epi16(1), lo_mask = _mm256_set1_epi8(0x7f), hi_mask = _mm256_set1_epi8(-128);
  tiles256::gemm<4>(M, g0, g1, Kp, a, lda, w, c, ldc, [&](__m256i acc, __m256i av, __m256i wv) {
    const __m256i lo = _mm256_and_si256(av, lo_mask), hi = _mm256_and_si256(av, hi_mask);
    const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, wv), ones),
                                       _mm256_madd_epi16(_mm256_maddubs_epi16(hi, wv), ones));
    return _mm256_add_epi32(acc, s);
  });
}

const Table& table() {
  static const Table t = int8k_avx2::make_table<int8k_avx2::Simd<float>>("avx2", &gemm);
  return t;
}

}  // namespace avx2
}  // namespace int8
}  // namespace pyrnn
