// The tally of CacheAligned storage (aligned.h).
#include "aligned.h"

#include <atomic>

namespace pyrnn {
namespace {
std::atomic<std::ptrdiff_t> current{0}, peak{0}, base{0};
}  // namespace

void count_scratch(std::ptrdiff_t bytes) {
  const std::ptrdiff_t now = current.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::ptrdiff_t seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

ScratchStats scratch_stats() {
  return {static_cast<std::size_t>(current.load()), static_cast<std::size_t>(peak.load() - base.load())};
}

void reset_scratch_peak() {
  base.store(current.load());
  peak.store(base.load());
}

}  // namespace pyrnn
