// Releasing the GIL around compute, safely at interpreter exit. Plain C++ here: only
// python_exit.cpp sees Python's C API (and the bindings, which include pybind11).
#pragma once
#include "parallel.h"

namespace pyrnn {

// Releases the GIL, like py::gil_scoped_release, but safe at interpreter exit. A daemon thread
// still computing when the interpreter finalizes must not take the GIL back: CPython ends such
// a thread with pthread_exit, whose forced unwinding through a (noexcept) destructor calls
// std::terminate and aborts the exiting process. Such a thread parks instead; exit ends it.
class NoGil {
 public:
  NoGil();
  NoGil(const NoGil&) = delete;
  NoGil& operator=(const NoGil&) = delete;
  ~NoGil();

 private:
  void* state_;  // the PyThreadState* saved by PyEval_SaveThread
};

// The GIL released and the pool held (set_num_threads waits) for the duration of a computation.
class Compute {
 private:
  NoGil nogil_;  // released first, so that waiting for the pool never holds the GIL
  PoolUse use_;
};

}  // namespace pyrnn
