// Vanilla RNN (Elman): h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh, relu,
// sigmoid or linear.
// The input projection is written straight into `out` and each step overwrites its row
// with h_t, so no workspace is needed: backward uses h_t = out[t].
#include "cpu.h"
#include "layer_common.h"

namespace pyrnn {

template <class T>
void rnn_forward(const LayerArgs<T>& a, Activation act) {
  DenormalGuard ftz;
  const Kernels<T>& k = kernels<T>();
  const int B = a.B, H = a.H;
  const std::size_t BH = static_cast<std::size_t>(B) * H;
  input_projection(a, 1, a.out, H, -1);
  const AlignedVector<T> w = packed_recurrent(a.w_hh, 1, H);
  AlignedVector<T> hm(recurrent_input_elements<T>(a.sizes()));  // mask*h_{t-1} (recurrent dropout)
  over_row_windows(a, 2.0 * H * H * B, [&](Rows rows) {
    for (int t = 0; t < a.steps; ++t) {
      StepArgs<T> s = step_start<StepArgs>(a, t);
      const int active = rows.active_end(s.B);
      s.K = H;
      s.w = w.data();
      s.h_in = recurrent_input(a, t == 0 ? a.h0 : a.out + (t - 1) * BH, hm.data(), {rows.begin, active});
      s.ld_h_in = H;
      s.gates = s.h_out = a.out + t * BH;
      s.ld_gates = s.ld_h_out = H;
      run_step(k.rnn_step[static_cast<int>(act)], s, 1, {rows.begin, active});
      zero_inactive_outputs(a, t, active, rows.end);
    }
  });
  final_states(a, a.h0, [&](int t) { return a.out + t * BH; }, a.hn, H);
}

template <class T>
void rnn_backward(const LayerArgs<T>& a, const LayerGrads<T>& g, Activation act) {
  if (a.steps == 0) return backward_empty(a, g, 1);
  DenormalGuard ftz;
  const Kernels<T>& k = kernels<T>();
  const int B = a.B, H = a.H, I = a.I;
  const std::size_t BH = static_cast<std::size_t>(B) * H;
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(a.steps) * B;
  AlignedVector<T> dg(rows * H);
  RecurrentGrad<T> dh(g.grad_hn, BH, a.steps);
  const StepProduct<T> w_hh(H, H, a.w_hh, H, 1, B);  // dL/dh_{t-1} = dG_t · W_hh
  over_row_windows(a, 2.0 * H * H * B, [&](Rows window) {
    for (int t = a.steps - 1; t >= 0; --t) {
      BackArgs<T> b = step_start<BackArgs>(a, t);
      b.grad_out = g.grad_out + t * BH;
      b.dh_rec = dh.at(t);
      b.gates = dg.data() + t * BH;
      b.ld_gates = H;
      b.h = a.out + t * BH;
      b.ld_h = H;
      const int active = window.active_end(b.B);
      run_back(k.rnn_back[static_cast<int>(act)], b, {window.begin, active});
      w_hh(b.B, {window.begin, active}, b.gates, H, dh.before(t), H, false);
      mask_recurrent_grad(a, dh.before(t), {window.begin, active});
      carry_inactive_rows(a, active, window.end, b.gates, H, dh.at(t), dh.before(t));
    }
  });
  std::memcpy(g.dh0, dh.before(0), sizeof(T) * BH);
  const int R = static_cast<int>(rows);
  gemm<T>(R, I, H, dg.data(), H, 1, a.w_ih, I, 1, g.dx, I, false);
  gemm<T>(H, I, R, dg.data(), 1, H, a.x, I, 1, g.dw_ih, I, false);
  recurrent_weight_grad(a, dg.data(), H, H, g.dw_hh);
  if (g.db_ih) column_sums(dg.data(), rows, H, H, g.db_ih);
  if (g.db_hh) {
    if (g.db_ih) std::memcpy(g.db_hh, g.db_ih, sizeof(T) * H);  // both biases get the same gradient
    else column_sums(dg.data(), rows, H, H, g.db_hh);
  }
}

// What rnn_forward and rnn_backward allocate (layer.h: scratch_bytes).
template <class T>
std::size_t rnn_scratch(const LayerSizes& s, Pass pass) {
  ScratchTally tally;
  const int H = s.H, R = s.steps * s.B;
  if (pass != Pass::backward) {
    input_projection_scratch<T>(s, 1, tally);
    return tally.hold(packed_recurrent_elements<T>(1, H, H) + recurrent_input_elements<T>(s)).total();
  }
  tally.hold(static_cast<std::size_t>(R) * H);  // dg
  RecurrentGrad<T>::scratch(static_cast<std::size_t>(s.B) * H, tally);
  StepProduct<T>::scratch(H, H, s.B, tally);
  tally.gemm(gemm_scratch<T>(R, s.I, H)).gemm(gemm_scratch<T>(H, s.I, R));
  recurrent_weight_grad_scratch<T>(s, H, tally);
  return tally.total();
}

template std::size_t rnn_scratch<float>(const LayerSizes&, Pass);
template std::size_t rnn_scratch<double>(const LayerSizes&, Pass);
template void rnn_forward<float>(const LayerArgs<float>&, Activation);
template void rnn_forward<double>(const LayerArgs<double>&, Activation);
template void rnn_backward<float>(const LayerArgs<float>&, const LayerGrads<float>&, Activation);
template void rnn_backward<double>(const LayerArgs<double>&, const LayerGrads<double>&, Activation);

}  // namespace pyrnn
