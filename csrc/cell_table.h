// The cell and activation vocabulary of the core, in one place: every name the bindings accept,
// the enum it maps to, and what each cell is made of. The parsers, the drivers' dispatch and
// the shape checks all read these tables; adding a cell or an activation starts here.
//
// kernels.h includes this from the per-ISA files (avx2.cpp, ...), so it holds only data and
// declarations: an inline function compiled there with that ISA's flags could be the copy the
// linker keeps for every caller. The functions are defined in cell_table.cpp.
#pragma once
#include <string>

namespace pyrnn {

// Values index Kernels::rnn_step/rnn_back (the first kRnnActivations); keep them dense.
enum class Activation { tanh = 0, relu = 1, sigmoid = 2, linear = 3, hard_sigmoid = 4 };
constexpr int kRnnActivations = 4;  // an Elman RNN's activation is one of the first four

struct ActivationInfo {
  Activation id;
  const char* name;  // Keras's name (torch's nonlinearity for the first two)
};

// Indexed by Activation.
inline constexpr ActivationInfo kActivations[] = {
    {Activation::tanh, "tanh"},
    {Activation::relu, "relu"},
    {Activation::sigmoid, "sigmoid"},
    {Activation::linear, "linear"},
    {Activation::hard_sigmoid, "hard_sigmoid"},
};

enum class Cell { rnn_tanh, rnn_relu, rnn_sigmoid, rnn_linear, gru, gru_reset_before, lstm };

struct CellInfo {
  Cell id;
  const char* name;       // as the bindings take it
  int gates;              // G: W_ih is [G*H, I], W_hh [G*H, H], in torch's gate order
  bool gated;             // takes `activation` and `recurrent_activation` (GRU, LSTM); else its one
  Activation activation;  // activation is fixed by the cell: this one (Elman RNN)
  bool cell_state;        // has a cell state c (and may have a projection): LSTM
};

// Indexed by Cell.
inline constexpr CellInfo kCells[] = {
    {Cell::rnn_tanh, "rnn_tanh", 1, false, Activation::tanh, false},
    {Cell::rnn_relu, "rnn_relu", 1, false, Activation::relu, false},
    {Cell::rnn_sigmoid, "rnn_sigmoid", 1, false, Activation::sigmoid, false},
    {Cell::rnn_linear, "rnn_linear", 1, false, Activation::linear, false},
    {Cell::gru, "gru", 3, true, Activation::tanh, false},
    {Cell::gru_reset_before, "gru_reset_before", 3, true, Activation::tanh, false},
    {Cell::lstm, "lstm", 4, true, Activation::tanh, true},
};

// The defaults of a gated cell (PyTorch's): sigmoid gates, tanh candidate and output.
struct GatedActivations {
  Activation gate = Activation::sigmoid;  // Keras recurrent_activation
  Activation cell = Activation::tanh;     // Keras activation
};

const CellInfo& cell_info(Cell cell);
const char* activation_name(Activation act);
// By name; std::invalid_argument listing the names otherwise.
Cell parse_cell(const std::string& name);
Activation parse_activation(const char* what, const std::string& name);
// A cell's (activation, recurrent_activation) by name: any for GRU/LSTM; other cells take only
// the defaults (an Elman RNN names its activation in the cell: rnn_relu).
GatedActivations parse_activations(Cell cell, const std::string& activation, const std::string& recurrent_activation);

}  // namespace pyrnn
