// int8 GEMM with AVX2: vpmaddubsw (u8 x s8 pairs summed to int16, saturating) + vpmaddwd.
// The activations are stored as u = q + 128 (q in [-127, 127]; padding u = 0 meets zero
// weights); this kernel sums q * w instead and starts each column at its offset 128 * sum_k w,
// which gives the same int32 sums u * w as vpdpbusd. q * w pairs are taken as |q| (unsigned)
// times w with q's sign (vpsignb), at most 2 * 128 * 127 = 32512 in magnitude (|q| = 128 only at
// u = 0) for weights in [-127, 127]: exact in int16 for any byte.
// Compiled with only -mavx2 (CMakeLists.txt).
#include "quant/int8_tiles256.h"

#define PYRNN_SIMD_AVX2
#define PYRNN_KERNEL_NS int8k_avx2
#include "quant/int8_cells.h"

namespace pyrnn {
namespace int8 {
namespace avx2 {

static void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 const std::int32_t* offset, std::int32_t* c, std::ptrdiff_t ldc) {
  const __m256i ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8(-128);
  tiles256::gemm<4>(M, g0, g1, Kp, a, lda, w, offset, c, ldc, [&](__m256i acc, __m256i av, __m256i wv) {
    const __m256i q = _mm256_xor_si256(av, bias);  // u - 128 (the same for both registers of a row)
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(wv, q));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
  });
}

const Table& table() {
  static const Table t = int8k_avx2::make_table<int8k_avx2::Simd<float>>("avx2", &gemm);
  return t;
}

}  // namespace avx2
}  // namespace int8
}  // namespace pyrnn
