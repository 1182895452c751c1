// Dispatch from a Cell to its driver, and the workspace each one keeps for backward.
#include "layer.h"

namespace pyrnn {

std::size_t workspace_size(Cell cell, std::size_t steps, std::size_t B, std::size_t H, bool projection) {
  switch (cell) {
    case Cell::lstm: return steps * B * H * (projection ? 6 : 5);  // gates [4H] + c_t (+ o*tanh c_t)
    case Cell::gru: return steps * B * H * 4;               // r z n (W_hn h + b_hn)
    case Cell::gru_reset_before: return steps * B * H * 4;  // r z n + r*h
    default: return 0;                                      // h_t is out[t]
  }
}

template <class T>
void forward(Cell cell, const LayerArgs<T>& a) {
  switch (cell) {
    case Cell::gru: return gru_forward(a, true);
    case Cell::gru_reset_before: return gru_forward(a, false);
    case Cell::lstm: return lstm_forward(a);
    default: return rnn_forward(a, cell_info(cell).activation);  // the Elman cells
  }
}

template <class T>
void backward(Cell cell, const LayerArgs<T>& a, const LayerGrads<T>& g) {
  switch (cell) {
    case Cell::gru: return gru_backward(a, g, true);
    case Cell::gru_reset_before: return gru_backward(a, g, false);
    case Cell::lstm: return lstm_backward(a, g);
    default: return rnn_backward(a, g, cell_info(cell).activation);  // the Elman cells
  }
}

template <class T>
std::size_t scratch_bytes(Cell cell, const LayerSizes& s, Pass pass) {
  switch (cell) {
    case Cell::gru: return sizeof(T) * gru_scratch<T>(s, pass, true);
    case Cell::gru_reset_before: return sizeof(T) * gru_scratch<T>(s, pass, false);
    case Cell::lstm: return sizeof(T) * lstm_scratch<T>(s, pass);
    default: return sizeof(T) * rnn_scratch<T>(s, pass);
  }
}

template std::size_t scratch_bytes<float>(Cell, const LayerSizes&, Pass);
template std::size_t scratch_bytes<double>(Cell, const LayerSizes&, Pass);
template void forward<float>(Cell, const LayerArgs<float>&);
template void forward<double>(Cell, const LayerArgs<double>&);
template void backward<float>(Cell, const LayerArgs<float>&, const LayerGrads<float>&);
template void backward<double>(Cell, const LayerArgs<double>&, const LayerGrads<double>&);

}  // namespace pyrnn
