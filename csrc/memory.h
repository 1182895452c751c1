// How much memory this process can have (physical RAM, a cgroup limit, /proc/meminfo), for the
// bindings' check before they allocate a call's buffers.
#pragma once
#include <string>

namespace pyrnn {

// The memory this process can ever have: physical RAM, or a cgroup (container) limit when lower.
double memory_limit_bytes();
// Memory that can be had now without the OOM killer: MemAvailable + SwapFree (Linux), or the limit.
double memory_available_bytes();
// Empty when `bytes` of new buffers fit; else the MemoryError message, naming `what`.
std::string memory_shortfall(double bytes, const std::string& what);

}  // namespace pyrnn
