// avx512 kernels: the kernel templates (table.h) instantiated with avx512 vectors. This file is
// compiled with only this ISA's flags (CMakeLists.txt).
#define PYRNN_SIMD_AVX512
#define PYRNN_KERNEL_NS avx512
#include "table.h"

namespace pyrnn {
namespace avx512 {

const Kernels<float>& table_f32() {
  static const Kernels<float> k = make_kernels<float, 12, 2>();
  return k;
}
const Kernels<double>& table_f64() {
  static const Kernels<double> k = make_kernels<double, 12, 2>();
  return k;
}

}  // namespace avx512
}  // namespace pyrnn
