// int8 GEMM, portable scalar path (int8.h).
#define PYRNN_SIMD_SCALAR
#define PYRNN_KERNEL_NS int8k_scalar
#include "quant/int8_cells.h"

namespace pyrnn {
namespace int8 {
namespace scalar {

static void gemm(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* w,
                 const std::int32_t* /*offset: sums u * w itself*/, std::int32_t* c, std::ptrdiff_t ldc) {
  for (int g = g0; g < g1; ++g) {
    const std::int8_t* wg = w + static_cast<std::ptrdiff_t>(g) * Kp * kGroup;
    for (int m = 0; m < M; ++m) {
      const std::uint8_t* am = a + m * lda;
      std::int32_t acc[kGroup] = {};
      for (int k = 0; k < Kp; k += 4) {
        const std::int8_t* blk = wg + static_cast<std::ptrdiff_t>(k) * kGroup;
        for (int j = 0; j < kGroup; ++j)
          for (int q = 0; q < 4; ++q) acc[j] += static_cast<std::int32_t>(am[k + q]) * blk[j * 4 + q];
      }
      std::int32_t* cm = c + m * ldc + g * kGroup;
      for (int j = 0; j < kGroup; ++j) cm[j] = acc[j];
    }
  }
}

const Table& table() {
  static const Table t = int8k_scalar::make_table<int8k_scalar::Simd<float>>("scalar", &gemm);
  return t;
}

}  // namespace scalar
}  // namespace int8
}  // namespace pyrnn
