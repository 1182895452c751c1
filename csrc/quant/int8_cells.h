// The per-ISA parts of the int8 layers besides the GEMM (int8.h): per-row quantization and the
// LSTM / GRU gate epilogue, written once over the Simd<T> wrapper of kernels/simd.h and the
// activations of kernels/activations.h. Every operation is a single IEEE operation on each lane
// (NoFma turns the activations' fused multiply-adds into a multiply and an add, and the files are
// compiled with -ffp-contract=off), so every ISA computes exactly the scalar path's floats.
// Included only by int8_scalar.cpp / int8_avx2.cpp / int8_avx512vnni.cpp, after they define
// PYRNN_SIMD_* and PYRNN_KERNEL_NS.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/activations.h"
#include "quant/int8.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

template <class S>
struct NoFma : S {
  using reg = typename S::reg;
  static reg fmadd(reg a, reg b, reg c) { return S::add(S::mul(a, b), c); }
};

template <class S>
float quantize_row(const float* x, int K, int Kp, std::uint8_t* q) {
  using reg = typename S::reg;
  reg mv = S::zero();
  int k = 0;
  for (; k + S::W <= K; k += S::W) mv = S::max(mv, S::abs(S::load(x + k)));
  float lanes[S::W];
  S::store(lanes, mv);
  float m = 0.0f;
  for (int i = 0; i < S::W; ++i) m = std::max(m, lanes[i]);  // max is exact in any order
  for (; k < K; ++k) m = std::max(m, std::fabs(x[k]));
  std::fill(q + K, q + Kp, std::uint8_t(0));
  if (!(m > 0.0f) || !std::isfinite(m)) {  // all zeros (or not finite: no meaningful scale)
    std::fill(q, q + K, std::uint8_t(128));
    return m > 0.0f ? m : 0.0f;
  }
  const float inv = 127.0f / m;
  for (k = 0; k < K; ++k) {
    float v = std::nearbyint(x[k] * inv);  // round half to even (the default rounding mode)
    v = std::min(127.0f, std::max(-127.0f, v));
    q[k] = static_cast<std::uint8_t>(static_cast<int>(v) + 128);
  }
  return m / 127.0f;
}

template <class S, class F>
PYRNN_INLINE void over_units(int H, F f) {
  int j = 0;
  for (; j + S::W <= H; j += S::W) f(j, S::W);
  if (j < H) f(j, H - j);
}

template <class S>
PYRNN_INLINE typename S::reg q_load(const float* p, int n) {
  return n == S::W ? S::load(p) : S::load_first(p, n);
}
template <class S>
PYRNN_INLINE void q_store(float* p, typename S::reg v, int n) {
  if (n == S::W) S::store(p, v);
  else S::store_first(p, v, n);
}

// One row: pre = px + ph, [i f g o] = [σ σ tanh σ](pre), c = f*c + i*g, h = o*tanh(c).
template <class S0>
void lstm_cell(int H, const float* px, const float* ph, float* c, float* h) {
  using S = NoFma<S0>;
  over_units<S>(H, [&](int j, int n) {
    auto pre = [&](int g) { return S::add(q_load<S>(px + g * H + j, n), q_load<S>(ph + g * H + j, n)); };
    const auto i = vsigmoid<S>(pre(0)), f = vsigmoid<S>(pre(1)), g = vtanh<S>(pre(2)), o = vsigmoid<S>(pre(3));
    const auto cn = S::add(S::mul(f, q_load<S>(c + j, n)), S::mul(i, g));
    q_store<S>(c + j, cn, n);
    q_store<S>(h + j, S::mul(o, vtanh<S>(cn)), n);
  });
}

// One row, reset after: r, z = σ(px + ph), n = tanh(px_n + r*(ph_n + b_hn)), h = (1-z)*n + z*h.
template <class S0>
void gru_cell(int H, const float* px, const float* ph, const float* bhn, float* h) {
  using S = NoFma<S0>;
  over_units<S>(H, [&](int j, int n) {
    const auto r = vsigmoid<S>(S::add(q_load<S>(px + j, n), q_load<S>(ph + j, n)));
    const auto z = vsigmoid<S>(S::add(q_load<S>(px + H + j, n), q_load<S>(ph + H + j, n)));
    const auto hn = S::add(q_load<S>(ph + 2 * H + j, n), q_load<S>(bhn + j, n));
    const auto cand = vtanh<S>(S::add(q_load<S>(px + 2 * H + j, n), S::mul(r, hn)));
    const auto out = S::add(S::mul(S::sub(S::set1(1.0f), z), cand), S::mul(z, q_load<S>(h + j, n)));
    q_store<S>(h + j, out, n);
  });
}

// Reset before, first half: rh = σ(px_r + ph_r) * h (the row the n gate's product reads).
template <class S0>
void gru_reset(int H, const float* px, const float* ph, const float* h, float* rh) {
  using S = NoFma<S0>;
  over_units<S>(H, [&](int j, int n) {
    const auto r = vsigmoid<S>(S::add(q_load<S>(px + j, n), q_load<S>(ph + j, n)));
    q_store<S>(rh + j, S::mul(r, q_load<S>(h + j, n)), n);
  });
}

// Reset before, second half: z = σ(px_z + ph_z), n = tanh(px_n + (phn + b_hn)), h = (1-z)*n + z*h;
// phn = W_hn (r * h).
template <class S0>
void gru_blend(int H, const float* px, const float* ph, const float* phn, const float* bhn, float* h) {
  using S = NoFma<S0>;
  over_units<S>(H, [&](int j, int n) {
    const auto z = vsigmoid<S>(S::add(q_load<S>(px + H + j, n), q_load<S>(ph + H + j, n)));
    const auto cand = vtanh<S>(S::add(q_load<S>(px + 2 * H + j, n), S::add(q_load<S>(phn + j, n), q_load<S>(bhn + j, n))));
    const auto out = S::add(S::mul(S::sub(S::set1(1.0f), z), cand), S::mul(z, q_load<S>(h + j, n)));
    q_store<S>(h + j, out, n);
  });
}

// One row of a vanilla RNN: h = tanh(px + ph), or relu.
template <class S0>
void rnn_cell(int H, const float* px, const float* ph, bool relu, float* h) {
  using S = NoFma<S0>;
  over_units<S>(H, [&](int j, int n) {
    const auto pre = S::add(q_load<S>(px + j, n), q_load<S>(ph + j, n));
    q_store<S>(h + j, relu ? vrelu<S>(pre) : vtanh<S>(pre), n);
  });
}

template <class S>
int8::Table make_table(const char* name, int8::GemmFn gemm) {
  return {name, gemm, &quantize_row<S>, &lstm_cell<S>, &gru_cell<S>, &gru_reset<S>, &gru_blend<S>, &rnn_cell<S>};
}

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
