// Shared by the quantized GEMM kernels (int8_avx512vnni.cpp, bf16_avx512.cpp): a tile height
// chosen at run time dispatched to the template instantiated for it.
#pragma once
#include <type_traits>

namespace pyrnn {
namespace quant {

// f(std::integral_constant<int, rows>{}) for 1 <= rows <= N (rows > N: N, rows < 1: 1).
template <int N, class F>
inline void with_rows(int rows, F&& f) {
  if constexpr (N > 1) {
    if (rows >= N) return f(std::integral_constant<int, N>{});
    return with_rows<N - 1>(rows, f);
  } else {
    f(std::integral_constant<int, 1>{});
  }
}

}  // namespace quant
}  // namespace pyrnn
