// std::vector with 64-byte aligned storage: packed panels start on a cache line, so vector
// loads never straddle two lines.
#pragma once
#include <algorithm>
#include <cstddef>
#include <limits>
#include <new>
#include <vector>

namespace pyrnn {

// Bytes held in CacheAligned storage (every buffer the drivers and the GEMM allocate for
// themselves): now, and at the most since reset_scratch_peak() beyond what was held then. The
// test of the drivers' scratch sizes (layer.h: scratch_bytes) compares a call's peak with them.
void count_scratch(std::ptrdiff_t bytes);  // + on allocation, - on release
struct ScratchStats {
  std::size_t current, peak;
};
ScratchStats scratch_stats();
void reset_scratch_peak();

template <class T>
struct CacheAligned {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheAligned() = default;
  template <class U>
  CacheAligned(const CacheAligned<U>&) {}
  T* allocate(std::size_t n) {
    T* p = static_cast<T*>(::operator new(n * sizeof(T), kAlign));
    count_scratch(static_cast<std::ptrdiff_t>(n * sizeof(T)));
    return p;
  }
  void deallocate(T* p, std::size_t n) {
    count_scratch(-static_cast<std::ptrdiff_t>(n * sizeof(T)));
    ::operator delete(p, kAlign);
  }
  template <class U>
  bool operator==(const CacheAligned<U>&) const { return true; }
  template <class U>
  bool operator!=(const CacheAligned<U>&) const { return false; }
};

template <class T>
using AlignedVector = std::vector<T, CacheAligned<T>>;

// A 64-byte aligned buffer left uninitialised, for scratch written before it is read: a vector
// would zero it first, one more pass over tens of MB per call. Sanitizer builds
// (PYRNN_POISON_SCRATCH) fill it with NaN, so a read before a write shows in the results.
template <class T>
class Scratch {
 public:
  explicit Scratch(std::size_t n) : size_(n), data_(n ? CacheAligned<T>().allocate(n) : nullptr) {
#ifdef PYRNN_POISON_SCRATCH
    std::fill(data_, data_ + n, std::numeric_limits<T>::quiet_NaN());
#endif
  }
  ~Scratch() {
    if (data_) CacheAligned<T>().deallocate(data_, size_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() const { return data_; }

 private:
  std::size_t size_;
  T* data_;
};

}  // namespace pyrnn
