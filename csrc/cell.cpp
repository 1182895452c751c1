// A single step of a cell on unpacked weights: the streaming path (one call per time step at
// batch 1), where packing W_hh per call would cost more than the step itself.
#include "aligned.h"
#include "cpu.h"
#include "layer_common.h"

namespace pyrnn {

// The unpacked path's buffer: gate pre-activations [B, G*H], then r*h [B, H].
static std::size_t gemv_scratch(Cell cell, int B, int H) {
  return static_cast<std::size_t>(B) * (cell_info(cell).gates + 1) * H;
}

template <class T>
void cell_forward(Cell cell, const LayerArgs<T>& a) {
  if (a.B > kCellGemvBatch) return forward(cell, a);
  DenormalGuard ftz;
  const Kernels<T>& k = kernels<T>();
  const typename Kernels<T>::Gated& gk = a.gated();
  const int B = a.B, H = a.H, G = cell_info(cell).gates;
  const bool gru = cell == Cell::gru || cell == Cell::gru_reset_before;
  thread_local AlignedVector<T> scratch;  // [B, G*H] gate pre-activations, then [B, H] r*h
  scratch.resize(gemv_scratch(cell, B, H));
  T* gates = scratch.data();
  T* rh = gates + static_cast<std::size_t>(B) * G * H;
  summed_bias(a, G, gru ? 2 : -1, gates);
  for (int b = 1; b < B; ++b) std::memcpy(gates + static_cast<std::size_t>(b) * G * H, gates, sizeof(T) * G * H);
  if (cell == Cell::gru_reset_before)  // its first product covers r, z only: project x for all gates here
    for (int b = 0; b < B; ++b)
      k.matvec(a.w_ih, a.I, G * H, a.I, a.x + static_cast<std::size_t>(b) * a.I,
               gates + static_cast<std::size_t>(b) * G * H, true);
  StepArgs<T> s;
  s.gate_act = a.gate_act;
  s.cell_act = a.cell_act;
  if (cell != Cell::gru_reset_before) {  // x W_ih^T is added block by block, inside the step
    s.x_rows = a.w_ih;
    s.x_in = a.x;
    s.I = a.I;
  }
  s.B = B;
  s.H = H;
  s.K = H;
  s.w_rows = a.w_hh;
  s.h_in = s.h_prev = a.h0;
  s.ld_h_in = s.ld_h_prev = H;
  s.gates = gates;
  s.ld_gates = G * H;
  s.bias_hn = gru && a.b_hh ? a.b_hh + 2 * H : nullptr;
  s.h_out = a.out;
  s.ld_h_out = H;
  switch (cell) {
    case Cell::lstm:
      s.c_prev = a.c0;
      s.c_out = a.cn;
      run_step(gk.lstm_step, s, 4);
      break;
    case Cell::gru:
      run_step(gk.gru_step, s, 3);
      break;
    case Cell::gru_reset_before:
      s.rh_out = rh;
      run_step(gk.gru_rz_step, s, 2);
      s.w_rows = a.w_hh + 2 * static_cast<std::size_t>(H) * H;
      s.x_rows = nullptr;
      s.h_in = rh;
      run_step(gk.gru_n_step, s, 1);
      break;
    default:
      run_step(k.rnn_step[static_cast<int>(cell_info(cell).activation)], s, 1);
  }
}

template <class T>
std::size_t cell_scratch_bytes(Cell cell, int B, int I, int H) {
  if (B > kCellGemvBatch) return scratch_bytes<T>(cell, LayerSizes{1, B, I, H, H, false}, Pass::inference);
  return sizeof(T) * gemv_scratch(cell, B, H);
}

template std::size_t cell_scratch_bytes<float>(Cell, int, int, int);
template std::size_t cell_scratch_bytes<double>(Cell, int, int, int);
template void cell_forward<float>(Cell, const LayerArgs<float>&);
template void cell_forward<double>(Cell, const LayerArgs<double>&);

}  // namespace pyrnn
