// One recurrent layer, one direction, over a whole sequence: the drivers of rnn.cpp,
// gru.cpp and lstm.cpp. Arrays are C-contiguous and time-major: x [T, B, I], out [T, B, H],
// states [B, H]; weights in PyTorch's layout and gate order (W_ih [G*H, I], W_hh [G*H, H]).
#pragma once
#include <cstddef>
#include <stdexcept>

#include "cell_table.h"
#include "kernels/kernels.h"

namespace pyrnn {

// The sizes of one layer call; P: the width of h (the LSTM projection size, else H).
struct LayerSizes {
  int steps = 0, B = 0, I = 0, H = 0, P = 0;
  bool projection = false;  // LSTM: h_t = W_hr m_t
  bool masked = false;      // a recurrent dropout mask is given (LayerArgs::recurrent_mask)
};
enum class Pass { inference, training, backward };  // forward without / with a workspace, backward

template <class T>
struct LayerArgs {
  int steps = 0, B = 0, I = 0, H = 0;
  const T* x = nullptr;
  const T* h0 = nullptr;
  const T* c0 = nullptr;  // LSTM only
  const T* w_ih = nullptr;
  const T* w_hh = nullptr;
  const T* b_ih = nullptr;  // null: no bias
  const T* b_hh = nullptr;
  const T* w_hr = nullptr;  // LSTM projection [P, H] (proj_size P): h_t = W_hr (o*tanh c_t); null: none
  int P = 0;                // projection size; h_t, h0 and out rows are P wide when w_hr is set
  T* out = nullptr;
  T* hn = nullptr;
  T* cn = nullptr;          // LSTM only
  T* workspace = nullptr;   // training: what backward needs (workspace_size); null for inference
  // Variable lengths: batch_sizes[t] rows are active at step t, non-increasing in t (rows
  // sorted by length, longest first). Null: all B rows at every step. Inactive rows are not
  // computed: their outputs are zero and their state stays that of their last valid step.
  const int* batch_sizes = nullptr;
  // Recurrent dropout (Keras's recurrent_dropout): [B, P], fixed over the steps. Where h_{t-1}
  // enters the recurrent product it is mask*h_{t-1}; the LSTM cell state, the GRU blend
  // z*h_{t-1} and the outputs use h_{t-1} itself. Backward takes the same mask. Null: none.
  const T* recurrent_mask = nullptr;
  // GRU/LSTM activations (Keras recurrent_activation, activation); the defaults are PyTorch's.
  Activation gate_act = Activation::sigmoid, cell_act = Activation::tanh;

  int hidden_out() const { return w_hr ? P : H; }  // width of h_t, h0, out rows
  LayerSizes sizes() const { return {steps, B, I, H, hidden_out(), w_hr != nullptr, recurrent_mask != nullptr}; }
  // The GRU/LSTM kernels for these activations: the defaults built in, or any chosen per call.
  const typename Kernels<T>::Gated& gated() const {
    const GatedActivations d;
    const bool defaults = gate_act == d.gate && cell_act == d.cell;
    return kernels<T>().gated[defaults ? 0 : 1];
  }
};

template <class T>
struct LayerGrads {
  const T* grad_out = nullptr;  // [T, B, H]
  const T* grad_hn = nullptr;   // [B, H]
  const T* grad_cn = nullptr;   // LSTM only
  T* dx = nullptr;
  T* dh0 = nullptr;
  T* dc0 = nullptr;
  T* dw_ih = nullptr;
  T* dw_hh = nullptr;
  T* dw_hr = nullptr;  // LSTM projection
  T* db_ih = nullptr;  // null when the layer has no bias
  T* db_hh = nullptr;
};

// Elements of the training workspace (activated gates and, per cell, cell states or r*h;
// with an LSTM projection also the unprojected o*tanh(c_t)).
std::size_t workspace_size(Cell cell, std::size_t steps, std::size_t B, std::size_t H, bool projection = false);

// Bytes a driver allocates for itself in one call (scratch, packed weights, per-step buffers, its
// GEMMs' packing), an upper bound; not its arguments (outputs, workspace, gradients). Each
// driver's is next to it (rnn.cpp, gru.cpp, lstm.cpp, cell.cpp) and sizes its buffers with the
// same expressions; the bindings' memory pre-check adds it to the arrays they allocate.
template <class T>
std::size_t scratch_bytes(Cell cell, const LayerSizes& s, Pass pass);
template <class T>
std::size_t cell_scratch_bytes(Cell cell, int B, int I, int H);  // cell_forward

template <class T>
void forward(Cell cell, const LayerArgs<T>& a);
// Needs the forward's args with its workspace and out; fills every gradient (not accumulated).
template <class T>
void backward(Cell cell, const LayerArgs<T>& a, const LayerGrads<T>& g);

// One step (a.steps == 1) in inference, for streaming cells: at batch <= kCellGemvBatch the
// weights are used unpacked (matrix-vector products) and only out (and cn) are written;
// else this is forward().
constexpr int kCellGemvBatch = 4;
template <class T>
void cell_forward(Cell cell, const LayerArgs<T>& a);

// Per-cell drivers, and the elements of T each allocates (scratch_bytes).
template <class T> std::size_t rnn_scratch(const LayerSizes& s, Pass pass);
template <class T> std::size_t gru_scratch(const LayerSizes& s, Pass pass, bool reset_after);
template <class T> std::size_t lstm_scratch(const LayerSizes& s, Pass pass);
template <class T> void rnn_forward(const LayerArgs<T>& a, Activation act);
template <class T> void rnn_backward(const LayerArgs<T>& a, const LayerGrads<T>& g, Activation act);
template <class T> void gru_forward(const LayerArgs<T>& a, bool reset_after);
template <class T> void gru_backward(const LayerArgs<T>& a, const LayerGrads<T>& g, bool reset_after);
template <class T> void lstm_forward(const LayerArgs<T>& a);
template <class T> void lstm_backward(const LayerArgs<T>& a, const LayerGrads<T>& g);

}  // namespace pyrnn
