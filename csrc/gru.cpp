// GRU (PyTorch gate order r, z, n):
//   r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   reset after  (PyTorch, cuDNN, Keras reset_after=True): n = tanh(W_in x + b_in + r*(W_hn h + b_hn))
//   reset before (Keras reset_after=False, ONNX default):  n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)
//   h_t = (1 - z)*n + z*h_{t-1}
// Reset after is one fused [3H] product per step. Reset before needs r before the n-product:
// two dependent products, [r z] then n.
// Workspace: reset after: [r z n W_hn h + b_hn] as [T, B, 4H]; reset before: [r z n] as
// [T, B, 3H] and r*h_{t-1} as [T, B, H].
#include "cpu.h"
#include "layer_common.h"

namespace pyrnn {

// Inference keeps the gates of a chunk of steps (at most all of them) and (reset before) r*h
// here; training, in the workspace.
static std::size_t gate_scratch(const LayerSizes& s, bool training, bool reset_after, int chunk) {
  const std::size_t BH = static_cast<std::size_t>(s.B) * s.H;
  return training ? 0 : chunk * 3 * BH + (reset_after ? 0 : BH);
}

template <class T>
void gru_forward(const LayerArgs<T>& a, bool reset_after) {
  DenormalGuard ftz;
  const typename Kernels<T>::Gated& gk = a.gated();
  const int B = a.B, H = a.H;
  const std::size_t BH = static_cast<std::size_t>(B) * H;
  const bool training = a.workspace != nullptr;
  const int ld = reset_after && training ? 4 * H : 3 * H;
  const std::size_t step = ld * static_cast<std::size_t>(B);
  const double step_flops = 2.0 * 3 * H * H * B;
  const int chunk = projection_chunk(a, training, step_flops);
  const Scratch<T> scratch(gate_scratch(a.sizes(), training, reset_after, chunk));
  T* gates;
  T* rh = nullptr;
  if (training) {
    gates = a.workspace;
    rh = a.workspace + a.steps * step;
  } else {
    gates = scratch.data();
    rh = gates + chunk * step;
  }
  std::optional<ChunkedInputProjection<T>> project;
  if (chunk == a.steps) input_projection(a, 3, gates, ld, /*inner_gate=*/2);
  else project.emplace(a, 3, 2);
  const T* bias_hn = a.b_hh ? a.b_hh + 2 * H : nullptr;
  const AlignedVector<T> w = reset_after ? packed_recurrent(a.w_hh, 3, H) : packed_recurrent(a.w_hh, 2, H);
  const AlignedVector<T> w_n = reset_after ? AlignedVector<T>() : packed_recurrent(a.w_hh + 2 * static_cast<std::size_t>(H) * H, 1, H);
  AlignedVector<T> hm(recurrent_input_elements<T>(a.sizes()));  // mask*h_{t-1} (recurrent dropout)
  over_row_windows(a, step_flops, [&](Rows rows) {
    for (int t = 0; t < a.steps; ++t) {
      if (project && t % chunk == 0) (*project)(t, std::min(chunk, a.steps - t), gates, ld);
      StepArgs<T> s = step_start<StepArgs>(a, t);
      const int active = rows.active_end(s.B);
      if (training && !reset_after)  // rows past their end: r*h = 0, so dW_hn sees no stale memory
        std::fill(rh + t * BH + static_cast<std::size_t>(active) * H, rh + t * BH + static_cast<std::size_t>(rows.end) * H, T(0));
      s.K = H;
      // The products read mask*h_{t-1} (reset before: r*(mask*h) too); the blend, h_{t-1}.
      s.h_prev = t == 0 ? a.h0 : a.out + (t - 1) * BH;
      s.h_in = recurrent_input(a, s.h_prev, hm.data(), {rows.begin, active});
      s.ld_h_in = s.ld_h_prev = H;
      s.gates = gates + (t % chunk) * step;
      s.ld_gates = ld;
      s.store_gates = training;
      s.bias_hn = bias_hn;
      s.h_out = a.out + t * BH;
      s.ld_h_out = H;
      if (reset_after) {
        s.w = w.data();
        run_step(gk.gru_step, s, 3, {rows.begin, active});
      } else {
        s.w = w.data();
        s.rh_out = training ? rh + t * BH : rh;
        const T* h_prev = s.h_prev;
        s.h_prev = s.h_in;  // r*h of the masked h
        run_step(gk.gru_rz_step, s, 2, {rows.begin, active});
        s.h_prev = h_prev;
        s.w = w_n.data();
        s.h_in = s.rh_out;
        run_step(gk.gru_n_step, s, 1, {rows.begin, active});
      }
      zero_inactive_outputs(a, t, active, rows.end);
    }
  });
  final_states(a, a.h0, [&](int t) { return a.out + t * BH; }, a.hn, H);
}

template <class T>
void gru_backward(const LayerArgs<T>& a, const LayerGrads<T>& g, bool reset_after) {
  if (a.steps == 0) return backward_empty(a, g, 3);
  DenormalGuard ftz;
  const typename Kernels<T>::Gated& gk = a.gated();
  const int B = a.B, H = a.H, I = a.I;
  const std::size_t BH = static_cast<std::size_t>(B) * H;
  const int ld = reset_after ? 4 * H : 3 * H;
  const std::size_t step = ld * static_cast<std::size_t>(B);
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(a.steps) * B;
  const int R = static_cast<int>(rows);
  T* gates = a.workspace;
  RecurrentGrad<T> dh(g.grad_hn, BH, a.steps);
  AlignedVector<T> d_rh;
  AlignedVector<T> d_rec(recurrent_input_elements<T>(a.sizes()));  // masked: dG_t · W_hh before the mask
  // dL/dh_{t-1} = dG_t · W_hh (reset-before: [dr dz] · W_hr,z, and dn · W_hn for d(r*h))
  const StepProduct<T> w_hh(reset_after ? 3 * H : 2 * H, H, a.w_hh, H, 1, B);
  const std::optional<StepProduct<T>> w_n =
      reset_after ? std::nullopt : std::make_optional<StepProduct<T>>(H, H, a.w_hh + 2 * static_cast<std::size_t>(H) * H, H, 1, B);
  if (!reset_after) d_rh.resize(BH);
  over_row_windows(a, 2.0 * 3 * H * H * B, [&](Rows window) {
    for (int t = a.steps - 1; t >= 0; --t) {
      BackArgs<T> b = step_start<BackArgs>(a, t);
      b.grad_out = g.grad_out + t * BH;
      b.dh_rec = dh.at(t);
      b.gates = gates + t * step;
      b.ld_gates = ld;
      b.h_prev = t == 0 ? a.h0 : a.out + (t - 1) * BH;
      b.ld_h_prev = H;
      b.dh_prev = dh.before(t);
      const Rows part{window.begin, window.active_end(b.B)};
      if (reset_after) {
        run_back(gk.gru_back, b, part);  // gates -> [dr dz dn*r dn]; dh_prev = dh*z
      } else {
        run_back(gk.gru_zn_back, b, part);  // gates -> [r dz dn]; dh_prev = dh*z
        (*w_n)(b.B, part, b.gates + 2 * H, ld, d_rh.data(), H, false);
        mask_recurrent_grad(a, d_rh.data(), part);  // d(r*(mask*h)): dr = d_rh*mask*h, dh += d_rh*mask*r
        b.d_rh = d_rh.data();
        run_back(gk.gru_r_back, b, part);  // gates -> [dr dz dn]; dh_prev += d(rh)*r
      }
      if (a.recurrent_mask) {  // dh_prev += mask * (dG · W_hh)
        w_hh(b.B, part, b.gates, ld, d_rec.data(), H, false);
        add_masked_rows(a, d_rec.data(), dh.before(t), part);
      } else {
        w_hh(b.B, part, b.gates, ld, dh.before(t), H, true);
      }
      carry_inactive_rows(a, part.end, window.end, b.gates, ld, dh.at(t), dh.before(t));
    }
  });
  std::memcpy(g.dh0, dh.before(0), sizeof(T) * BH);
  const std::size_t HI = static_cast<std::size_t>(H) * I;
  if (reset_after) {
    // Input-side gradients are [dr dz dn] = columns [0, 2H) and [3H, 4H); hidden-side [0, 3H).
    gemm<T>(R, I, 2 * H, gates, ld, 1, a.w_ih, I, 1, g.dx, I, false);
    gemm<T>(R, I, H, gates + 3 * H, ld, 1, a.w_ih + 2 * HI, I, 1, g.dx, I, true);
    gemm<T>(2 * H, I, R, gates, 1, ld, a.x, I, 1, g.dw_ih, I, false);
    gemm<T>(H, I, R, gates + 3 * H, 1, ld, a.x, I, 1, g.dw_ih + 2 * HI, I, false);
    recurrent_weight_grad(a, gates, ld, 3 * H, g.dw_hh);
    AlignedVector<T> sums(4 * static_cast<std::size_t>(H));
    column_sums(gates, rows, 4 * H, ld, sums.data());
    if (g.db_ih) {
      std::copy(sums.begin(), sums.begin() + 2 * H, g.db_ih);
      std::copy(sums.begin() + 3 * H, sums.end(), g.db_ih + 2 * H);
    }
    if (g.db_hh) std::copy(sums.begin(), sums.begin() + 3 * H, g.db_hh);
  } else {
    const T* rh = a.workspace + a.steps * step;
    gemm<T>(R, I, 3 * H, gates, ld, 1, a.w_ih, I, 1, g.dx, I, false);
    gemm<T>(3 * H, I, R, gates, 1, ld, a.x, I, 1, g.dw_ih, I, false);
    recurrent_weight_grad(a, gates, ld, 2 * H, g.dw_hh);
    gemm<T>(H, H, R, gates + 2 * H, 1, ld, rh, H, 1, g.dw_hh + 2 * static_cast<std::size_t>(H) * H, H, false);
    if (g.db_ih) column_sums(gates, rows, 3 * H, ld, g.db_ih);
    if (g.db_hh) column_sums(gates, rows, 3 * H, ld, g.db_hh);
  }
}

// What gru_forward and gru_backward allocate (layer.h: scratch_bytes).
template <class T>
std::size_t gru_scratch(const LayerSizes& s, Pass pass, bool reset_after) {
  ScratchTally tally;
  const int H = s.H, I = s.I, R = s.steps * s.B;
  const std::size_t BH = static_cast<std::size_t>(s.B) * H;
  if (pass != Pass::backward) {
    tally.hold(gate_scratch(s, pass == Pass::training, reset_after, s.steps));  // row windows: every step
    input_projection_scratch<T>(s, 3, tally);
    tally.hold(recurrent_input_elements<T>(s));
    if (reset_after) return tally.hold(packed_recurrent_elements<T>(3, H, H)).total();
    return tally.hold(packed_recurrent_elements<T>(2, H, H) + packed_recurrent_elements<T>(1, H, H)).total();
  }
  RecurrentGrad<T>::scratch(BH, tally);
  tally.hold(recurrent_input_elements<T>(s));  // d_rec
  StepProduct<T>::scratch(reset_after ? 3 * H : 2 * H, H, s.B, tally);
  if (reset_after) {
    tally.gemm(gemm_scratch<T>(R, I, 2 * H)).gemm(gemm_scratch<T>(R, I, H));
    tally.gemm(gemm_scratch<T>(2 * H, I, R)).gemm(gemm_scratch<T>(H, I, R));
    recurrent_weight_grad_scratch<T>(s, 3 * H, tally);
    return tally.hold(4 * static_cast<std::size_t>(H)).total();  // the bias gradients' column sums
  }
  StepProduct<T>::scratch(H, H, s.B, tally);  // W_hn
  tally.hold(BH);                             // d(r*h)
  tally.gemm(gemm_scratch<T>(R, I, 3 * H)).gemm(gemm_scratch<T>(3 * H, I, R)).gemm(gemm_scratch<T>(H, H, R));
  recurrent_weight_grad_scratch<T>(s, 2 * H, tally);
  return tally.total();
}

template std::size_t gru_scratch<float>(const LayerSizes&, Pass, bool);
template std::size_t gru_scratch<double>(const LayerSizes&, Pass, bool);
template void gru_forward<float>(const LayerArgs<float>&, bool);
template void gru_forward<double>(const LayerArgs<double>&, bool);
template void gru_backward<float>(const LayerArgs<float>&, const LayerGrads<float>&, bool);
template void gru_backward<double>(const LayerArgs<double>&, const LayerGrads<double>&, bool);

}  // namespace pyrnn
