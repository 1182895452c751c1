// The table of micro-kernels for one ISA and one dtype. Each ISA's file (scalar.cpp,
// avx2.cpp, avx512.cpp) fills one with table.h from the templates of activations.h, matvec.h,
// gemm_tile.h, recurrent_step.h and backward.h; kernels<T>() returns the table chosen once for
// this process (cpu.h: active_isa()).
#pragma once
#include <cstddef>

#include "cell_table.h"  // Activation

namespace pyrnn {

// One time step of the fused recurrent product + gate epilogue, for batch rows
// [row_begin, row_end) and hidden-unit blocks [block_begin, block_end). Rows are the batch; each buffer has its own row stride.
template <class T>
struct StepArgs {
  int B = 0, H = 0;
  int K = 0;                   // inner size of the recurrent product: H, or the LSTM projection size
  const T* w = nullptr;        // recurrent weights packed by pack_recurrent (K = H)
  const T* w_rows = nullptr;   // or unpacked: W_hh's rows of these gates, [G*H, K] (batch 1-4);
  const T* x_rows = nullptr;   // then optionally W_ih's rows [G*H, I] with x_in [B, I] (row stride I),
  const T* x_in = nullptr;     // whose product is added into `gates` first
  int I = 0;
  const T* h_in = nullptr;     // rows multiplied by the weights: h_{t-1}, or r*h_{t-1}
  std::ptrdiff_t ld_h_in = 0;
  const T* h_prev = nullptr;   // h_{t-1} (GRU blend, reset-before r*h)
  std::ptrdiff_t ld_h_prev = 0;
  T* gates = nullptr;          // in: input projection of this step; out: activated gates
  std::ptrdiff_t ld_gates = 0;
  bool store_gates = false;    // keep activated gates for backward (training)
  Activation gate_act = Activation::sigmoid;  // GRU/LSTM gates, for Kernels::gated[1]
  Activation cell_act = Activation::tanh;     // GRU/LSTM candidate and LSTM output
  const T* bias_hn = nullptr;  // GRU: b_hn, inside r*(W_hn h + b_hn); null = no bias
  const T* c_prev = nullptr;   // LSTM cell state in/out, [B, H]
  T* c_out = nullptr;
  T* h_out = nullptr;
  std::ptrdiff_t ld_h_out = 0;
  T* rh_out = nullptr;         // GRU reset-before: r*h_{t-1}, [B, H]
};

// One time step of backward, elementwise over rows [row_begin, row_end): turns the
// saved gates into gate gradients (pre-activation) in place.
template <class T>
struct BackArgs {
  int B = 0, H = 0;
  const T* grad_out = nullptr;  // dL/dh_t from the layer output, [B, H]
  const T* dh_rec = nullptr;    // dL/dh_t through the recurrence, [B, H]; null: grad_out is all of it
  T* dc = nullptr;              // LSTM: in dL/dc_t, out dL/dc_{t-1}, [B, H]
  T* gates = nullptr;           // in: saved gates; out: gate gradients
  std::ptrdiff_t ld_gates = 0;
  const T* c = nullptr;         // LSTM c_t and c_{t-1}, [B, H]
  const T* c_prev = nullptr;
  const T* h = nullptr;         // RNN: h_t
  std::ptrdiff_t ld_h = 0;
  const T* h_prev = nullptr;    // h_{t-1}
  std::ptrdiff_t ld_h_prev = 0;
  T* dh_prev = nullptr;         // GRU: out dL/dh_{t-1} through z (the weights' part is added by GEMM)
  const T* d_rh = nullptr;      // GRU reset-before: dL/d(r*h_{t-1}), [B, H]
  T* dh_total = nullptr;        // GRU reset-before: dL/dh_t kept for the second phase, [B, H]
  Activation gate_act = Activation::sigmoid;  // as in StepArgs
  Activation cell_act = Activation::tanh;
};

// A step's rows go through the fused kernel in chunks of this many, each tiled from its start.
// Threads that split the rows take whole chunks: every row then meets the same tile shape (and
// summation order) whatever the number of threads.
constexpr int kStepRowChunk = 96;
// Weights a thread streams through, beyond about an L2's worth, are prefetched a slice ahead
// (recurrent_step.h, gemm.cpp): from L3 or memory they would stall the first tile over them.
constexpr std::size_t kPrefetchBeyond = std::size_t(512) << 10;
// The weights a thread reads next (the fused step's next k-chunk or unit block, the GEMM's next
// B strip: they follow in memory) brought into L2 a slice per tile; empty, it does nothing.
struct Prefetcher {
  const char* next = nullptr;
  const char* end = nullptr;
  int lines_per_tile = 0;
  void tile() {
    for (int i = 0; i < lines_per_tile && next < end; ++i, next += 64) __builtin_prefetch(next, 0, 2);
  }
};

template <class T>
using StepFn = void (*)(const StepArgs<T>&, int row_begin, int row_end, int block_begin, int block_end);
template <class T>
using BackFn = void (*)(const BackArgs<T>&, int row_begin, int row_end);

template <class T>
struct Kernels {
  // GEMM micro-tile: C[rows, cols] (+)= A_panel · B_panel over kc (A: kc x mr, k-major, its k's
  // lda apart: packed by gemm.cpp with lda = mr, or a transposed A read in place; B: kc x nr,
  // k-major, packed). overwrite: C = product (+ bias[j] per column j when bias is given)
  // instead of C += product.
  int gemm_mr, gemm_nr;
  void (*gemm_tile)(int kc, const T* a, std::ptrdiff_t lda, const T* b, T* c, std::ptrdiff_t ldc, int rows, int cols,
                    bool overwrite, const T* bias);
  // The same tile over a row-major A read in place, A(r, k) = a[r * lda + k] (its mr rows exist).
  decltype(gemm_tile) gemm_tile_rows;
  // The whole product C[M, N] (+)= A[M, K] · B[K, N] for N of a few columns, unpacked; csa or rsa is 1.
  void (*gemm_narrow)(int M, int N, int K, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const T* b,
                      std::ptrdiff_t rsb, std::ptrdiff_t csb, T* c, std::ptrdiff_t ldc, bool accumulate);
  // Recurrent weights: W [G*H, K] (W(j, k) = w[j*rsw + k*csw], gate g's rows at g*H) packed as
  // blocks of `unit_block` hidden units holding all G gates' columns for those units.
  int unit_block;
  void (*pack_recurrent)(const T* w, std::ptrdiff_t rsw, std::ptrdiff_t csw, int G, int H, int K, T* dst);
  StepFn<T> rnn_step[kRnnActivations];  // by Activation
  BackFn<T> rnn_back[kRnnActivations];
  // GRU and LSTM: gated[0] with the default activations (sigmoid gates, tanh) built in;
  // gated[1] with those the arguments name (gate_act, cell_act), dispatched per vector.
  struct Gated {
    StepFn<T> lstm_step, gru_step, gru_rz_step, gru_n_step;
    BackFn<T> lstm_back, gru_back, gru_zn_back, gru_r_back;
  } gated[2];
  // y[j] (+)= W[j, :K] · v for j < rows: the unpacked products of a single streaming step.
  void (*matvec)(const T* w, std::ptrdiff_t ldw, int rows, int K, const T* v, T* y, bool accumulate);
  // In-place activations (exposed for accuracy tests).
  void (*tanh)(T* x, std::ptrdiff_t n);
  void (*sigmoid)(T* x, std::ptrdiff_t n);
};

inline std::size_t packed_recurrent_size(int G, int H, int K, int unit_block) {
  const std::size_t blocks = (static_cast<std::size_t>(H) + unit_block - 1) / unit_block;
  return blocks * unit_block * G * static_cast<std::size_t>(K);
}

template <class T>
const Kernels<T>& kernels();  // the active ISA's table

namespace scalar { const Kernels<float>& table_f32(); const Kernels<double>& table_f64(); }
namespace avx2 { const Kernels<float>& table_f32(); const Kernels<double>& table_f64(); }
namespace avx512 { const Kernels<float>& table_f32(); const Kernels<double>& table_f64(); }

}  // namespace pyrnn
