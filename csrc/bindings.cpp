// The only pybind11 file, and the one that defines the module pyrnn._core: checks every array
// that crosses into the core (dtype, rank, shape, C order), allocates results, and releases
// the GIL around compute (python_exit.h). The Python layer (pyrnn/nn) converts user input
// first; these checks make the core safe to call directly too. The memory check before a
// call's buffers are allocated reads memory.h and the drivers' scratch sizes (layer.h).
// std::invalid_argument -> ValueError, bad_alloc -> MemoryError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <climits>
#include <sstream>
#include <system_error>
#include <string>
#include <utility>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "kernels/kernels.h"
#include "layer.h"
#include "memory.h"
#include "optimizer.h"
#include "parallel.h"
#include "python_exit.h"
#include "quant/bf16.h"
#include "quant/int8.h"

namespace py = pybind11;
using pyrnn::Cell;
using pyrnn::Compute;
using pyrnn::GatedActivations;
using pyrnn::NoGil;

namespace {

constexpr long long kMaxThreads = 1024;

std::string shape_str(const std::vector<py::ssize_t>& s) {
  std::ostringstream o;
  o << "(";
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << (s.size() == 1 ? ",)" : ")");
  return o.str();
}

// MemoryError, before anything is allocated, when `bytes` of new buffers cannot fit (memory.h).
void check_fits(double bytes, const std::string& what) {
  const std::string shortfall = pyrnn::memory_shortfall(bytes, what);
  if (shortfall.empty()) return;
  PyErr_SetString(PyExc_MemoryError, shortfall.c_str());
  throw py::error_already_set();
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

py::array as_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy array, got " + std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(obj);
}

// The data of `obj` if it is a C-contiguous T array of exactly `shape`; else a clear error.
template <class T>
T* checked(const py::handle& obj, const char* name, const std::vector<py::ssize_t>& shape, bool writable = false) {
  const py::array arr = as_array(obj, name);
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
    const py::array hr = as_array(w_hr, "w_hr");
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
                               const py::object& batch_sizes, const py::object& recurrent_mask) {
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
  a.recurrent_mask = optional<T>(recurrent_mask, "recurrent_mask", {d.B, d.P});
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
                    const py::object& batch_sizes, const py::object& w_hr, const py::object& recurrent_mask) {
  const Dims d = dims_of(cell, x, w_ih, w_hr);
  pyrnn::LayerArgs<T> a = layer_args<T>(cell, acts, d, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, batch_sizes, recurrent_mask);
  {
    // out, h_n, c_n, the workspace (training), and what the driver allocates itself.
    const double TB = static_cast<double>(d.steps) * d.B;
    const double workspace = training ? static_cast<double>(pyrnn::workspace_size(cell, 1, 1, 1, a.w_hr != nullptr)) : 0;
    const double elems = TB * d.P + TB * d.H * workspace + d.B * (d.P + (a.c0 ? d.H : 0.0));
    const pyrnn::Pass pass = training ? pyrnn::Pass::training : pyrnn::Pass::inference;
    check_fits(elems * sizeof(T) + pyrnn::scratch_bytes<T>(cell, a.sizes(), pass), "forward");
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
                     const py::object& grad_cn, const py::object& batch_sizes, const py::object& w_hr,
                     const py::object& recurrent_mask) {
  const Dims d = dims_of(cell, x, w_ih, w_hr);
  pyrnn::LayerArgs<T> a = layer_args<T>(cell, acts, d, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, batch_sizes, recurrent_mask);
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
    // dx, dh0, dc0, the weight and bias gradients, and what the driver allocates itself.
    const double TB = static_cast<double>(d.steps) * d.B, GH = static_cast<double>(d.G) * d.H;
    const double elems = TB * d.I + d.B * (d.P + (lstm ? d.H : 0.0)) + GH * (d.I + d.P) +
                         GH * ((a.b_ih ? 1 : 0) + (a.b_hh ? 1 : 0)) + (a.w_hr ? static_cast<double>(d.P) * d.H : 0.0);
    check_fits(elems * sizeof(T) + pyrnn::scratch_bytes<T>(cell, a.sizes(), pyrnn::Pass::backward), "backward");
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

// A table's vectorised tanh or sigmoid of a 1-D array, into a new array.
template <class T>
py::array apply_activation(const pyrnn::Kernels<T>& k, const std::string& name, const py::array& x) {
  if (name != "tanh" && name != "sigmoid") throw std::invalid_argument("activation must be tanh or sigmoid");
  py::array_t<T> y(x.size());
  std::memcpy(y.mutable_data(), checked<T>(x, "x", {x.size()}), sizeof(T) * x.size());
  pyrnn::DenormalGuard ftz;
  (name == "tanh" ? k.tanh : k.sigmoid)(y.mutable_data(), x.size());
  return y;
}

py::array activation(const std::string& name, const py::array& x) {
  return by_dtype(x, [&] { return apply_activation(pyrnn::kernels<float>(), name, x); },
                  [&] { return apply_activation(pyrnn::kernels<double>(), name, x); });
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
  // h', c' (lstm), h_n (the sequence path), and what the step allocates itself.
  check_fits(3.0 * B * H * sizeof(T) + pyrnn::cell_scratch_bytes<T>(cell, static_cast<int>(B), static_cast<int>(I),
                                                                   static_cast<int>(H)), "cell_step");
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
      const double scratch = static_cast<double>(
          pyrnn::gemm_scratch<T>(static_cast<int>(M), static_cast<int>(N), static_cast<int>(K)).total());
      check_fits((static_cast<double>(M) * N + scratch) * sizeof(T), "matmul");
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

// ---------------------------------------------------------------------------------------
// _core._microkernels(isa): one ISA's table of kernels, each kernel callable alone on NumPy
// arrays (tests/test_microkernels.py checks them against a float64 reference, every ISA the
// CPU has, in one process). Every size and buffer is checked here, so no call can reach
// memory its arrays do not own. The dtype of the first array picks the float or double table.
// ---------------------------------------------------------------------------------------
struct Microkernels {
  pyrnn::Isa isa;
  const pyrnn::Kernels<float>* f32;
  const pyrnn::Kernels<double>* f64;

  template <class F>
  auto on(const py::array& x, F f) const {
    return by_dtype(x, [&] { return f(*f32); }, [&] { return f(*f64); });
  }
};

Microkernels microkernels(const std::string& name) {
  for (pyrnn::Isa isa : {pyrnn::Isa::scalar, pyrnn::Isa::avx2, pyrnn::Isa::avx512}) {
    if (name != pyrnn::isa_name(isa)) continue;
    // A table is built by code compiled for its ISA: never touch one the CPU cannot run.
    if (!pyrnn::isa_supported(isa)) throw std::invalid_argument("isa: this CPU does not support " + name);
    switch (isa) {
#if defined(PYRNN_X86)
      case pyrnn::Isa::avx512: return {isa, &pyrnn::avx512::table_f32(), &pyrnn::avx512::table_f64()};
      case pyrnn::Isa::avx2: return {isa, &pyrnn::avx2::table_f32(), &pyrnn::avx2::table_f64()};
#endif
      default: return {isa, &pyrnn::scalar::table_f32(), &pyrnn::scalar::table_f64()};
    }
  }
  throw std::invalid_argument("isa must be one of scalar, avx2, avx512; got '" + name + "'");
}

// A 2-D C-contiguous T array of any shape.
template <class T>
struct Matrix {
  T* data;
  py::ssize_t rows, cols;
};

template <class T>
Matrix<T> matrix(const py::handle& obj, const char* name, bool writable = false) {
  const py::array arr = as_array(obj, name);
  if (arr.ndim() != 2)
    throw std::invalid_argument(std::string(name) + ": expected a 2-D array, got " + std::to_string(arr.ndim()) + "-D");
  return {checked<T>(obj, name, {arr.shape(0), arr.shape(1)}, writable), arr.shape(0), arr.shape(1)};
}

void check_size(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// C[:rows, :cols] (+)= A_panel · B_panel: a [kc, mr] with contiguous rows any distance apart
// (the k-major tile) or contiguous columns (a transposed view of a row-major A: the row-major
// tile), b [kc, nr] packed k-major, c [rows, ldc].
template <class T>
void mk_gemm_tile(const pyrnn::Kernels<T>& k, const py::array& a, const py::array& b, const py::array& c, int cols,
                  bool overwrite, const py::object& bias) {
  const StridedMatrix<T> A = strided<T>(a, "a");
  const Matrix<T> Bm = matrix<T>(b, "b"), C = matrix<T>(c, "c", true);
  check_size(A.cols == k.gemm_mr && Bm.cols == k.gemm_nr && A.rows == Bm.rows,
             "gemm_tile: expected a (kc, " + std::to_string(k.gemm_mr) + ") and b (kc, " + std::to_string(k.gemm_nr) + ")");
  const bool k_major = A.col_stride == 1 && A.row_stride >= A.cols;
  check_size(k_major || (A.row_stride == 1 && A.col_stride >= A.rows),
             "gemm_tile: a's rows or columns must be contiguous");
  check_size(C.rows >= 1 && C.rows <= k.gemm_mr && cols >= 1 && cols <= k.gemm_nr && cols <= C.cols,
             "gemm_tile: expected 1 <= rows <= mr and 1 <= cols <= min(nr, c.shape[1])");
  const T* pbias = bias.is_none() ? nullptr : checked<T>(bias, "bias", {cols});
  pyrnn::DenormalGuard ftz;
  (k_major ? k.gemm_tile : k.gemm_tile_rows)(static_cast<int>(A.rows), A.data, k_major ? A.row_stride : A.col_stride,
                                             Bm.data, C.data, C.cols, static_cast<int>(C.rows), cols, overwrite, pbias);
}

// c (+)= a · b for strided a (rows or columns contiguous) and b; c C-contiguous [M, N].
template <class T>
void mk_gemm_narrow(const pyrnn::Kernels<T>& k, const py::array& a, const py::array& b, const py::array& c,
                    bool accumulate) {
  const StridedMatrix<T> A = strided<T>(a, "a"), Bm = strided<T>(b, "b");
  const Matrix<T> C = matrix<T>(c, "c", true);
  check_size(A.cols == Bm.rows && C.rows == A.rows && C.cols == Bm.cols && A.rows >= 1 && Bm.cols >= 1 && A.cols >= 1,
             "gemm_narrow: expected a (M, K), b (K, N), c (M, N), each size at least 1");
  check_size(A.col_stride == 1 || A.row_stride == 1, "gemm_narrow: a's rows or columns must be contiguous");
  pyrnn::DenormalGuard ftz;
  k.gemm_narrow(static_cast<int>(A.rows), static_cast<int>(Bm.cols), static_cast<int>(A.cols), A.data, A.row_stride,
                A.col_stride, Bm.data, Bm.row_stride, Bm.col_stride, C.data, C.cols, accumulate);
}

// y (+)= w · v: w [rows, K] with contiguous rows (any row stride), v [K], y [rows].
template <class T>
void mk_matvec(const pyrnn::Kernels<T>& k, const py::array& w, const py::array& v, const py::array& y, bool accumulate) {
  const StridedMatrix<T> W = strided<T>(w, "w");
  check_size(W.col_stride == 1 && W.row_stride >= W.cols && W.rows >= 1 && W.cols >= 1,
             "matvec: expected w (rows, K) with contiguous rows");
  const T* pv = checked<T>(v, "v", {W.cols});
  T* out = checked<T>(y, "y", {W.rows}, true);
  pyrnn::DenormalGuard ftz;
  k.matvec(W.data, W.row_stride, static_cast<int>(W.rows), static_cast<int>(W.cols), pv, out, accumulate);
}

// W [G*H, K] (any strides) packed for the fused step.
template <class T>
py::array mk_pack(const pyrnn::Kernels<T>& k, const py::array& w, int G) {
  const StridedMatrix<T> W = strided<T>(w, "w");
  check_size(G >= 1 && W.rows >= G && W.rows % G == 0 && W.cols >= 1, "pack_recurrent: expected w (G*H, K)");
  const int H = static_cast<int>(W.rows / G), K = static_cast<int>(W.cols);
  py::array_t<T> out(static_cast<py::ssize_t>(pyrnn::packed_recurrent_size(G, H, K, k.unit_block)));
  k.pack_recurrent(W.data, W.row_stride, W.col_stride, G, H, K, out.mutable_data());
  return out;
}

// The sizes and buffers every step shares. w: packed by pack_recurrent (1-D), or W_hh's rows
// unpacked [G*H, K] (the streaming path). h_in [B, K], gates [B, ld] with ld >= gate_width,
// h_out [B, H]; rows and blocks: the part to run (default all).
template <class T>
pyrnn::StepArgs<T> step_args(const pyrnn::Kernels<T>& k, int G, int gate_width, const py::array& w,
                             const py::array& h_in, const py::array& gates, const py::array& h_out) {
  const Matrix<T> Hin = matrix<T>(h_in, "h_in"), Gt = matrix<T>(gates, "gates", true), Ho = matrix<T>(h_out, "h_out", true);
  pyrnn::StepArgs<T> s;
  check_size(Hin.rows >= 1 && Hin.cols >= 1 && Ho.cols >= 1 && Ho.rows == Hin.rows && Gt.rows == Hin.rows,
             "step: expected h_in (B, K), gates (B, ld), h_out (B, H), B, K, H >= 1");
  s.B = static_cast<int>(Hin.rows);
  s.K = static_cast<int>(Hin.cols);
  s.H = static_cast<int>(Ho.cols);
  check_size(Gt.cols >= static_cast<py::ssize_t>(gate_width) * s.H,
             "gates: expected at least " + std::to_string(gate_width) + "*H columns");
  if (w.ndim() == 1) {
    s.w = checked<T>(w, "w", {static_cast<py::ssize_t>(pyrnn::packed_recurrent_size(G, s.H, s.K, k.unit_block))});
  } else {
    s.w_rows = checked<T>(w, "w", {static_cast<py::ssize_t>(G) * s.H, s.K});
  }
  s.h_in = Hin.data;
  s.ld_h_in = s.K;
  s.gates = Gt.data;
  s.ld_gates = Gt.cols;
  s.h_out = Ho.data;
  s.ld_h_out = s.H;
  return s;
}

// Runs rows [r0, r1) x unit blocks [b0, b1) of a step: (r0, r1, b0, b1), -1 for "to the end".
template <class T>
void run_part(const pyrnn::Kernels<T>& k, pyrnn::StepFn<T> fn, const pyrnn::StepArgs<T>& s, std::vector<int> part) {
  const int blocks = (s.H + k.unit_block - 1) / k.unit_block;
  check_size(part.size() == 4, "part: expected (row_begin, row_end, block_begin, block_end)");
  if (part[1] < 0) part[1] = s.B;
  if (part[3] < 0) part[3] = blocks;
  check_size(0 <= part[0] && part[0] <= part[1] && part[1] <= s.B && 0 <= part[2] && part[2] <= part[3] &&
                 part[3] <= blocks,
             "part: expected 0 <= row_begin <= row_end <= B and 0 <= block_begin <= block_end <= blocks");
  pyrnn::DenormalGuard ftz;
  fn(s, part[0], part[1], part[2], part[3]);
}

// The GRU/LSTM kernels: built-in defaults (both names None), or chosen by name.
template <class T>
const typename pyrnn::Kernels<T>::Gated& gated_table(const pyrnn::Kernels<T>& k, pyrnn::StepArgs<T>& s,
                                                     const py::object& activation, const py::object& recurrent) {
  if (activation.is_none() && recurrent.is_none()) return k.gated[0];
  const GatedActivations defaults;
  s.cell_act = activation.is_none() ? defaults.cell : pyrnn::parse_activation("activation", activation.cast<std::string>());
  s.gate_act = recurrent.is_none() ? defaults.gate : pyrnn::parse_activation("recurrent_activation", recurrent.cast<std::string>());
  return k.gated[1];
}

template <class T>
void mk_rnn_step(const pyrnn::Kernels<T>& k, const std::string& act, const py::array& w, const py::array& h_in,
                 const py::array& gates, const py::array& h_out, const std::vector<int>& part) {
  const pyrnn::Activation a = pyrnn::parse_activation("activation", act);
  check_size(static_cast<int>(a) < pyrnn::kRnnActivations, "activation: an rnn step takes tanh, relu, sigmoid or linear");
  const pyrnn::StepArgs<T> s = step_args(k, 1, 1, w, h_in, gates, h_out);
  run_part(k, k.rnn_step[static_cast<int>(a)], s, part);
}

template <class T>
void mk_lstm_step(const pyrnn::Kernels<T>& k, const py::array& w, const py::array& h_in, const py::array& gates,
                  const py::array& c_prev, const py::array& c_out, const py::array& h_out, bool store_gates,
                  const py::object& activation, const py::object& recurrent, const std::vector<int>& part) {
  pyrnn::StepArgs<T> s = step_args(k, 4, 4, w, h_in, gates, h_out);
  s.c_prev = checked<T>(c_prev, "c_prev", {s.B, s.H});
  s.c_out = checked<T>(c_out, "c_out", {s.B, s.H}, true);
  s.store_gates = store_gates;
  run_part(k, gated_table(k, s, activation, recurrent).lstm_step, s, part);
}

// Reset after the product (torch): gates [B, >= 3H], or >= 4H with store_gates (it keeps W_hn h + b_hn).
template <class T>
void mk_gru_step(const pyrnn::Kernels<T>& k, const py::array& w, const py::array& h_in, const py::array& h_prev,
                 const py::array& gates, const py::array& h_out, const py::object& bias_hn, bool store_gates,
                 const py::object& activation, const py::object& recurrent, const std::vector<int>& part) {
  pyrnn::StepArgs<T> s = step_args(k, 3, store_gates ? 4 : 3, w, h_in, gates, h_out);
  check_size(s.K == s.H, "gru_step: expected h_in (B, H)");
  s.h_prev = checked<T>(h_prev, "h_prev", {s.B, s.H});
  s.ld_h_prev = s.H;
  s.bias_hn = bias_hn.is_none() ? nullptr : checked<T>(bias_hn, "bias_hn", {s.H});
  s.store_gates = store_gates;
  run_part(k, gated_table(k, s, activation, recurrent).gru_step, s, part);
}

// ---------------------------------------------------------------- int8 inference (quant/int8.h)
using I8Array = py::array_t<std::int8_t, py::array::c_style>;
using U8Array = py::array_t<std::uint8_t, py::array::c_style>;
using F32Array = py::array_t<float, py::array::c_style>;
using I32Array = py::array_t<std::int32_t, py::array::c_style>;

template <class A>
A int8_arg(const py::handle& obj, const char* name, const std::vector<py::ssize_t>& shape) {
  const py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array>(obj)) throw py::type_error(std::string(name) + ": expected a NumPy array");
  if (!arr.dtype().is(py::dtype::of<typename A::value_type>()))
    throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(py::dtype::of<typename A::value_type>())) +
                         ", got " + std::string(py::str(arr.dtype())));
  std::vector<py::ssize_t> got(arr.shape(), arr.shape() + arr.ndim());
  bool ok = got.size() == shape.size();
  for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == got[i];
  if (!ok) throw std::invalid_argument(std::string(name) + ": expected shape " + shape_str(shape) + ", got " + shape_str(got));
  if (!(arr.flags() & py::array::c_style)) throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array");
  return py::reinterpret_borrow<A>(arr);
}

// The scheme's entry points by weight type. Arguments by reference: a by-value pack copied the
// packed weights on every call (the whole of W_ih and W_hh per layer call, 73 KB per step of a
// streaming GRUCell 64 -> 128).
template <class W>
struct LayerFn;
template <>
struct LayerFn<pyrnn::int8::Weights> {
  template <class... A> static void layer_forward(const A&... a) { pyrnn::int8::layer_forward(a...); }
  template <class... A> static void linear(const A&... a) { pyrnn::int8::linear(a...); }
};
template <>
struct LayerFn<pyrnn::bf16::Weights> {
  template <class... A> static void layer_forward(const A&... a) { pyrnn::bf16::layer_forward(a...); }
  template <class... A> static void linear(const A&... a) { pyrnn::bf16::linear(a...); }
};

// Optional packed weights (None or W).
template <class W>
const W* optional_weights(const py::object& obj, const char* name) {
  if (obj.is_none()) return nullptr;
  if (!py::isinstance<W>(obj)) throw py::type_error(std::string(name) + ": expected packed weights of the layer's kind or None");
  return &obj.cast<const W&>();
}

template <class W>
py::tuple quant_layer_forward(const std::string& mode, const py::array& x, const W& w_ih, const W& w_hh,
                              const py::array& bias_x, const py::object& bias_hn, const py::array& h0,
                              const py::object& c0, const py::object& lengths, const py::object& w_hn_obj,
                              const py::object& w_hr_obj) {
        using pyrnn::int8::Cell;
        const Cell cell = mode == "LSTM" ? Cell::lstm : mode == "GRU" ? Cell::gru : mode == "RNN_TANH" ? Cell::rnn_tanh
                          : mode == "RNN_RELU" ? Cell::rnn_relu
                          : throw std::invalid_argument("int8_layer_forward: mode must be 'LSTM', 'GRU', 'RNN_TANH' or "
                                                        "'RNN_RELU', got '" + mode + "'");
        const bool lstm = cell == Cell::lstm;
        const W* w_hn = optional_weights<W>(w_hn_obj, "w_hn");
        const W* w_hr = optional_weights<W>(w_hr_obj, "w_hr");
        if (w_hn && cell != Cell::gru) throw std::invalid_argument("int8_layer_forward: w_hn (GRU reset before) needs mode 'GRU'");
        if (w_hr && !lstm) throw std::invalid_argument("int8_layer_forward: w_hr (the projection) needs mode 'LSTM'");
        const int G = pyrnn::int8::gates_of(cell);
        const F32Array xa = int8_arg<F32Array>(x, "x", {-1, -1, w_ih.K});
        const int T = static_cast<int>(xa.shape(0)), B = static_cast<int>(xa.shape(1));
        const int H = w_hr ? w_hr->K : w_hn ? w_hn->N : w_hh.K, S = w_hr ? w_hr->N : H;
        if (w_ih.N != G * H || w_hh.N != (w_hn ? 2 : G) * H || w_hh.K != S || (w_hn && w_hn->K != H))
          throw std::invalid_argument("int8_layer_forward: weights must have " + std::to_string(G) + "*H rows (w_hh " +
                                      (w_hn ? "2*H" : std::to_string(G) + "*H") + " rows of " + std::to_string(S) + ")");
        const F32Array ba = int8_arg<F32Array>(bias_x, "bias_x", {G * H});
        std::vector<float> bhn(H, 0.0f);
        if (!bias_hn.is_none()) {
          const F32Array b = int8_arg<F32Array>(bias_hn, "bias_hn", {H});
          std::copy(b.data(), b.data() + H, bhn.begin());
        }
        const F32Array ha = int8_arg<F32Array>(h0, "h0", {B, S});
        F32Array ca;
        if (lstm) {
          if (c0.is_none()) throw std::invalid_argument("int8_layer_forward: LSTM needs c0");
          ca = int8_arg<F32Array>(c0, "c0", {B, H});
        }
        I32Array la;
        if (!lengths.is_none()) {
          la = int8_arg<I32Array>(lengths, "lengths", {B});
          for (int b = 0; b < B; ++b)
            if (la.data()[b] < 0 || la.data()[b] > T) throw std::invalid_argument("lengths must lie in [0, T]");
        }
        F32Array out({T, B, S}), hn({B, S});
        py::object cn = py::none();
        F32Array cna;
        if (lstm) {
          cna = F32Array({B, H});
          cn = cna;
        }
        {
          Compute compute;
          LayerFn<W>::layer_forward(cell, T, B, w_ih.K, H, w_ih, w_hh, ba.data(), bhn.data(), xa.data(), ha.data(),
                                     lstm ? ca.data() : nullptr, lengths.is_none() ? nullptr : la.data(),
                                     out.mutable_data(), hn.mutable_data(), lstm ? cna.mutable_data() : nullptr,
                                     w_hn, w_hr);
        }
        return py::make_tuple(out, hn, cn);
      }

template <class W>
F32Array quant_linear(const py::array& x, const W& w) {
  const F32Array xa = int8_arg<F32Array>(x, "x", {-1, w.K});
  const int M = static_cast<int>(xa.shape(0));
  F32Array y({M, w.N});
  {
    Compute compute;
    LayerFn<W>::linear(M, xa.data(), w, y.mutable_data());
  }
  return y;
}

void bind_int8(py::module_& m) {
  using pyrnn::int8::Weights;
  py::class_<Weights>(m, "Int8Weights", "int8 weights packed for the int8 kernels (quant/int8.h).")
      .def(py::init([](const py::array& q, const py::array& scale) {
             const I8Array qa = int8_arg<I8Array>(q, "q", {-1, -1});
             const int N = static_cast<int>(qa.shape(0)), K = static_cast<int>(qa.shape(1));
             const F32Array sa = int8_arg<F32Array>(scale, "scale", {N});
             return Weights(qa.data(), sa.data(), N, K);
           }),
           py::arg("q"), py::arg("scale"))
      .def_readonly("rows", &Weights::N)
      .def_readonly("cols", &Weights::K)
      .def(py::pickle([](const Weights& w) {  // as (q, scale): unpacked again on load
             I8Array q({w.N, w.K});
             for (int n = 0; n < w.N; ++n)
               for (int k = 0; k < w.K; ++k)
                 q.mutable_at(n, k) = w.packed[(static_cast<std::size_t>(n / pyrnn::int8::kGroup) * w.Kp + (k / 4) * 4) *
                                                   pyrnn::int8::kGroup + (n % pyrnn::int8::kGroup) * 4 + k % 4];
             F32Array s(w.N);
             std::copy(w.scale.begin(), w.scale.begin() + w.N, s.mutable_data());
             return py::make_tuple(q, s);
           },
           [](const py::tuple& t) {
             const I8Array q = int8_arg<I8Array>(t[0], "q", {-1, -1});
             const F32Array s = int8_arg<F32Array>(t[1], "scale", {q.shape(0)});
             return Weights(q.data(), s.data(), static_cast<int>(q.shape(0)), static_cast<int>(q.shape(1)));
           }));
  m.def("int8_isa", [] { return std::string(pyrnn::int8::active().name); },
        "The int8 kernels in use: 'avx512_vnni' (the avx512 choice on a CPU with AVX512-VNNI), 'avx_vnni' (AVX-VNNI), 'avx2' or 'scalar'.");
  m.def("_int8_quantize_rows", [](const py::array& x) {
        const F32Array xa = int8_arg<F32Array>(x, "x", {-1, -1});
        const int M = static_cast<int>(xa.shape(0)), K = static_cast<int>(xa.shape(1));
        U8Array q({M, K});
        F32Array s(M);
        std::vector<std::uint8_t> row(pyrnn::int8::padded_k(K));
        for (int r = 0; r < M; ++r) {
          s.mutable_data()[r] = pyrnn::int8::quantize_row(xa.data() + static_cast<std::size_t>(r) * K, K,
                                                          pyrnn::int8::padded_k(K), row.data());
          std::copy(row.begin(), row.begin() + K, q.mutable_data() + static_cast<std::size_t>(r) * K);
        }
        return py::make_tuple(q, s);
      }, py::arg("x"), "Per-row dynamic quantization as the int8 layers do it: (u8 = q + 128 [M, K], scale [M]).");
  m.def("_int8_gemm", [](const std::string& isa, const py::array& a, const Weights& w) {
        const pyrnn::int8::Table& t = pyrnn::int8::table_for(isa.c_str());
        const U8Array aa = int8_arg<U8Array>(a, "a", {-1, w.K});
        const int M = static_cast<int>(aa.shape(0));
        const std::ptrdiff_t ldc = static_cast<std::ptrdiff_t>(w.groups) * pyrnn::int8::kGroup;
        std::vector<std::uint8_t> ap(static_cast<std::size_t>(std::max(M, 1)) * w.Kp, 0);
        for (int r = 0; r < M; ++r)
          std::copy(aa.data() + static_cast<std::size_t>(r) * w.K, aa.data() + static_cast<std::size_t>(r + 1) * w.K,
                    ap.begin() + static_cast<std::size_t>(r) * w.Kp);
        std::vector<std::int32_t> c(static_cast<std::size_t>(std::max(M, 1)) * ldc);
        {
          Compute compute;
          pyrnn::int8::gemm(t, M, ap.data(), w.Kp, w, c.data(), ldc);
        }
        I32Array out({M, w.N});
        for (int r = 0; r < M; ++r)
          std::copy(c.begin() + r * ldc, c.begin() + r * ldc + w.N, out.mutable_data() + static_cast<std::size_t>(r) * w.N);
        return out;
      }, py::arg("isa"), py::arg("a"), py::arg("w"),
      "Raw int32 products sum_k a[m, k] * q[n, k] of the int8 GEMM micro-kernel of one ISA ('avx512' = VNNI when present), for tests.");
  m.def("_int8_kernels", [] {
        py::list names;  // every int8 kernel this CPU and build can run (for tests that force each)
        for (const char* n : {"scalar", "avx2_maddubs", "avx_vnni", "avx512_vnni"}) {
          try {
            pyrnn::int8::table_for(n);
            names.append(n);
          } catch (const std::invalid_argument&) {
          }
        }
        return names;
      }, "The int8 GEMM kernels this CPU and build can run, by name (for _int8_gemm).");
  m.def("int8_linear", &quant_linear<Weights>, py::arg("x"), py::arg("w"),
        "x [M, K] . W^T through the int8 scheme (per-row dynamic activations), float32 [M, N].");
  m.def("int8_layer_forward", &quant_layer_forward<Weights>, py::arg("mode"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("bias_x"), py::arg("bias_hn"), py::arg("h0"), py::arg("c0"), py::arg("lengths"),
        py::arg("w_hn") = py::none(), py::arg("w_hr") = py::none(),
        "One int8 LSTM/GRU layer in one direction (quant/int8.h): x [T, B, I] -> (out [T, B, H], h_n [B, H], c_n or None).");
  using B16 = pyrnn::bf16::Weights;
  py::class_<B16>(m, "Bf16Weights", "Weights rounded to bfloat16 and packed for the bf16 kernels (quant/bf16.h).")
      .def(py::init([](const py::array& w) {
             const F32Array wa = int8_arg<F32Array>(w, "w", {-1, -1});
             return B16(wa.data(), static_cast<int>(wa.shape(0)), static_cast<int>(wa.shape(1)));
           }),
           py::arg("w"))
      .def_readonly("rows", &B16::N)
      .def_readonly("cols", &B16::K)
      .def(py::pickle([](const B16& w) {  // as the float32 values of the bf16 weights
             F32Array f({w.N, w.K});
             for (int n = 0; n < w.N; ++n)
               for (int k = 0; k < w.K; ++k)
                 f.mutable_at(n, k) = pyrnn::bf16::to_float(
                     w.packed[(static_cast<std::size_t>(n / pyrnn::bf16::kGroup) * w.Kp + (k / 2) * 2) * pyrnn::bf16::kGroup +
                              (n % pyrnn::bf16::kGroup) * 2 + k % 2]);
             return py::make_tuple(f);
           },
           [](const py::tuple& t) {
             const F32Array f = int8_arg<F32Array>(t[0], "w", {-1, -1});
             return B16(f.data(), static_cast<int>(f.shape(0)), static_cast<int>(f.shape(1)));
           }));
  m.def("bf16_isa", [] { return std::string(pyrnn::bf16::active().name); },
        "The bf16 kernels in use: 'avx512_bf16' (vdpbf16ps), 'avx512f' or 'avx2' (widening to float32 in registers) or 'scalar'.");
  m.def("_bf16_gemm", [](const std::string& isa, const py::array& a, const B16& w) {
        const pyrnn::bf16::Table& t = pyrnn::bf16::table_for(isa.c_str());
        const F32Array aa = int8_arg<F32Array>(a, "a", {-1, w.K});
        const int M = static_cast<int>(aa.shape(0));
        const std::ptrdiff_t ldc = static_cast<std::ptrdiff_t>(w.groups) * pyrnn::bf16::kGroup;
        std::vector<std::uint16_t> ap(static_cast<std::size_t>(std::max(M, 1)) * w.Kp, 0);
        for (int r = 0; r < M; ++r)
          for (int k = 0; k < w.K; ++k)
            ap[static_cast<std::size_t>(r) * w.Kp + k] = pyrnn::bf16::from_float(aa.data()[static_cast<std::size_t>(r) * w.K + k]);
        std::vector<float> c(static_cast<std::size_t>(std::max(M, 1)) * ldc);
        {
          Compute compute;
          pyrnn::bf16::gemm(t, M, ap.data(), w.Kp, w, c.data(), ldc);
        }
        F32Array out({M, w.N});
        for (int r = 0; r < M; ++r)
          std::copy(c.begin() + r * ldc, c.begin() + r * ldc + w.N, out.mutable_data() + static_cast<std::size_t>(r) * w.N);
        return out;
      }, py::arg("isa"), py::arg("a"), py::arg("w"),
      "a @ W.T with a rounded to bf16, by the bf16 GEMM micro-kernel of one ISA or kernel name, for tests.");
  m.def("_bf16_kernels", [] {
        py::list names;  // every bf16 kernel this CPU and build can run (for tests that force each)
        for (const char* n : {"scalar", "avx2", "avx512f", "avx512_bf16"}) {
          try {
            pyrnn::bf16::table_for(n);
            names.append(n);
          } catch (const std::invalid_argument&) {
          }
        }
        return names;
      }, "The bf16 GEMM kernels this CPU and build can run, by name (for _bf16_gemm).");
  m.def("bf16_linear", &quant_linear<B16>, py::arg("x"), py::arg("w"),
        "x [M, K] . W^T with x and W rounded to bf16, float32 [M, N].");
  m.def("bf16_layer_forward", &quant_layer_forward<B16>, py::arg("mode"), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("bias_x"), py::arg("bias_hn"), py::arg("h0"), py::arg("c0"), py::arg("lengths"),
        py::arg("w_hn") = py::none(), py::arg("w_hr") = py::none(),
        "One bfloat16 LSTM/GRU layer in one direction (quant/bf16.h), as int8_layer_forward.");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyrnn's C++ core: sequence forward and backward for RNN, GRU and LSTM layers.";
  pyrnn::active_isa();  // choose the kernels now: a bad PYRNN_ISA fails the import, clearly
  bind_int8(m);
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
  m.def("_scratch_bytes", [](const std::string& cell, const std::string& pass, int steps, int batch, int input,
                             int hidden, int proj, const py::object& dtype, bool recurrent_mask) {
    const pyrnn::Cell c = pyrnn::parse_cell(cell);
    const pyrnn::LayerSizes s{steps, batch, input, hidden, proj > 0 ? proj : hidden, proj > 0, recurrent_mask};
    const bool f32 = py::dtype::from_args(dtype).is(py::dtype::of<float>());
    if (pass == "cell") return f32 ? pyrnn::cell_scratch_bytes<float>(c, batch, input, hidden)
                                   : pyrnn::cell_scratch_bytes<double>(c, batch, input, hidden);
    const pyrnn::Pass p = pass == "inference"  ? pyrnn::Pass::inference
                          : pass == "training" ? pyrnn::Pass::training
                          : pass == "backward" ? pyrnn::Pass::backward
                                               : throw std::invalid_argument("pass: inference, training, backward or cell");
    return f32 ? pyrnn::scratch_bytes<float>(c, s, p) : pyrnn::scratch_bytes<double>(c, s, p);
  }, py::arg("cell"), py::arg("pass"), py::arg("steps"), py::arg("batch"), py::arg("input"), py::arg("hidden"),
        py::arg("proj"), py::arg("dtype"), py::arg("recurrent_mask") = false, "Bytes a driver reports it allocates for itself (tests).");
  m.def("_scratch_peak", [](bool reset) {
    const std::size_t peak = pyrnn::scratch_stats().peak;
    if (reset) pyrnn::reset_scratch_peak();
    return peak;
  }, py::arg("reset") = false, "Bytes of scratch held at the most since the last reset beyond what was held then.");
  m.def("_memory_limit", &pyrnn::memory_limit_bytes,
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
         const std::string& recurrent_activation, const py::object& recurrent_mask) {
        const Cell c = pyrnn::parse_cell(cell);
        const GatedActivations acts = pyrnn::parse_activations(c, activation, recurrent_activation);
        return by_dtype(
            x, [&] { return forward_t<float>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, training, batch_sizes, w_hr, recurrent_mask); },
            [&] { return forward_t<double>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, training, batch_sizes, w_hr, recurrent_mask); });
      },
      py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), py::arg("training"), py::arg("batch_sizes") = py::none(), py::arg("w_hr") = py::none(),
      py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
      py::arg("recurrent_mask") = py::none(),
      "One layer over a time-major sequence. recurrent_mask (B, P): recurrent dropout, mask*h_{t-1} where h_{t-1} enters W_hh.\n"
      "Returns (out, h_n, c_n or None, workspace or None).");
  m.def(
      "backward",
      [](const std::string& cell, const py::array& x, const py::array& h0, const py::object& c0, const py::array& w_ih,
         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh, const py::array& out,
         const py::array& workspace, const py::array& grad_out, const py::array& grad_hn, const py::object& grad_cn,
         const py::object& batch_sizes, const py::object& w_hr, const std::string& activation,
         const std::string& recurrent_activation, const py::object& recurrent_mask) {
        const Cell c = pyrnn::parse_cell(cell);
        const GatedActivations acts = pyrnn::parse_activations(c, activation, recurrent_activation);
        return by_dtype(
            x,
            [&] {
              return backward_t<float>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, workspace, grad_out, grad_hn, grad_cn,
                                       batch_sizes, w_hr, recurrent_mask);
            },
            [&] {
              return backward_t<double>(c, acts, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, workspace, grad_out, grad_hn,
                                        grad_cn, batch_sizes, w_hr, recurrent_mask);
            });
      },
      py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), py::arg("out"), py::arg("workspace"), py::arg("grad_out"), py::arg("grad_hn"), py::arg("grad_cn"),
      py::arg("batch_sizes") = py::none(), py::arg("w_hr") = py::none(),
      py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
      py::arg("recurrent_mask") = py::none(),
      "BPTT through one layer; consumes the forward's workspace (recurrent_mask: the forward's).\n"
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
  py::class_<Microkernels>(m, "_Microkernels", "One ISA's kernels, each callable alone (tests only).")
      .def_property_readonly("isa", [](const Microkernels& mk) { return std::string(pyrnn::isa_name(mk.isa)); })
      .def("sizes", [](const Microkernels& mk, const py::object& dtype_like) {
        const py::dtype dtype = py::dtype::from_args(dtype_like);
        const auto sizes = [](const auto& k) {
          py::dict d;
          d["gemm_mr"] = k.gemm_mr;
          d["gemm_nr"] = k.gemm_nr;
          d["unit_block"] = k.unit_block;
          return d;
        };
        if (dtype.is(py::dtype::of<float>())) return sizes(*mk.f32);
        if (dtype.is(py::dtype::of<double>())) return sizes(*mk.f64);
        throw py::type_error("dtype: expected float32 or float64");
      }, py::arg("dtype"), "{gemm_mr, gemm_nr, unit_block} of the float32 or float64 table.")
      .def("activation", [](const Microkernels& mk, const std::string& name, const py::array& x) {
        return mk.on(x, [&](const auto& k) { return apply_activation(k, name, x); });
      }, py::arg("name"), py::arg("x"))
      .def("gemm_tile", [](const Microkernels& mk, const py::array& a, const py::array& b, const py::array& c, int cols,
                           bool overwrite, const py::object& bias) {
        mk.on(a, [&](const auto& k) { mk_gemm_tile(k, a, b, c, cols, overwrite, bias); });
      }, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("cols"), py::arg("overwrite"), py::arg("bias") = py::none())
      .def("gemm_narrow", [](const Microkernels& mk, const py::array& a, const py::array& b, const py::array& c,
                             bool accumulate) { mk.on(a, [&](const auto& k) { mk_gemm_narrow(k, a, b, c, accumulate); }); },
           py::arg("a"), py::arg("b"), py::arg("c"), py::arg("accumulate"))
      .def("matvec", [](const Microkernels& mk, const py::array& w, const py::array& v, const py::array& y,
                        bool accumulate) { mk.on(w, [&](const auto& k) { mk_matvec(k, w, v, y, accumulate); }); },
           py::arg("w"), py::arg("v"), py::arg("y"), py::arg("accumulate"))
      .def("pack_recurrent", [](const Microkernels& mk, const py::array& w, int gates) {
        return mk.on(w, [&](const auto& k) { return mk_pack(k, w, gates); });
      }, py::arg("w"), py::arg("gates"))
      .def("rnn_step", [](const Microkernels& mk, const std::string& act, const py::array& w, const py::array& h_in,
                          const py::array& gates, const py::array& h_out, const std::vector<int>& part) {
        mk.on(h_in, [&](const auto& k) { mk_rnn_step(k, act, w, h_in, gates, h_out, part); });
      }, py::arg("activation"), py::arg("w"), py::arg("h_in"), py::arg("gates"), py::arg("h_out"),
           py::arg("part") = std::vector<int>{0, -1, 0, -1})
      .def("lstm_step", [](const Microkernels& mk, const py::array& w, const py::array& h_in, const py::array& gates,
                           const py::array& c_prev, const py::array& c_out, const py::array& h_out, bool store_gates,
                           const py::object& activation, const py::object& recurrent, const std::vector<int>& part) {
        mk.on(h_in, [&](const auto& k) {
          mk_lstm_step(k, w, h_in, gates, c_prev, c_out, h_out, store_gates, activation, recurrent, part);
        });
      }, py::arg("w"), py::arg("h_in"), py::arg("gates"), py::arg("c_prev"), py::arg("c_out"), py::arg("h_out"),
           py::arg("store_gates") = false, py::arg("activation") = py::none(), py::arg("recurrent_activation") = py::none(),
           py::arg("part") = std::vector<int>{0, -1, 0, -1})
      .def("gru_step", [](const Microkernels& mk, const py::array& w, const py::array& h_in, const py::array& h_prev,
                          const py::array& gates, const py::array& h_out, const py::object& bias_hn, bool store_gates,
                          const py::object& activation, const py::object& recurrent, const std::vector<int>& part) {
        mk.on(h_in, [&](const auto& k) {
          mk_gru_step(k, w, h_in, h_prev, gates, h_out, bias_hn, store_gates, activation, recurrent, part);
        });
      }, py::arg("w"), py::arg("h_in"), py::arg("h_prev"), py::arg("gates"), py::arg("h_out"),
           py::arg("bias_hn") = py::none(), py::arg("store_gates") = false, py::arg("activation") = py::none(),
           py::arg("recurrent_activation") = py::none(), py::arg("part") = std::vector<int>{0, -1, 0, -1});
  m.def("_microkernels", &microkernels, py::arg("isa"),
        "One supported ISA's table of micro-kernels, for tests: pyrnn.supported_isas() lists them.");
  m.def("_activation", &activation, "The kernels' vectorised tanh/sigmoid on a 1-D array (for accuracy tests).");
}
