// Chooses the kernel table once per process, from cpu.h's active_isa().
#include "cpu.h"
#include "kernels/kernels.h"

namespace pyrnn {

template <>
const Kernels<float>& kernels<float>() {
  static const Kernels<float>& k = [&]() -> const Kernels<float>& {
    switch (active_isa()) {
#if defined(PYRNN_X86)
      case Isa::avx512: return avx512::table_f32();
      case Isa::avx2: return avx2::table_f32();
#endif
      default: return scalar::table_f32();
    }
  }();
  return k;
}

template <>
const Kernels<double>& kernels<double>() {
  static const Kernels<double>& k = [&]() -> const Kernels<double>& {
    switch (active_isa()) {
#if defined(PYRNN_X86)
      case Isa::avx512: return avx512::table_f64();
      case Isa::avx2: return avx2::table_f64();
#endif
      default: return scalar::table_f64();
    }
  }();
  return k;
}

}  // namespace pyrnn
