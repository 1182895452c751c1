// int8 GEMM with AVX-VNNI (the VEX-encoded vpdpbusd on 256-bit registers: AVX2 machines such as
// Alder Lake, Zen 4/5): u8 x s8, four products summed into each int32 lane, exactly like the
// AVX-512 VNNI kernel. Compiled with only -mavx2 -mfma -mf16c -mavxvnni (CMakeLists.txt, when the
// compiler knows -mavxvnni); selected only when cpuid reports AVX-VNNI (int8_layer.cpp).
#include "quant/int8_tiles256.h"

#define PYRNN_SIMD_AVX2
#define PYRNN_KERNEL_NS int8k_avxvnni
#include "quant/int8_cells.h"

namespace pyrnn {
namespace int8 {
namespace avx_vnni {

static void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 const std::int32_t* /*offset: sums u * w itself*/, std::int32_t* c, std::ptrdiff_t ldc) {
  // 6 rows: 12 accumulators + 2 weight registers + 1 broadcast of the 16 ymm registers
  tiles256::gemm<6>(M, g0, g1, Kp, a, lda, w, nullptr, c, ldc,
                    [](__m256i acc, __m256i av, __m256i wv) { return _mm256_dpbusd_avx_epi32(acc, av, wv); });
}

const Table& table() {
  static const Table t = int8k_avxvnni::make_table<int8k_avxvnni::Simd<float>>("avx_vnni", &gemm);
  return t;
}

}  // namespace avx_vnni
}  // namespace int8
}  // namespace pyrnn
