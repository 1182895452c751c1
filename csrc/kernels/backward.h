// Backward through one time step, elementwise: saved gates -> gate gradients, per cell.
// Compiled once per ISA by scalar.cpp / avx2.cpp / avx512.cpp (through table.h): include only
// from there.
#pragma once
#include <algorithm>
#include <cstddef>

#include "activations.h"
#include "kernels.h"
#include "simd.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

// ---------------------------------------------------------------------------------------
// Backward, one step, elementwise over whole rows. dh = grad_out + dh_rec.
// ---------------------------------------------------------------------------------------
template <class T, class S, class F>
inline void for_each_row_block(const BackArgs<T>& a, int r0, int r1, F f) {
  for (int b = r0; b < r1; ++b)
    for (int u = 0; u < a.H; u += S::W) f(b, u, std::min(S::W, a.H - u));
}

template <class T, class S>
inline typename S::reg total_dh(const BackArgs<T>& a, int b, int u, int n) {
  const typename S::reg d = load_n<S>(a.grad_out + b * a.H + u, n);
  return a.dh_rec ? S::add(d, load_n<S>(a.dh_rec + b * a.H + u, n)) : d;
}

template <class T, class S, Activation Act>
void rnn_back(const BackArgs<T>& a, int r0, int r1) {
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    const typename S::reg h = load_n<S>(a.h + b * a.ld_h + u, n);
    store_n<S>(a.gates + b * a.ld_gates + u, activation_grad<S, Act>(h, total_dh<T, S>(a, b, u, n)), n);
  });
}

template <class T, class S, class Act>
void lstm_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg i = load_n<S>(gp, n), f = load_n<S>(gp + H, n), g = load_n<S>(gp + 2 * H, n), o = load_n<S>(gp + 3 * H, n);
    const reg dh = total_dh<T, S>(a, b, u, n);
    const reg ac = Act::cell(a, load_n<S>(a.c + b * H + u, n));  // act(c_t), h_t = o act(c_t)
    // dc_t = dc_{t+1} f_{t+1} (carried) + dh o act'(c_t)
    const reg dc = S::add(Act::cell_grad(a, ac, S::mul(dh, o)), load_n<S>(a.dc + b * H + u, n));
    const reg cp = load_n<S>(a.c_prev + b * H + u, n);
    store_n<S>(a.dc + b * H + u, S::mul(dc, f), n);
    store_n<S>(gp, Act::gate_grad(a, i, S::mul(dc, g)), n);
    store_n<S>(gp + H, Act::gate_grad(a, f, S::mul(dc, cp)), n);
    store_n<S>(gp + 2 * H, Act::cell_grad(a, g, S::mul(dc, i)), n);
    store_n<S>(gp + 3 * H, Act::gate_grad(a, o, S::mul(dh, ac)), n);
  });
}

// Saved [r, z, n, hn] become [dr, dz, dn*r, dn] (pre-activation): the first three are the
// gradient of the recurrent product W_hh h + b_hh, the last with dr, dz that of the input one.
template <class T, class S, class Act>
void gru_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  const reg one = S::set1(T(1));
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg r = load_n<S>(gp, n), z = load_n<S>(gp + H, n), nn = load_n<S>(gp + 2 * H, n), hn = load_n<S>(gp + 3 * H, n);
    const reg dh = total_dh<T, S>(a, b, u, n);
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    store_n<S>(a.dh_prev + b * H + u, S::mul(dh, z), n);
    const reg dn = Act::cell_grad(a, nn, S::mul(dh, S::sub(one, z)));
    const reg dz = Act::gate_grad(a, z, S::mul(dh, S::sub(hp, nn)));
    const reg dr = Act::gate_grad(a, r, S::mul(dn, hn));
    store_n<S>(gp, dr, n);
    store_n<S>(gp + H, dz, n);
    store_n<S>(gp + 2 * H, S::mul(dn, r), n);
    store_n<S>(gp + 3 * H, dn, n);
  });
}

// GRU reset-before, phase 1: [r, z, n] -> [r, dz, dn]; dh_prev = dh*z; dh kept for phase 2.
template <class T, class S, class Act>
void gru_zn_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  const reg one = S::set1(T(1));
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg z = load_n<S>(gp + H, n), nn = load_n<S>(gp + 2 * H, n);
    const reg dh = total_dh<T, S>(a, b, u, n);
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    store_n<S>(a.dh_prev + b * H + u, S::mul(dh, z), n);
    store_n<S>(gp + H, Act::gate_grad(a, z, S::mul(dh, S::sub(hp, nn))), n);
    store_n<S>(gp + 2 * H, Act::cell_grad(a, nn, S::mul(dh, S::sub(one, z))), n);
  });
}

// Phase 2, given d(r*h) = dn · W_hn: [r] -> [dr]; dh_prev += d(r*h) * r.
template <class T, class S, class Act>
void gru_r_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg r = load_n<S>(gp, n);
    const reg drh = load_n<S>(a.d_rh + b * H + u, n);
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    T* dhp = a.dh_prev + b * H + u;
    store_n<S>(dhp, S::fmadd(drh, r, load_n<S>(dhp, n)), n);
    store_n<S>(gp, Act::gate_grad(a, r, S::mul(drh, hp)), n);
  });
}

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
