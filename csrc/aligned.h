// std::vector with 64-byte aligned storage: packed panels start on a cache line, so vector
// loads never straddle two lines.
#pragma once
#include <algorithm>
#include <cstddef>
#include <limits>
#include <new>
#include <vector>

namespace pyrnn {

template <class T>
struct CacheAligned {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheAligned() = default;
  template <class U>
  CacheAligned(const CacheAligned<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, kAlign); }
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
  explicit Scratch(std::size_t n) : data_(n ? CacheAligned<T>().allocate(n) : nullptr) {
#ifdef PYRNN_POISON_SCRATCH
    std::fill(data_, data_ + n, std::numeric_limits<T>::quiet_NaN());
#endif
  }
  ~Scratch() {
    if (data_) CacheAligned<T>().deallocate(data_, 0);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() const { return data_; }

 private:
  T* data_;
};

}  // namespace pyrnn
