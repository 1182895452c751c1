// The only file that knows about Python: checks every array that crosses into the core
// (dtype, rank, shape, C order), allocates results, and releases the GIL around compute.
// The Python layer (pyrnn/nn) converts user input first; these checks make the core safe
// to call directly too. std::invalid_argument -> ValueError, bad_alloc -> MemoryError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cxxabi.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <string>
#include <utility>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "kernels/kernels.h"
#include "layer.h"
#include "optimizer.h"
#include "parallel.h"

namespace py = pybind11;
using pyrnn::Cell;
using pyrnn::GatedActivations;

namespace {

constexpr long long kMaxThreads = 1024;

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

// Releases the GIL, like py::gil_scoped_release, but safe at interpreter exit. A daemon thread
// still computing when the interpreter finalizes must not take the GIL back: CPython ends such
// a thread with pthread_exit, whose forced unwinding through a (noexcept) destructor calls
// std::terminate and aborts the exiting process. Such a thread parks instead; exit ends it.
class NoGil {
 public:
  NoGil() : state_(PyEval_SaveThread()) {}
  NoGil(const NoGil&) = delete;
  NoGil& operator=(const NoGil&) = delete;
  ~NoGil() {
    if (python_finalizing()) park_forever();
    try {
      PyEval_RestoreThread(state_);
    } catch (abi::__forced_unwind&) {  // finalization began while this thread waited for the GIL
      park_forever();
    }
  }

 private:
  PyThreadState* state_;
};

// The GIL released and the pool held (set_num_threads waits) for the duration of a computation.
class Compute {
 private:
  NoGil nogil_;  // released first, so that waiting for the pool never holds the GIL
  pyrnn::PoolUse use_;
};

std::string shape_str(const std::vector<py::ssize_t>& s) {
  std::ostringstream o;
  o << "(";
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << (s.size() == 1 ? ",)" : ")");
  return o.str();
}

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

std::string gigabytes(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g GB", bytes / 1e9);
  return buf;
}

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

// MemoryError, before anything is allocated, when `bytes` of new buffers cannot fit: more than
// the process can ever have, or (for requests above 1 GB, where reading /proc is cheap next to
// the work) more than is available right now; with a 10% margin for everything else.
void check_fits(double bytes, const std::string& what) {
  constexpr double kMargin = 0.9;
  const double limit = memory_limit_bytes();
  const double available = bytes > 1e9 ? memory_available_bytes() : limit;
  if (bytes > kMargin * limit || bytes > kMargin * available) {
    const std::string have = bytes > limit ? gigabytes(limit) + " of memory this process can use"
                                           : gigabytes(available) + " of memory available now";
    PyErr_SetString(PyExc_MemoryError,
                    (what + ": needs about " + gigabytes(bytes) + " of new buffers, more than 90% of the " + have).c_str());
    throw py::error_already_set();
  }
}

template <class T>
const char* dtype_name() {
  if constexpr (std::is_same_v<T, int>) return "int32";
  return sizeof(T) == 4 ? "float32" : "float64";
}

template <class T>
void check_dtype(const py::array& arr, const char* name) {
  if (!arr.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(arr.dtype())));
}

// The data of `obj` if it is a C-contiguous T array of exactly `shape`; else a clear error.
template <class T>
T* checked(const py::handle& obj, const char* name, const std::vector<py::ssize_t>& shape, bool writable = false) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy array, got " + std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  check_dtype<T>(arr, name);
  std::vector<py::ssize_t> got(arr.shape(), arr.shape() + arr.ndim());
  if (got != shape)
    throw std::invalid_argument(std::string(name) + ": expected shape " + shape_str(shape) + ", got " + shape_str(got));
  if (!(arr.flags() & py::array::c_style))
    throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array");
  if (writable && !arr.writeable()) throw std::invalid_argument(std::string(name) + ": expected a writable array");
  return static_cast<T*>(const_cast<void*>(arr.data()));
}

template <class T>
T* optional(const py::object& obj, const char* name, const std::vector<py::ssize_t>& shape) {
  return obj.is_none() ? nullptr : checked<T>(obj, name, shape);
}

// Optional batch_sizes: int32 [T], non-increasing, each in [0, B].
const int* checked_batch_sizes(const py::object& obj, py::ssize_t steps, py::ssize_t batch) {
  if (obj.is_none()) return nullptr;
  const int* bs = checked<int>(obj, "batch_sizes", {steps});
  for (py::ssize_t t = 0; t < steps; ++t) {
    if (bs[t] < 0 || bs[t] > batch || (t > 0 && bs[t] > bs[t - 1]))
      throw std::invalid_argument("batch_sizes: expected non-increasing counts in [0, " + std::to_string(batch) +
                                  "] (rows sorted by length, longest first); got " + std::to_string(bs[t]) +
                                  " at step " + std::to_string(t));
  }
  return bs;
}

struct Dims {
  py::ssize_t steps, B, I, H, G, P;  // P: width of h (the LSTM projection size, else H)
};

Dims dims_of(Cell cell, const py::array& x, const py::array& w_ih, const py::object& w_hr) {
  if (x.ndim() != 3)
    throw std::invalid_argument("x: expected a 3-D array (T, B, I), got " + std::to_string(x.ndim()) + "-D");
  if (w_ih.ndim() != 2) throw std::invalid_argument("w_ih: expected a 2-D array (G*H, I)");
  const py::ssize_t G = pyrnn::cell_info(cell).gates;
  if (w_ih.shape(0) % G != 0)
    throw std::invalid_argument("w_ih: expected " + std::to_string(G) + "*H rows, got " + std::to_string(w_ih.shape(0)));
  Dims d{x.shape(0), x.shape(1), x.shape(2), w_ih.shape(0) / G, G, 0};
  d.P = d.H;
  if (!w_hr.is_none()) {
    if (!pyrnn::cell_info(cell).cell_state) throw std::invalid_argument("w_hr: a projection exists only for lstm");
    if (!py::isinstance<py::array>(w_hr))
      throw py::type_error("w_hr: expected a numpy array, got " + std::string(py::str(py::type::handle_of(w_hr).attr("__name__"))));
    const auto hr = py::reinterpret_borrow<py::array>(w_hr);
    if (hr.ndim() != 2) throw std::invalid_argument("w_hr: expected a 2-D array (P, H)");
    d.P = hr.shape(0);
  }
  if (d.I < 1 || d.H < 1 || d.P < 1) throw std::invalid_argument("input, hidden and projection sizes must be at least 1");
  // Row counts and flattened sizes must fit the kernels' int indices.
  if (d.steps * d.B > INT_MAX / 8 || d.G * d.H > INT_MAX / 8 || d.I > INT_MAX / 8 || d.P > INT_MAX / 8)
    throw std::invalid_argument("sizes too large: T*B, G*H and I must each be below 2^28");
  return d;
}

// The arrays forward and backward share, checked against the dimensions, and the activations.
template <class T>
pyrnn::LayerArgs<T> layer_args(Cell cell, GatedActivations acts, const Dims& d, const py::array& x, const py::array& h0,
                               const py::object& c0, const py::array& w_ih, const py::array& w_hh,
                               const py::object& b_ih, const py::object& b_hh, const py::object& w_hr,
                               const py::object& batch_sizes) {
  pyrnn::LayerArgs<T> a;
  a.gate_act = acts.gate;
  a.cell_act = acts.cell;
  a.steps = static_cast<int>(d.steps);
  a.B = static_cast<int>(d.B);
  a.I = static_cast<int>(d.I);
  a.H = static_cast<int>(d.H);
  a.P = static_cast<int>(d.P);
  a.x = checked<T>(x, "x", {d.steps, d.B, d.I});
  a.h0 = checked<T>(h0, "h0", {d.B, d.P});
  a.w_ih = checked<T>(w_ih, "w_ih", {d.G * d.H, d.I});
  a.w_hh = checked<T>(w_hh, "w_hh", {d.G * d.H, d.P});
  a.b_ih = optional<T>(b_ih, "b_ih", {d.G * d.H});
  a.b_hh = optional<T>(b_hh, "b_hh", {d.G * d.H});
  a.w_hr = optional<T>(w_hr, "w_hr", {d.P, d.H});
  a.batch_sizes = checked_batch_sizes(batch_sizes, d.steps, d.B);
  if (pyrnn::cell_info(cell).cell_state) {
    if (c0.is_none()) throw std::invalid_argument("c0: required for lstm");
    a.c0 = checked<T>(c0, "c0", {d.B, d.H});
  } else if (!c0.is_none()) {
    throw std::invalid_argument("c0: only lstm has a cell state; expected None");
  }
  return a;
}

template <class T>
py::tuple forward_t(Cell cell, GatedActivations acts, const py::array& x, const py::array& h0, const py::object& c0, const py::array& w_ih,
                    const py::array& w_hh, const py::object& b_ih, const py::object& b_hh, bool training,
                    const py::object& batch_sizes, const py::object& w_hr) {
  const Dims d = dims_of(cell, x, w_ih, w_hr);
  pyrnn::LayerArgs<T> a = layer_args<T>(cell, acts, d, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, batch_sizes);
  {
    // out, h_n, c_n, the workspace (training) or the same-sized gate scratch (inference), packed weights.
    const double TB = static_cast<double>(d.steps) * d.B;
    const double gates = static_cast<double>(pyrnn::workspace_size(cell, 1, 1, 1, a.w_hr != nullptr));
    const double elems = TB * d.P + TB * d.H * gates + 2.0 * d.B * (d.H + d.P) + 2.0 * d.G * d.H * d.P + d.P * d.H;
    check_fits(elems * sizeof(T), "forward");
  }
  py::array_t<T> out({d.steps, d.B, d.P}), hn({d.B, d.P});
  py::object cn = py::none(), ws = py::none();
  a.out = out.mutable_data();
  a.hn = hn.mutable_data();
  if (pyrnn::cell_info(cell).cell_state) {
    py::array_t<T> c({d.B, d.H});
    a.cn = c.mutable_data();
    cn = c;
  }
  if (training) {
    py::array_t<T> w(static_cast<py::ssize_t>(pyrnn::workspace_size(cell, d.steps, d.B, d.H, a.w_hr != nullptr)));
    a.workspace = w.mutable_data();
    ws = w;
  }
  if (d.B > 0) {  // an empty batch has nothing to compute (the drivers assume rows; memcpy of null is UB)
    Compute compute;
    pyrnn::forward<T>(cell, a);
  }
  return py::make_tuple(out, hn, cn, ws);
}

template <class T>
py::tuple backward_t(Cell cell, GatedActivations acts, const py::array& x, const py::array& h0, const py::object& c0, const py::array& w_ih,
                     const py::array& w_hh, const py::object& b_ih, const py::object& b_hh, const py::array& out,
                     const py::array& workspace, const py::array& grad_out, const py::array& grad_hn,
                     const py::object& grad_cn, const py::object& batch_sizes, const py::object& w_hr) {
  const Dims d = dims_of(cell, x, w_ih, w_hr);
  pyrnn::LayerArgs<T> a = layer_args<T>(cell, acts, d, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, batch_sizes);
  a.out = checked<T>(out, "out", {d.steps, d.B, d.P});
  // backward turns the saved gates into gate gradients in place: the workspace is used up.
  a.workspace = checked<T>(
      workspace, "workspace",
      {static_cast<py::ssize_t>(pyrnn::workspace_size(cell, d.steps, d.B, d.H, a.w_hr != nullptr))}, true);
  pyrnn::LayerGrads<T> g;
  g.grad_out = checked<T>(grad_out, "grad_out", {d.steps, d.B, d.P});
  g.grad_hn = checked<T>(grad_hn, "grad_hn", {d.B, d.P});
  const bool lstm = pyrnn::cell_info(cell).cell_state;
  if (lstm) {
    if (grad_cn.is_none()) throw std::invalid_argument("grad_cn: required for lstm");
    g.grad_cn = checked<T>(grad_cn, "grad_cn", {d.B, d.H});
  } else if (!grad_cn.is_none()) {
    throw std::invalid_argument("grad_cn: only lstm has a cell state; expected None");
  }
  {
    // dx, the weight gradients, per-step gradient buffers (T*B rows for rnn and the projection).
    const double TB = static_cast<double>(d.steps) * d.B, W = static_cast<double>(std::max(d.H, d.P));
    const double elems = TB * d.I + TB * W + 2.0 * d.G * d.H * (d.I + d.P) + 2.0 * d.P * d.H + 4.0 * d.B * W +
                         4.0 * d.G * d.H;
    check_fits(elems * sizeof(T), "backward");
  }
  py::array_t<T> dx({d.steps, d.B, d.I}), dh0({d.B, d.P}), dw_ih({d.G * d.H, d.I}), dw_hh({d.G * d.H, d.P});
  py::object dc0 = py::none(), db_ih = py::none(), db_hh = py::none(), dw_hr = py::none();
  g.dx = dx.mutable_data();
  g.dh0 = dh0.mutable_data();
  g.dw_ih = dw_ih.mutable_data();
  g.dw_hh = dw_hh.mutable_data();
  if (lstm) {
    py::array_t<T> dc({d.B, d.H});
    g.dc0 = dc.mutable_data();
    dc0 = dc;
  }
  if (a.b_ih) {
    py::array_t<T> db(d.G * d.H);
    g.db_ih = db.mutable_data();
    db_ih = db;
  }
  if (a.b_hh) {
    py::array_t<T> db(d.G * d.H);
    g.db_hh = db.mutable_data();
    db_hh = db;
  }
  if (a.w_hr) {
    py::array_t<T> dw({d.P, d.H});
    g.dw_hr = dw.mutable_data();
    dw_hr = dw;
  }
  if (d.B > 0) {
    Compute compute;
    pyrnn::backward<T>(cell, a, g);
  } else {  // an empty batch: no gradient flows (dx, dh0, dc0 are empty)
    const auto zero = [](T* p, py::ssize_t n) {
      if (p) std::fill(p, p + n, T(0));
    };
    zero(g.dw_ih, d.G * d.H * d.I);
    zero(g.dw_hh, d.G * d.H * d.P);
    zero(g.db_ih, d.G * d.H);
    zero(g.db_hh, d.G * d.H);
    zero(g.dw_hr, d.P * d.H);
  }
  return py::make_tuple(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr);
}

// Dispatches on x's dtype; every other array must match it.
template <class F32, class F64>
auto by_dtype(const py::array& x, F32 f32, F64 f64) {
  if (x.dtype().is(py::dtype::of<float>())) return f32();
  if (x.dtype().is(py::dtype::of<double>())) return f64();
  throw py::type_error("x: expected dtype float32 or float64, got " + std::string(py::str(x.dtype())));
}

py::array activation(const std::string& name, const py::array& x) {
  if (name != "tanh" && name != "sigmoid") throw std::invalid_argument("activation must be tanh or sigmoid");
  auto run = [&](auto zero) -> py::array {
    using T = decltype(zero);
    py::array_t<T> y(x.size());
    std::memcpy(y.mutable_data(), checked<T>(x, "x", {x.size()}), sizeof(T) * x.size());
    const auto& k = pyrnn::kernels<T>();
    pyrnn::DenormalGuard ftz;
    (name == "tanh" ? k.tanh : k.sigmoid)(y.mutable_data(), x.size());
    return y;
  };
  return by_dtype(x, [&] { return run(0.0f); }, [&] { return run(0.0); });
}

// One step of a cell in inference: (h', c' or None).
template <class T>
py::tuple cell_step_t(Cell cell, const py::array& x, const py::array& h, const py::object& c, const py::array& w_ih,
                      const py::array& w_hh, const py::object& b_ih, const py::object& b_hh) {
  if (x.ndim() != 2)
    throw std::invalid_argument("x: expected a 2-D array (B, I), got " + std::to_string(x.ndim()) + "-D");
  if (w_hh.ndim() != 2)
    throw std::invalid_argument("w_hh: expected a 2-D array (G*H, H), got " + std::to_string(w_hh.ndim()) + "-D");
  const py::ssize_t B = x.shape(0), I = x.shape(1), H = w_hh.shape(1), G = pyrnn::cell_info(cell).gates;
  if (I < 1 || H < 1) throw std::invalid_argument("input and hidden sizes must be at least 1");
  if (B > INT_MAX / 8 || G * H > INT_MAX / 8 || I > INT_MAX / 8)
    throw std::invalid_argument("sizes too large: B, G*H and I must each be below 2^28");
  check_fits((3.0 * B * H + B * (G + 1.0) * H) * sizeof(T), "cell_step");
  pyrnn::LayerArgs<T> a;
  a.steps = 1;
  a.B = static_cast<int>(B);
  a.I = static_cast<int>(I);
  a.H = static_cast<int>(H);
  a.x = checked<T>(x, "x", {B, I});
  a.h0 = checked<T>(h, "h", {B, H});
  a.w_ih = checked<T>(w_ih, "w_ih", {G * H, I});
  a.w_hh = checked<T>(w_hh, "w_hh", {G * H, H});
  a.b_ih = optional<T>(b_ih, "b_ih", {G * H});
  a.b_hh = optional<T>(b_hh, "b_hh", {G * H});
  const bool lstm = pyrnn::cell_info(cell).cell_state;
  if (lstm) {
    if (c.is_none()) throw std::invalid_argument("c: required for lstm");
    a.c0 = checked<T>(c, "c", {B, H});
  } else if (!c.is_none()) {
    throw std::invalid_argument("c: only lstm has a cell state; expected None");
  }
  py::array_t<T> h_new({B, H});
  py::object c_out = py::none(), hn_keep;
  a.out = h_new.mutable_data();
  if (lstm) {
    py::array_t<T> c_new({B, H});
    a.cn = c_new.mutable_data();
    c_out = c_new;
  }
  if (B > pyrnn::kCellGemvBatch) {  // the sequence path also writes h_n
    py::array_t<T> hn({B, H});
    a.hn = hn.mutable_data();
    hn_keep = hn;
  }
  if (B == 0) return py::make_tuple(h_new, c_out);  // nothing to compute (the core's step needs B >= 1)
  {
    Compute compute;
    pyrnn::cell_forward<T>(cell, a);
  }
  return py::make_tuple(h_new, c_out);
}

// A 2-D array of dtype T read in place, with any strides (transposed views need no copy).
template <class T>
struct StridedMatrix {
  const T* data;
  py::ssize_t rows, cols;
  std::ptrdiff_t row_stride, col_stride;  // in elements
};

template <class T>
StridedMatrix<T> strided(const py::array& arr, const char* name) {
  check_dtype<T>(arr, name);
  if (arr.ndim() != 2)
    throw std::invalid_argument(std::string(name) + ": expected a 2-D array, got " + std::to_string(arr.ndim()) + "-D");
  if (arr.strides(0) % static_cast<py::ssize_t>(sizeof(T)) || arr.strides(1) % static_cast<py::ssize_t>(sizeof(T)))
    throw std::invalid_argument(std::string(name) + ": strides must be multiples of the item size");
  return {static_cast<const T*>(arr.data()), arr.shape(0), arr.shape(1),
          static_cast<std::ptrdiff_t>(arr.strides(0) / static_cast<py::ssize_t>(sizeof(T))),
          static_cast<std::ptrdiff_t>(arr.strides(1) / static_cast<py::ssize_t>(sizeof(T)))};
}

// The bytes an array's elements span, for overlap checks.
std::pair<const char*, const char*> byte_span(const py::array& arr) {
  const char* lo = static_cast<const char*>(arr.data());
  const char* hi = lo;
  if (arr.size() == 0) return {lo, lo};
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
    const py::ssize_t extent = (arr.shape(i) - 1) * arr.strides(i);
    (extent < 0 ? lo : hi) += extent;
  }
  return {lo, hi + arr.itemsize()};
}

// out (+)= a·b with the core's GEMM on the core's pool: pyrnn's Dense layers use it, so a model
// never wakes a second thread pool (NumPy's BLAS) that would spin on the cores pyrnn's uses.
py::array matmul(const py::array& a, const py::array& b, const py::object& out, bool accumulate) {
  auto run = [&](auto zero) -> py::array {
    using T = decltype(zero);
    const StridedMatrix<T> A = strided<T>(a, "a"), B = strided<T>(b, "b");
    if (A.cols != B.rows)
      throw std::invalid_argument("matmul: expected a (M, K) and b (K, N), got a " + shape_str({A.rows, A.cols}) +
                                  " and b " + shape_str({B.rows, B.cols}));
    const py::ssize_t M = A.rows, K = A.cols, N = B.cols;
    if (M > INT_MAX / 8 || N > INT_MAX / 8 || K > INT_MAX / 8) throw std::invalid_argument("matmul: too large");
    py::array_t<T> c;
    if (out.is_none()) {
      if (accumulate) throw std::invalid_argument("matmul: accumulate=True needs out");
      check_fits((static_cast<double>(M) * N + static_cast<double>(K) * N) * sizeof(T), "matmul");
      c = py::array_t<T>({M, N});
    } else {
      checked<T>(out, "out", {M, N}, true);
      c = py::reinterpret_borrow<py::array_t<T>>(out);
      const auto o = byte_span(c);
      for (const py::array* in : {&a, &b}) {
        const auto i = byte_span(*in);
        if (o.first < i.second && i.first < o.second) throw std::invalid_argument("matmul: out overlaps a or b");
      }
    }
    T* pc = c.mutable_data();
    if (M > 0 && N > 0) {
      Compute compute;
      pyrnn::DenormalGuard ftz;
      pyrnn::gemm<T>(static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), A.data, A.row_stride,
                     A.col_stride, B.data, B.row_stride, B.col_stride, pc, N, accumulate);
    }
    return c;
  };
  return by_dtype(a, [&] { return run(0.0f); }, [&] { return run(0.0); });
}

// Adam on flat parameter vectors, in place (pyrnn.optimizers.Adam). Every array: 1-D, the
// same size and dtype, C-contiguous; w, m, v (and v_hat) writable.
void adam_update(const py::array& w, const py::array& g, const py::array& m, const py::array& v,
                 const py::object& v_hat, double alpha, double one_minus_beta_1, double one_minus_beta_2,
                 double epsilon) {
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const py::ssize_t n = w.ndim() == 1 ? w.shape(0) : -1;
    if (n < 0) throw std::invalid_argument("w: expected a 1-D array, got " + std::to_string(w.ndim()) + "-D");
    T* pw = checked<T>(w, "w", {n}, true);
    const T* pg = checked<T>(g, "g", {n});
    T* pm = checked<T>(m, "m", {n}, true);
    T* pv = checked<T>(v, "v", {n}, true);
    T* pvh = v_hat.is_none() ? nullptr : checked<T>(v_hat, "v_hat", {n}, true);
    pyrnn::adam_update<T>(static_cast<std::size_t>(n), pw, pg, pm, pv, pvh, static_cast<T>(alpha),
                          static_cast<T>(one_minus_beta_1), static_cast<T>(one_minus_beta_2), static_cast<T>(epsilon));
  };
  by_dtype(w, [&] { run(0.0f); }, [&] { run(0.0); });
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyrnn's C++ core: sequence forward and backward for RNN, GRU and LSTM layers.";
  pyrnn::active_isa();  // choose the kernels now: a bad PYRNN_ISA fails the import, clearly
  m.def("isa", [] { return std::string(pyrnn::isa_name(pyrnn::active_isa())); },
        "The instruction set the kernels use: 'avx512', 'avx2' or 'scalar' (PYRNN_ISA forces one).");
  m.def("supported_isas", [] {
    py::list out;
    for (auto isa : {pyrnn::Isa::scalar, pyrnn::Isa::avx2, pyrnn::Isa::avx512})
      if (pyrnn::isa_supported(isa)) out.append(pyrnn::isa_name(isa));
    return out;
  });
  m.def("set_num_threads", [](long long n) {
    if (n < 1 || n > kMaxThreads)
      throw std::invalid_argument("num_threads must be in [1, " + std::to_string(kMaxThreads) + "], got " +
                                  std::to_string(n));
    NoGil nogil;
    const int before = pyrnn::get_num_threads();
    try {
      pyrnn::set_num_threads(static_cast<int>(n));
    } catch (const std::system_error& e) {
      throw std::runtime_error("set_num_threads(" + std::to_string(n) + "): could not start the threads (" +
                               e.what() + "); still using " + std::to_string(before));
    }
  }, py::arg("n"));
  m.def("get_num_threads", &pyrnn::get_num_threads);
  m.def("default_num_threads", &pyrnn::default_num_threads,
        "PYRNN_NUM_THREADS, else the CPUs this process may use (affinity) capped by its cgroup CPU quota.");
  m.def("_cpus_from_cpu_max", &pyrnn::cpus_from_cpu_max, py::arg("line"),
        "Whole CPUs a cgroup v2 cpu.max line allows (0: no limit).");
  m.def("_pool_stats", [] {
    const pyrnn::PoolStats s = pyrnn::pool_stats();
    py::dict d;
    d["parallel_jobs"] = s.parallel_jobs;
    d["solo_jobs"] = s.solo_jobs;
    d["stalls"] = s.stalls;
    return d;
  }, "Jobs the pool ran in parallel, jobs it ran on the caller alone (backed off under contention), stalls seen.");
  m.def("_memory_limit", &memory_limit_bytes,
        "Bytes of memory this process can use (physical RAM or a lower cgroup limit): larger requests raise MemoryError.");
  m.def("_cell_table", [] {
    py::dict cells;
    for (const pyrnn::CellInfo& c : pyrnn::kCells) {
      py::dict row;
      row["gates"] = c.gates;
      row["gated"] = c.gated;
      row["activation"] = c.gated ? py::object(py::none()) : py::str(pyrnn::activation_name(c.activation));
      row["cell_state"] = c.cell_state;
      cells[c.name] = row;
    }
    py::list activations;
    for (const pyrnn::ActivationInfo& a : pyrnn::kActivations) activations.append(a.name);
    return py::make_tuple(cells, activations);
  }, "The core's vocabulary (csrc/cell_table.h): ({cell: {gates, gated, activation, cell_state}}, [activations]).");
  m.def("workspace_size", [](const std::string& cell, std::size_t steps, std::size_t B, std::size_t H, bool projection) {
    const Cell c = pyrnn::parse_cell(cell);
    const double elems = static_cast<double>(steps) * B * H * static_cast<double>(pyrnn::workspace_size(c, 1, 1, 1, projection));
    if (elems >= 9.0e18) throw std::invalid_argument("workspace_size: steps*batch*hidden overflows");
    return pyrnn::workspace_size(c, steps, B, H, projection);
  }, py::arg("cell"), py::arg("steps"), py::arg("batch"), py::arg("hidden"), py::arg("projection") = false);
  m.def(
      "forward",
      [](const std::string& cell, const py::array& x, const py::array& h0, const py::object& c0, const py::array& w_ih,
         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh, bool training,
         const py::object& batch_sizes, const py::object& w_hr, const std::string& activation,
         const std::string& recurrent_activation) {
        const Cell c = pyrnn::parse_cell(cell);
        const GatedActivations acts = pyrnn::parse_activations(c, activation, recurrent_activation);
        return by_dtype(
            x, [&] { return forward_t<float>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, training, batch_sizes, w_hr); },
            [&] { return forward_t<double>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, training, batch_sizes, w_hr); });
      },
      py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), py::arg("training"), py::arg("batch_sizes") = py::none(), py::arg("w_hr") = py::none(),
      py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
      "One layer over a time-major sequence. Returns (out, h_n, c_n or None, workspace or None).");
  m.def(
      "backward",
      [](const std::string& cell, const py::array& x, const py::array& h0, const py::object& c0, const py::array& w_ih,
         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh, const py::array& out,
         const py::array& workspace, const py::array& grad_out, const py::array& grad_hn, const py::object& grad_cn,
         const py::object& batch_sizes, const py::object& w_hr, const std::string& activation,
         const std::string& recurrent_activation) {
        const Cell c = pyrnn::parse_cell(cell);
        const GatedActivations acts = pyrnn::parse_activations(c, activation, recurrent_activation);
        return by_dtype(
            x,
            [&] {
              return backward_t<float>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, workspace, grad_out, grad_hn, grad_cn,
                                       batch_sizes, w_hr);
            },
            [&] {
              return backward_t<double>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, workspace, grad_out, grad_hn,
                                        grad_cn, batch_sizes, w_hr);
            });
      },
      py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), py::arg("out"), py::arg("workspace"), py::arg("grad_out"), py::arg("grad_hn"), py::arg("grad_cn"),
      py::arg("batch_sizes") = py::none(), py::arg("w_hr") = py::none(),
      py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
      "BPTT through one layer; consumes the forward's workspace.\n"
      "Returns (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr).");
  m.def(
      "cell_step",
      [](const std::string& cell, const py::array& x, const py::array& h, const py::object& c, const py::array& w_ih,
         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh) {
        const Cell k = pyrnn::parse_cell(cell);
        return by_dtype(
            x, [&] { return cell_step_t<float>(k, x, h, c, w_ih, w_hh, b_ih, b_hh); },
            [&] { return cell_step_t<double>(k, x, h, c, w_ih, w_hh, b_ih, b_hh); });
      },
      py::arg("cell"), py::arg("x"), py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), "One step of a cell, inference: x (B, I), h (B, H) -> (h', c' or None).");
  m.def("adam_update", &adam_update, py::arg("w"), py::arg("g"), py::arg("m"), py::arg("v"), py::arg("v_hat"),
        py::arg("alpha"), py::arg("one_minus_beta_1"), py::arg("one_minus_beta_2"), py::arg("epsilon"),
        "One Adam step on flat float arrays, in place (w, m, v and v_hat updated).");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::arg("accumulate") = false, "out (+)= a @ b with the core's GEMM; a and b may be strided views (transposes).");
  m.def("_activation", &activation, "The kernels' vectorised tanh/sigmoid on a 1-D array (for accuracy tests).");
}
