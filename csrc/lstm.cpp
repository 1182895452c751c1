// LSTM (PyTorch gate order i, f, g, o):
//   [i f g o] = [σ σ tanh σ](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
//   c_t = f*c_{t-1} + i*g,   h_t = o*tanh(c_t)
// With a projection (proj_size P): m_t = o*tanh(c_t) and h_t = W_hr m_t, so h_t, h0 and the
// output are P wide, W_hh is [4H, P], and each step adds one dependent [B, H] x [H, P] product.
// Workspace: activated gates [T, B, 4H] (turned into gate gradients by backward), c_t
// [T, B, H], and with a projection m_t [T, B, H].
#include "cpu.h"
#include "layer_common.h"

namespace pyrnn {

// Inference keeps the gates of a chunk of steps (at most all of them), c_t ping-ponging between
// two rows, then m_t here; training keeps them in the workspace.
static std::size_t gate_scratch(const LayerSizes& s, bool training, int chunk) {
  const std::size_t BH = static_cast<std::size_t>(s.B) * s.H;
  return training ? 0 : chunk * 4 * BH + 2 * BH + (s.projection ? BH : 0);
}

template <class T>
void lstm_forward(const LayerArgs<T>& a) {
  DenormalGuard ftz;
  const typename Kernels<T>::Gated& gk = a.gated();
  const int B = a.B, H = a.H, P = a.hidden_out();
  const bool proj = a.w_hr != nullptr;
  const std::size_t BH = static_cast<std::size_t>(B) * H, BP = static_cast<std::size_t>(B) * P, step = 4 * BH;
  const bool training = a.workspace != nullptr;
  const double step_flops = 2.0 * 4 * H * P * B;
  const int chunk = projection_chunk(a, training, step_flops);
  const Scratch<T> scratch(gate_scratch(a.sizes(), training, chunk));  // inference: gates, c_t, m_t
  T *gates, *cbuf, *mbuf = nullptr;
  if (training) {
    gates = a.workspace;
    cbuf = a.workspace + a.steps * step;
    if (proj) mbuf = cbuf + a.steps * BH;
  } else {
    gates = scratch.data();
    cbuf = gates + chunk * step;
    if (proj) mbuf = cbuf + 2 * BH;
  }
  std::optional<ChunkedInputProjection<T>> project;
  if (chunk == a.steps) input_projection(a, 4, gates, 4 * H, -1);
  else project.emplace(a, 4, -1);
  const AlignedVector<T> w = packed_recurrent(a.w_hh, 4, H, P);
  // h_t = m_t W_hr^T
  const std::optional<StepProduct<T>> w_hr = proj ? std::make_optional<StepProduct<T>>(H, P, a.w_hr, 1, H, B) : std::nullopt;
  AlignedVector<T> hm(recurrent_input_elements<T>(a.sizes()));  // mask*h_{t-1} (recurrent dropout)
  over_row_windows(a, step_flops, [&](Rows rows) {
    const T* c_prev = a.c0;
    for (int t = 0; t < a.steps; ++t) {
      if (project && t % chunk == 0) (*project)(t, std::min(chunk, a.steps - t), gates, 4 * H);
      StepArgs<T> s = step_start<StepArgs>(a, t);
      s.K = P;
      s.w = w.data();
      s.h_in = recurrent_input(a, t == 0 ? a.h0 : a.out + (t - 1) * BP, hm.data(), {rows.begin, rows.active_end(s.B)});
      s.ld_h_in = P;
      s.gates = gates + (t % chunk) * step;
      s.ld_gates = 4 * H;
      s.store_gates = training;
      s.c_prev = c_prev;
      s.c_out = cbuf + (training ? t : t % 2) * BH;
      T* m = proj ? mbuf + (training ? t * BH : 0) : nullptr;
      s.h_out = proj ? m : a.out + t * BP;
      s.ld_h_out = H;
      const int active = rows.active_end(s.B);
      run_step(gk.lstm_step, s, 4, {rows.begin, active});
      if (proj) {
        (*w_hr)(s.B, {rows.begin, active}, m, H, a.out + t * BP, P, false);
        if (training)  // rows past their end: m = 0, so dW_hr sees no stale memory
          std::fill(m + static_cast<std::size_t>(active) * H, m + static_cast<std::size_t>(rows.end) * H, T(0));
      }
      zero_inactive_outputs(a, t, active, rows.end);
      c_prev = s.c_out;
    }
  });
  final_states(a, a.h0, [&](int t) { return a.out + t * BP; }, a.hn, P);
  // A row's c_t is never overwritten once the row is inactive, also in the inference ping-pong.
  final_states(a, a.c0, [&](int t) { return cbuf + (training ? t : t % 2) * BH; }, a.cn, H);
}

template <class T>
void lstm_backward(const LayerArgs<T>& a, const LayerGrads<T>& g) {
  if (a.steps == 0) return backward_empty(a, g, 4);
  DenormalGuard ftz;
  const typename Kernels<T>::Gated& gk = a.gated();
  const int B = a.B, H = a.H, I = a.I, P = a.hidden_out();
  const bool proj = a.w_hr != nullptr;
  const std::size_t BH = static_cast<std::size_t>(B) * H, BP = static_cast<std::size_t>(B) * P, step = 4 * BH;
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(a.steps) * B;
  T* gates = a.workspace;
  const T* cbuf = a.workspace + a.steps * step;
  const T* mbuf = cbuf + a.steps * BH;
  // dL/dh_{t-1} = dG_t · W_hh; with a projection dL/dm_t = dL/dh_t · W_hr
  const StepProduct<T> w_hh(4 * H, P, a.w_hh, P, 1, B);
  const std::optional<StepProduct<T>> w_hr = proj ? std::make_optional<StepProduct<T>>(P, H, a.w_hr, H, 1, B) : std::nullopt;
  RecurrentGrad<T> dh_rec(g.grad_hn, BP, a.steps);
  AlignedVector<T> dm, dh_all;
  if (proj) {
    dm.resize(BH);
    dh_all.resize(a.steps * BP);  // dL/dh_t for every step, for dW_hr after the loop
  }
  std::memcpy(g.dc0, g.grad_cn, sizeof(T) * BH);  // dc is carried in place through the loop
  over_row_windows(a, 2.0 * 4 * H * P * B, [&](Rows window) {
    for (int t = a.steps - 1; t >= 0; --t) {
      BackArgs<T> b = step_start<BackArgs>(a, t);
      b.dc = g.dc0;
      b.gates = gates + t * step;
      b.ld_gates = 4 * H;
      b.c = cbuf + t * BH;
      b.c_prev = t == 0 ? a.c0 : cbuf + (t - 1) * BH;
      const Rows part{window.begin, window.active_end(b.B)};
      if (proj) {
        T* dh = dh_all.data() + t * BP;  // dL/dh_t = grad_out + recurrence, active rows only
        const T* go = g.grad_out + t * BP;
        const T* rec = dh_rec.at(t);
        for (std::size_t i = part.begin * static_cast<std::size_t>(P); i < part.end * static_cast<std::size_t>(P); ++i)
          dh[i] = go[i] + rec[i];
        std::fill(dh + part.end * static_cast<std::size_t>(P), dh + window.end * static_cast<std::size_t>(P), T(0));
        (*w_hr)(b.B, part, dh, P, dm.data(), H, false);
        b.grad_out = dm.data();
        b.dh_rec = nullptr;
      } else {
        b.grad_out = g.grad_out + t * BH;
        b.dh_rec = dh_rec.at(t);
      }
      run_back(gk.lstm_back, b, part);
      w_hh(b.B, part, b.gates, 4 * H, dh_rec.before(t), P, false);
      mask_recurrent_grad(a, dh_rec.before(t), part);
      carry_inactive_rows(a, part.end, window.end, b.gates, 4 * H, dh_rec.at(t), dh_rec.before(t));
    }
  });
  std::memcpy(g.dh0, dh_rec.before(0), sizeof(T) * BP);
  // Everything parallel over time, as large GEMMs over all T*B rows of gate gradients dG.
  gemm<T>(static_cast<int>(rows), I, 4 * H, gates, 4 * H, 1, a.w_ih, I, 1, g.dx, I, false);
  gemm<T>(4 * H, I, static_cast<int>(rows), gates, 1, 4 * H, a.x, I, 1, g.dw_ih, I, false);
  recurrent_weight_grad(a, gates, 4 * H, 4 * H, g.dw_hh);
  if (proj) gemm<T>(P, H, static_cast<int>(rows), dh_all.data(), 1, P, mbuf, H, 1, g.dw_hr, H, false);
  if (g.db_ih) column_sums(gates, rows, 4 * H, 4 * H, g.db_ih);
  if (g.db_hh) {
    if (g.db_ih) std::memcpy(g.db_hh, g.db_ih, sizeof(T) * 4 * H);  // both biases get the same gradient
    else column_sums(gates, rows, 4 * H, 4 * H, g.db_hh);
  }
}

// What lstm_forward and lstm_backward allocate (layer.h: scratch_bytes).
template <class T>
std::size_t lstm_scratch(const LayerSizes& s, Pass pass) {
  ScratchTally tally;
  const int H = s.H, P = s.P, R = s.steps * s.B;
  if (pass != Pass::backward) {
    tally.hold(gate_scratch(s, pass == Pass::training, s.steps));  // the most: row windows keep every step
    input_projection_scratch<T>(s, 4, tally);
    tally.hold(packed_recurrent_elements<T>(4, H, P) + recurrent_input_elements<T>(s));
    if (s.projection) StepProduct<T>::scratch(H, P, s.B, tally);
    return tally.total();
  }
  StepProduct<T>::scratch(4 * H, P, s.B, tally);
  RecurrentGrad<T>::scratch(static_cast<std::size_t>(s.B) * P, tally);
  if (s.projection) {
    StepProduct<T>::scratch(P, H, s.B, tally);
    tally.hold(static_cast<std::size_t>(s.B) * H + static_cast<std::size_t>(R) * P);  // dm, dh_all
    tally.gemm(gemm_scratch<T>(P, H, R));
  }
  tally.gemm(gemm_scratch<T>(R, s.I, 4 * H)).gemm(gemm_scratch<T>(4 * H, s.I, R));
  recurrent_weight_grad_scratch<T>(s, 4 * H, tally);
  return tally.total();
}

template std::size_t lstm_scratch<float>(const LayerSizes&, Pass);
template std::size_t lstm_scratch<double>(const LayerSizes&, Pass);
template void lstm_forward<float>(const LayerArgs<float>&);
template void lstm_forward<double>(const LayerArgs<double>&);
template void lstm_backward<float>(const LayerArgs<float>&, const LayerGrads<float>&);
template void lstm_backward<double>(const LayerArgs<double>&, const LayerGrads<double>&);

}  // namespace pyrnn
