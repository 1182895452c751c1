// CPU feature detection and the choice of kernel set, made once per process.
#pragma once
#include <string>

namespace pyrnn {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
bool isa_supported(Isa isa);   // does this CPU (and OS) run it?
Isa best_isa();                // the widest supported ISA
// The ISA in use: PYRNN_ISA=scalar|avx2|avx512 if set, else best_isa().
// Throws std::invalid_argument for an unknown or unsupported PYRNN_ISA.
Isa active_isa();

// Flush denormals to zero (FTZ/DAZ) for the lifetime of the guard, on the calling thread.
// Denormal arithmetic is 10-100x slower and RNN states decay into that range.
class DenormalGuard {
 public:
  DenormalGuard();
  ~DenormalGuard();
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;
 private:
  unsigned saved_ = 0;
};
void enable_flush_denormals();  // permanent, for pool threads that only run kernels

}  // namespace pyrnn
