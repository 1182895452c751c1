// memory.h: the memory limit (sysconf, cgroup v2 and v1 files), what is available now
// (/proc/meminfo), and the check of a request against them.
#include "memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace pyrnn {

// The memory this process can ever have: physical RAM, or a cgroup (container) limit when
// lower. Buffers beyond it cannot be allocated and touched: asking for them is refused up
// front with MemoryError, rather than letting the kernel's overcommit accept the request and
// the OOM killer end the process when the pages are touched.
double memory_limit_bytes() {
  static const double limit = [] {
    double best = 0;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) best = static_cast<double>(pages) * static_cast<double>(page);
    for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
      std::ifstream f(path);
      double v = 0;
      if (f >> v && v > 0 && (best == 0 || v < best)) best = v;  // "max" (no limit) fails to parse
    }
    return best > 0 ? best : 1e300;
  }();
  return limit;
}

namespace {
std::string gigabytes(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g GB", bytes / 1e9);
  return buf;
}
}  // namespace

// Memory that can be had now without the OOM killer: MemAvailable + SwapFree (Linux), or the limit.
double memory_available_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kb = 0, total = 0;
  bool found = false;
  while (f >> key >> kb) {
    if (key == "MemAvailable:" || key == "SwapFree:") {
      total += kb * 1024.0;
      found = true;
    }
    f.ignore(64, '\n');
  }
  return found ? std::min(total, memory_limit_bytes()) : memory_limit_bytes();
}

// A request fails when it is more than the process can ever have, or (above 1 GB, where
// reading /proc is cheap next to the work) more than is available right now; with a 10% margin
// for everything else.
std::string memory_shortfall(double bytes, const std::string& what) {
  constexpr double kMargin = 0.9;
  const double limit = memory_limit_bytes();
  const double available = bytes > 1e9 ? memory_available_bytes() : limit;
  if (bytes <= kMargin * limit && bytes <= kMargin * available) return {};
  const std::string have = bytes > limit ? gigabytes(limit) + " of memory this process can use"
                                         : gigabytes(available) + " of memory available now";
  return what + ": needs about " + gigabytes(bytes) + " of new buffers, more than 90% of the " + have;
}

}  // namespace pyrnn
