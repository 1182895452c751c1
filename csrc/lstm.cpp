// LSTM (PyTorch gate order i, f, g, o):
//   [i f g o] = [σ σ tanh σ](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
//   c_t = f*c_{t-1} + i*g,   h_t = o*tanh(c_t)
// Workspace: activated gates [T, B, 4H] (turned into gate gradients by backward), c_t [T, B, H].
#include "cpu.h"
#include "layer_common.h"

namespace pyrnn {

template <class T>
void lstm_forward(const LayerArgs<T>& a) {
  DenormalGuard ftz;
  const Kernels<T>& k = kernels<T>();
  const int B = a.B, H = a.H;
  const std::size_t BH = static_cast<std::size_t>(B) * H, step = 4 * BH;
  const bool training = a.workspace != nullptr;
  AlignedVector<T> scratch;
  T *gates, *cbuf;
  if (training) {
    gates = a.workspace;
    cbuf = a.workspace + a.steps * step;
  } else {
    scratch.resize(a.steps * step + 2 * BH);  // c_t ping-pongs between two rows
    gates = scratch.data();
    cbuf = gates + a.steps * step;
  }
  input_projection(a, 4, gates, 4 * H, -1);
  const AlignedVector<T> w = packed_recurrent(a.w_hh, 4, H);
  const T* c_prev = a.c0;
  for (int t = 0; t < a.steps; ++t) {
    StepArgs<T> s;
    s.B = active_rows(a, t);
    s.H = H;
    s.w = w.data();
    s.h_in = t == 0 ? a.h0 : a.out + (t - 1) * BH;
    s.ld_h_in = H;
    s.gates = gates + t * step;
    s.ld_gates = 4 * H;
    s.store_gates = training;
    s.c_prev = c_prev;
    s.c_out = cbuf + (training ? t : t % 2) * BH;
    s.h_out = a.out + t * BH;
    s.ld_h_out = H;
    if (s.B > 0) run_step(k.lstm_step, s, 4);
    zero_inactive_outputs(a, t, s.B);
    c_prev = s.c_out;
  }
  final_states(a, a.h0, [&](int t) { return a.out + t * BH; }, a.hn);
  // A row's c_t is never overwritten once the row is inactive, also in the inference ping-pong.
  final_states(a, a.c0, [&](int t) { return cbuf + (training ? t : t % 2) * BH; }, a.cn);
}

template <class T>
void lstm_backward(const LayerArgs<T>& a, const LayerGrads<T>& g) {
  if (a.steps == 0) return backward_empty(a, g, 4);
  DenormalGuard ftz;
  const Kernels<T>& k = kernels<T>();
  const int B = a.B, H = a.H, I = a.I;
  const std::size_t BH = static_cast<std::size_t>(B) * H, step = 4 * BH;
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(a.steps) * B;
  T* gates = a.workspace;
  const T* cbuf = a.workspace + a.steps * step;
  PackedB<T> w_hh;  // dL/dh_{t-1} = dG_t · W_hh
  w_hh.pack(4 * H, H, a.w_hh, H, 1);
  std::vector<T> dh_rec(g.grad_hn, g.grad_hn + BH), dh_next(BH);
  std::memcpy(g.dc0, g.grad_cn, sizeof(T) * BH);  // dc is carried in place through the loop
  for (int t = a.steps - 1; t >= 0; --t) {
    BackArgs<T> b;
    b.B = active_rows(a, t);
    b.H = H;
    b.grad_out = g.grad_out + t * BH;
    b.dh_rec = dh_rec.data();
    b.dc = g.dc0;
    b.gates = gates + t * step;
    b.ld_gates = 4 * H;
    b.c = cbuf + t * BH;
    b.c_prev = t == 0 ? a.c0 : cbuf + (t - 1) * BH;
    run_back(k.lstm_back, b);
    gemm<T>(b.B, b.gates, 4 * H, 1, w_hh, dh_next.data(), H, false);
    carry_inactive_rows(a, b.B, b.gates, 4 * H, dh_rec.data(), dh_next.data());
    dh_rec.swap(dh_next);
  }
  std::memcpy(g.dh0, dh_rec.data(), sizeof(T) * BH);
  // Everything parallel over time, as large GEMMs over all T*B rows of gate gradients dG.
  gemm<T>(static_cast<int>(rows), I, 4 * H, gates, 4 * H, 1, a.w_ih, I, 1, g.dx, I, false);
  gemm<T>(4 * H, I, static_cast<int>(rows), gates, 1, 4 * H, a.x, I, 1, g.dw_ih, I, false);
  recurrent_weight_grad(a, gates, 4 * H, 4 * H, g.dw_hh);
  if (g.db_ih) column_sums(gates, rows, 4 * H, 4 * H, g.db_ih);
  if (g.db_hh) column_sums(gates, rows, 4 * H, 4 * H, g.db_hh);
}

template void lstm_forward<float>(const LayerArgs<float>&);
template void lstm_forward<double>(const LayerArgs<double>&);
template void lstm_backward<float>(const LayerArgs<float>&, const LayerGrads<float>&);
template void lstm_backward<double>(const LayerArgs<double>&, const LayerGrads<double>&);

}  // namespace pyrnn
