// The vectorised activations and their derivatives, written once over the Simd<T> wrapper
// (simd.h), and the two ways a gated cell names them (fixed at compile time or per call).
// Compiled once per ISA by scalar.cpp / avx2.cpp / avx512.cpp (through table.h): include only
// from there.
#pragma once
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "kernels.h"
#include "simd.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

// The activations are inlined into every epilogue, where the rows of a tile give independent
// chains for the out-of-order core to overlap; a call per vector would serialise them.
#define PYRNN_INLINE inline __attribute__((always_inline))
#define PYRNN_INLINE_LAMBDA __attribute__((always_inline))

// ---------------------------------------------------------------------------------------
// Activations, by range reduction: exp(x) = 2^n e^r with n = round(x/ln2), r = x - n ln2 taken
// in two parts (Cody-Waite, so r is exact), |r| <= ln2/2, and e^r by its Taylor polynomial:
// degree 7 for float (truncation below 6e-9 relative), degree 13 for double (below 5e-18).
// tanh near zero, where 1 - 2/(e^{2|x|} + 1) would cancel: float uses tanh's own odd series to
// x^15 (|x| < 0.5, truncation below 1e-8 relative); double uses expm1(2x)/(expm1(2x) + 2) with
// expm1 by its degree-16 series (|x| < 0.3). The bounds are tested against libm
// (tests/test_kernels.py: float 2.4e-7, double 1e-15 relative). Clamps put x second in min/max,
// which return their second operand for NaN, so NaN propagates.
// ---------------------------------------------------------------------------------------
template <class S>
PYRNN_INLINE typename S::reg exp_f32(typename S::reg x) {
  using reg = typename S::reg;
  x = S::min(S::set1(88.3f), S::max(S::set1(-87.3f), x));
  const reg n = S::round(S::mul(x, S::set1(1.44269504088896341f)));
  reg r = S::fmadd(n, S::set1(-0.693359375f), x);  // ln2 = 0.693359375 - 2.12194440e-4
  r = S::fmadd(n, S::set1(2.12194440e-4f), r);
  reg p = S::set1(1.0f / 5040);
  p = S::fmadd(p, r, S::set1(1.0f / 720));
  p = S::fmadd(p, r, S::set1(1.0f / 120));
  p = S::fmadd(p, r, S::set1(1.0f / 24));
  p = S::fmadd(p, r, S::set1(1.0f / 6));
  p = S::fmadd(p, r, S::set1(0.5f));
  p = S::fmadd(p, r, S::set1(1.0f));
  p = S::fmadd(p, r, S::set1(1.0f));
  return S::mul(p, S::pow2i(n));
}

// sum_{k=first}^{last} r^k / k!, by Horner (first is 0 or 1).
template <class S>
PYRNN_INLINE typename S::reg taylor_exp_f64(typename S::reg r, int first, int last) {
  double coef[17];
  coef[0] = 1.0;
  for (int k = 1; k <= last; ++k) coef[k] = coef[k - 1] / k;
  typename S::reg p = S::set1(coef[last]);
  for (int k = last - 1; k >= first; --k) p = S::fmadd(p, r, S::set1(coef[k]));
  return first == 1 ? S::mul(p, r) : p;
}

template <class S>
PYRNN_INLINE typename S::reg exp_f64(typename S::reg x) {
  using reg = typename S::reg;
  x = S::min(S::set1(709.0), S::max(S::set1(-708.0), x));
  const reg n = S::round(S::mul(x, S::set1(1.4426950408889634074)));
  reg r = S::fmadd(n, S::set1(-6.93147180369123816490e-01), x);  // ln2 = hi + lo, hi has 32 bits
  r = S::fmadd(n, S::set1(-1.90821492927058770002e-10), r);
  return S::mul(taylor_exp_f64<S>(r, 0, 13), S::pow2i(n));
}

template <class S>
PYRNN_INLINE typename S::reg vsigmoid(typename S::reg x) {
  // 1/(1 + e^-x): no cancellation anywhere, a few ulp relative.
  using T = typename S::value_type;
  const auto one = S::set1(T(1));
  const auto e = std::is_same_v<T, double> ? exp_f64<S>(S::sub(S::zero(), x)) : exp_f32<S>(S::sub(S::zero(), x));
  return S::div(one, S::add(one, e));
}

template <class S>
PYRNN_INLINE typename S::reg vtanh(typename S::reg x) {
  using reg = typename S::reg;
  using T = typename S::value_type;
  const reg a = S::abs(x);
  const reg one = S::set1(T(1)), two = S::set1(T(2));
  if constexpr (std::is_same_v<T, double>) {
    const reg big = S::copysign(S::sub(one, S::div(two, S::add(exp_f64<S>(S::add(a, a)), one))), x);
    const reg em = taylor_exp_f64<S>(S::add(x, x), 1, 16);  // expm1(2x), |2x| < 0.6
    const reg small = S::div(em, S::add(em, two));
    return S::select_lt(a, S::set1(0.3), small, big);
  } else {
    const reg e = exp_f32<S>(S::add(a, a));
    const reg big = S::copysign(S::sub(one, S::div(two, S::add(e, one))), x);
    const reg x2 = S::mul(x, x);
    reg p = S::set1(-929569.0f / 638512875.0f);
    p = S::fmadd(p, x2, S::set1(21844.0f / 6081075.0f));
    p = S::fmadd(p, x2, S::set1(-1382.0f / 155925.0f));
    p = S::fmadd(p, x2, S::set1(62.0f / 2835.0f));
    p = S::fmadd(p, x2, S::set1(-17.0f / 315.0f));
    p = S::fmadd(p, x2, S::set1(2.0f / 15.0f));
    p = S::fmadd(p, x2, S::set1(-1.0f / 3.0f));
    const reg small = S::fmadd(S::mul(p, x2), x, x);
    return S::select_lt(a, S::set1(0.5f), small, big);
  }
}

template <class S>
inline typename S::reg vrelu(typename S::reg x) {
  return S::max(S::zero(), x);  // NaN stays NaN, as in torch.relu
}

template <class T, class S, class F>
void apply_inplace(T* x, std::ptrdiff_t n, F f) {
  std::ptrdiff_t i = 0;
  for (; i + S::W <= n; i += S::W) S::store(x + i, f(S::load(x + i)));
  if (i < n) store_n<S>(x + i, f(load_n<S>(x + i, static_cast<int>(n - i))), static_cast<int>(n - i));
}

template <class S>
PYRNN_INLINE typename S::reg vhard_sigmoid(typename S::reg x) {  // relu6(x + 3) / 6, as Keras 3
  using T = typename S::value_type;
  const typename S::reg six = S::set1(T(6));
  return S::div(S::min(six, S::max(S::zero(), S::add(x, S::set1(T(3))))), six);
}

template <class S, Activation Act>
PYRNN_INLINE typename S::reg activate(typename S::reg x) {
  if constexpr (Act == Activation::tanh) return vtanh<S>(x);
  if constexpr (Act == Activation::relu) return vrelu<S>(x);
  if constexpr (Act == Activation::sigmoid) return vsigmoid<S>(x);
  if constexpr (Act == Activation::linear) return x;
  if constexpr (Act == Activation::hard_sigmoid) return vhard_sigmoid<S>(x);
}

// act'(a) from h = act(a): tanh 1 - h^2, relu [h > 0], sigmoid h(1 - h), linear 1,
// hard_sigmoid [0 < h < 1]/6; times dh.
template <class S, Activation Act>
PYRNN_INLINE typename S::reg activation_grad(typename S::reg h, typename S::reg dh) {
  using T = typename S::value_type;
  const typename S::reg one = S::set1(T(1));
  if constexpr (Act == Activation::tanh) return S::mul(dh, S::sub(one, S::mul(h, h)));
  if constexpr (Act == Activation::relu) return S::positive_mask(h, dh);
  if constexpr (Act == Activation::sigmoid) return S::mul(dh, S::mul(h, S::sub(one, h)));
  if constexpr (Act == Activation::linear) return dh;
  if constexpr (Act == Activation::hard_sigmoid)
    return S::positive_mask(h, S::positive_mask(S::sub(one, h), S::div(dh, S::set1(T(6)))));
}

// The activations of a gated cell (GRU, LSTM): `gate` for its gates (Keras recurrent_activation),
// `cell` for its candidate and LSTM's output (Keras activation), and their derivatives from
// the activated values. Fixed at compile time, or (Chosen) read from the arguments.
template <class S, Activation Gate, Activation Cell>
struct FixedActivations {
  using reg = typename S::reg;
  template <class A> static PYRNN_INLINE reg gate(const A&, reg x) { return activate<S, Gate>(x); }
  template <class A> static PYRNN_INLINE reg cell(const A&, reg x) { return activate<S, Cell>(x); }
  template <class A> static PYRNN_INLINE reg gate_grad(const A&, reg y, reg d) { return activation_grad<S, Gate>(y, d); }
  template <class A> static PYRNN_INLINE reg cell_grad(const A&, reg y, reg d) { return activation_grad<S, Cell>(y, d); }
};

template <class S>
struct ChosenActivations {
  using reg = typename S::reg;
  static PYRNN_INLINE reg apply(Activation act, reg x) {
    switch (act) {
      case Activation::tanh: return activate<S, Activation::tanh>(x);
      case Activation::relu: return activate<S, Activation::relu>(x);
      case Activation::sigmoid: return activate<S, Activation::sigmoid>(x);
      case Activation::hard_sigmoid: return activate<S, Activation::hard_sigmoid>(x);
      default: return x;
    }
  }
  static PYRNN_INLINE reg grad(Activation act, reg y, reg d) {
    switch (act) {
      case Activation::tanh: return activation_grad<S, Activation::tanh>(y, d);
      case Activation::relu: return activation_grad<S, Activation::relu>(y, d);
      case Activation::sigmoid: return activation_grad<S, Activation::sigmoid>(y, d);
      case Activation::hard_sigmoid: return activation_grad<S, Activation::hard_sigmoid>(y, d);
      default: return d;
    }
  }
  template <class A> static PYRNN_INLINE reg gate(const A& a, reg x) { return apply(a.gate_act, x); }
  template <class A> static PYRNN_INLINE reg cell(const A& a, reg x) { return apply(a.cell_act, x); }
  template <class A> static PYRNN_INLINE reg gate_grad(const A& a, reg y, reg d) { return grad(a.gate_act, y, d); }
  template <class A> static PYRNN_INLINE reg cell_grad(const A& a, reg y, reg d) { return grad(a.cell_act, y, d); }
};

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
