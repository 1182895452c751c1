// scalar kernels: the kernel templates (table.h) instantiated with scalar vectors. This file is
// compiled with only this ISA's flags (CMakeLists.txt).
#define PYRNN_SIMD_SCALAR
#define PYRNN_KERNEL_NS scalar
#include "table.h"

namespace pyrnn {
namespace scalar {

const Kernels<float>& table_f32() {
  static const Kernels<float> k = make_kernels<float, 4, 4>();
  return k;
}
const Kernels<double>& table_f64() {
  static const Kernels<double> k = make_kernels<double, 4, 4>();
  return k;
}

}  // namespace scalar
}  // namespace pyrnn
