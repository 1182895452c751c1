// NoGil (python_exit.h): the GIL released, and at interpreter exit never taken back.
#include <Python.h>

#include <cxxabi.h>
#include <unistd.h>

#include "python_exit.h"

namespace pyrnn {
namespace {

[[noreturn]] void park_forever() {
  for (;;) pause();
}

bool python_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

}  // namespace

NoGil::NoGil() : state_(PyEval_SaveThread()) {}

NoGil::~NoGil() {
  if (python_finalizing()) park_forever();
  try {
    PyEval_RestoreThread(static_cast<PyThreadState*>(state_));
  } catch (abi::__forced_unwind&) {  // finalization began while this thread waited for the GIL
    park_forever();
  }
}

}  // namespace pyrnn
