// bf16 GEMM, portable path (bf16.h): bf16 widened to float32, float32 products and sums.
#include "quant/bf16.h"

namespace pyrnn {
namespace bf16 {
namespace scalar {

static void gemm(int M, int g0, int g1, int Kp, const std::uint16_t* a, std::ptrdiff_t lda, const std::uint16_t* w,
                 float* c, std::ptrdiff_t ldc) {
  for (int g = g0; g < g1; ++g) {
    const std::uint16_t* wg = w + static_cast<std::ptrdiff_t>(g) * Kp * kGroup;
    for (int m = 0; m < M; ++m) {
      const std::uint16_t* am = a + m * lda;
      float acc[kGroup] = {};
      for (int k = 0; k < Kp; k += 2) {
        const float a0 = to_float(am[k]), a1 = to_float(am[k + 1]);
        const std::uint16_t* blk = wg + static_cast<std::ptrdiff_t>(k) * kGroup;
        for (int j = 0; j < kGroup; ++j) {
          const float p0 = a0 * to_float(blk[2 * j]), p1 = a1 * to_float(blk[2 * j + 1]);
          acc[j] = acc[j] + p0;
          acc[j] = acc[j] + p1;
        }
      }
      float* cm = c + m * ldc + g * kGroup;
      for (int j = 0; j < kGroup; ++j) cm[j] = acc[j];
    }
  }
}

const Table& table() {
  static const Table t{"scalar", &gemm};
  return t;
}

}  // namespace scalar
}  // namespace bf16
}  // namespace pyrnn
