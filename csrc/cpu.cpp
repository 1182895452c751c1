#include "cpu.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#if defined(PYRNN_X86)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace pyrnn {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

#if defined(PYRNN_X86)
static unsigned long long read_xcr0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

bool isa_supported(Isa isa) {
  if (isa == Isa::scalar) return true;
#if defined(PYRNN_X86)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12);
  if (!osxsave || !fma) return false;
  const unsigned long long xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) return false;  // OS saves XMM and YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool avx2 = b & (1u << 5);
  if (isa == Isa::avx2) return avx2;
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));  // F DQ BW VL
  return avx2 && avx512 && (xcr0 & 0xe0) == 0xe0;  // OS saves opmask and ZMM state
#else
  return false;
#endif
}

Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

static Isa choose_isa() {
  const char* env = std::getenv("PYRNN_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (std::strcmp(env, isa_name(isa)) == 0) {
      if (!isa_supported(isa))
        throw std::invalid_argument(std::string("PYRNN_ISA=") + env + " but this CPU does not support it; supported up to " +
                                    isa_name(best_isa()));
      return isa;
    }
  }
  throw std::invalid_argument(std::string("PYRNN_ISA must be one of scalar, avx2, avx512; got '") + env + "'");
}

Isa active_isa() {
  static const Isa isa = choose_isa();
  return isa;
}

#if defined(PYRNN_X86)
static constexpr unsigned kFtzDaz = 0x8040;  // MXCSR flush-to-zero | denormals-are-zero
DenormalGuard::DenormalGuard() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtzDaz); }
DenormalGuard::~DenormalGuard() { _mm_setcsr(saved_); }
void enable_flush_denormals() { _mm_setcsr(_mm_getcsr() | kFtzDaz); }
#else
DenormalGuard::DenormalGuard() {}
DenormalGuard::~DenormalGuard() {}
void enable_flush_denormals() {}
#endif

}  // namespace pyrnn
