// avx2 kernels: the kernel templates (table.h) instantiated with avx2 vectors. This file is
// compiled with only this ISA's flags (CMakeLists.txt).
#define PYRNN_SIMD_AVX2
#define PYRNN_KERNEL_NS avx2
#include "table.h"

namespace pyrnn {
namespace avx2 {

const Kernels<float>& table_f32() {
  static const Kernels<float> k = make_kernels<float, 6, 2>();
  return k;
}
const Kernels<double>& table_f64() {
  static const Kernels<double> k = make_kernels<double, 6, 2>();
  return k;
}

}  // namespace avx2
}  // namespace pyrnn
