// Pieces shared by the cell drivers: the hoisted input projection, the per-step dispatch
// over the thread pool, and the weight gradients as large GEMMs after the time loop.
#pragma once
#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "gemm.h"
#include "kernels/kernels.h"
#include "layer.h"
#include "parallel.h"

namespace pyrnn {

// Below this many flops a step runs on the calling thread: waking the pool costs more.
constexpr double kParallelStepFlops = 4.0e5;
// Below this many flops in all a layer's row windows run on the calling thread: two windows of
// the Keras tutorial's SimpleRNN(50) at batch 32 (1.6 MFLOP forward) ran slower on two threads
// than on one, and a part held by a preempted thread costs a busy machine a whole time slice.
constexpr double kParallelWindowFlops = 8.0e6;

// bias[j] = b_ih[j] + b_hh[j] over the G*H gate columns, leaving out the b_hh of gate
// `inner_gate` (GRU's b_hn sits inside r*(W_hn h + b_hn)); pass -1 to add all of it.
template <class T>
void summed_bias(const LayerArgs<T>& a, int G, int inner_gate, T* bias) {
  for (int j = 0; j < G * a.H; ++j) {
    bias[j] = a.b_ih ? a.b_ih[j] : T(0);
    if (a.b_hh && j / a.H != inner_gate) bias[j] += a.b_hh[j];
  }
}

// What a driver allocates for itself (layer.h: scratch_bytes), added up the way it allocates:
// the buffers it holds, summed (an upper bound of what is held at any one time), and its GEMMs'
// scratch (gemm.h: the largest of each kind over the calls).
struct ScratchTally {
  std::size_t held = 0;
  GemmScratch gemms;
  ScratchTally& hold(std::size_t elements) {
    held += elements;
    return *this;
  }
  ScratchTally& gemm(const GemmScratch& g) {
    gemms.add(g);
    return *this;
  }
  std::size_t total() const { return held + gemms.total(); }
};

// xp[t*B + b, 0:G*H] (row stride ldx) = x W_ih^T + summed_bias, for every step at once.
template <class T>
void input_projection(const LayerArgs<T>& a, int G, T* xp, std::ptrdiff_t ldx, int inner_gate) {
  const int GH = G * a.H;
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(a.steps) * a.B;
  AlignedVector<T> bias(GH);
  summed_bias(a, G, inner_gate, bias.data());
  gemm<T>(static_cast<int>(rows), GH, a.I, a.x, a.I, 1, a.w_ih, 1, a.I, xp, ldx, /*accumulate=*/false, bias.data());
}

// The same a chunk of steps at a time, W_ih packed once for all chunks.
template <class T>
struct ChunkedInputProjection {
  const LayerArgs<T>& a;
  int G, inner_gate;
  PackedB<T> w;
  AlignedVector<T> bias;
  ChunkedInputProjection(const LayerArgs<T>& args, int gates, int inner) : a(args), G(gates), inner_gate(inner), bias(gates * args.H) {
    summed_bias(a, G, inner_gate, bias.data());
    w.pack(a.I, G * a.H, a.w_ih, 1, a.I);
  }
  void operator()(int t0, int steps, T* xp, std::ptrdiff_t ldx) const {
    gemm<T>(steps * a.B, a.x + static_cast<std::ptrdiff_t>(t0) * a.B * a.I, a.I, 1, w, xp, ldx, false, bias.data());
  }
};

template <class T>
void input_projection_scratch(const LayerSizes& s, int G, ScratchTally& tally) {
  tally.hold(static_cast<std::size_t>(G) * s.H).gemm(gemm_scratch<T>(s.steps * s.B, G * s.H, s.I));
}

// Rows [begin, end) of the batch: the part a pass of the time loop covers (all rows, or one
// thread's window of them).
struct Rows {
  int begin, end;
  // Of a step's active rows [0, active) (sorted by length), the end of those in this window.
  int active_end(int active) const { return std::clamp(active, begin, end); }
};

// Rows are independent sequences. When a step is too small to share among threads, the threads
// take windows of whole rows through the entire time loop instead: one hand-off per call, not
// one per step. Window starts are multiples of kWindowRows (>= any tile height), so a step
// whose rows fit in one tile has them all in the first window, and no row's summation order
// depends on the number of threads.
constexpr int kWindowRows = 16;

template <class T>
bool splits_row_windows(const LayerArgs<T>& a, double step_flops) {
  const int windows = (a.B + kWindowRows - 1) / kWindowRows;
  return windows >= 2 && get_num_threads() > 1 && step_flops < kParallelStepFlops &&
         step_flops * a.steps >= kParallelWindowFlops;
}

template <class T, class Loop>
void over_row_windows(const LayerArgs<T>& a, double step_flops, Loop loop) {
  const int windows = (a.B + kWindowRows - 1) / kWindowRows;
  if (!splits_row_windows(a, step_flops)) return loop(Rows{0, a.B});
  maybe_parallel(true, windows, [&](int w0, int w1) {
    loop(Rows{w0 * kWindowRows, std::min(a.B, w1 * kWindowRows)});
  });
}

// Steps per chunk of the input projection. Inference projects about kProjectionChunkRows rows of
// steps at a time, into one buffer that stays in cache, when the time loop runs on all rows
// together: all steps at once wrote a fresh T*B*G*H buffer (52 MB for lstm-large, its page
// faults alone ~10% of the call). Training keeps every step's gates; row windows run their own
// time loops side by side: both project every step at once.
constexpr int kProjectionChunkRows = 512;
template <class T>
int projection_chunk(const LayerArgs<T>& a, bool training, double step_flops) {
  if (training || splits_row_windows(a, step_flops)) return a.steps;
  return std::max(1, std::min(a.steps, kProjectionChunkRows / std::max(a.B, 1)));
}

// One step over `rows` of its s.B active rows. All of them: small batches split the hidden-unit
// blocks over the threads (each keeps its slice of W_hh in its own cache), large ones split the
// rows, in whole chunks (kernels.h: kStepRowChunk). A window: on this thread.
template <class T>
void run_step(StepFn<T> fn, const StepArgs<T>& s, int G, Rows rows) {
  if (rows.end <= rows.begin) return;
  const int blocks = (s.H + kernels<T>().unit_block - 1) / kernels<T>().unit_block;
  if (rows.begin != 0 || rows.end != s.B) return fn(s, rows.begin, rows.end, 0, blocks);
  const double flops = 2.0 * G * s.H * (s.K + (s.x_rows ? s.I : 0)) * s.B;
  const bool worth_it = flops >= kParallelStepFlops;
  if (s.B >= 256) {
    const int chunks = (s.B + kStepRowChunk - 1) / kStepRowChunk;
    return maybe_parallel(worth_it, chunks, [&](int c0, int c1) {
      fn(s, c0 * kStepRowChunk, std::min(s.B, c1 * kStepRowChunk), 0, blocks);
    });
  }
  maybe_parallel(worth_it, blocks, [&](int b0, int b1) { fn(s, 0, s.B, b0, b1); });
}

template <class T>
void run_step(StepFn<T> fn, const StepArgs<T>& s, int G) {
  run_step(fn, s, G, Rows{0, s.B});
}

template <class T>
void run_back(BackFn<T> fn, const BackArgs<T>& a, Rows rows) {
  if (rows.end <= rows.begin) return;
  if (rows.begin != 0 || rows.end != a.B) return fn(a, rows.begin, rows.end);
  maybe_parallel(static_cast<double>(a.B) * a.H >= 16384, a.B, [&](int r0, int r1) { fn(a, r0, r1); });
}

// Elements of W [G*H, K] packed for the fused step.
template <class T>
std::size_t packed_recurrent_elements(int G, int H, int K) {
  return packed_recurrent_size(G, H, K, kernels<T>().unit_block);
}

// W [G*H, K] (rows of G gates; W(j, k) = w[j*rsw + k*csw]) packed for the fused step.
template <class T>
AlignedVector<T> packed_recurrent(const T* w, std::ptrdiff_t rsw, std::ptrdiff_t csw, int G, int H, int K) {
  AlignedVector<T> packed(packed_recurrent_elements<T>(G, H, K));
  kernels<T>().pack_recurrent(w, rsw, csw, G, H, K, packed.data());
  return packed;
}

// The same for a row-major W [G*H, K]; K defaults to H.
template <class T>
AlignedVector<T> packed_recurrent(const T* w, int G, int H, int K = -1) {
  if (K < 0) K = H;
  return packed_recurrent(w, K, 1, G, H, K);
}

// out[rows, N] (+)= in[rows, K] · B[K, N] inside a time loop, B packed once. Small products (a
// few rows, small K·N) run on the fused step's tiles with B in its layout: the rows are read
// where they lie (broadcast), nothing is packed per step, and the linear RNN step with gates =
// out is exactly this product. Large ones use the GEMM, whose packed rows make a denser tile.
// Either way each element is summed over k in a fixed order: any split of the rows gives the
// same bits.
template <class T>
class StepProduct {
 public:
  // B(k, n) = b[k*rsb + n*csb]; B_rows: the most rows a step has.
  StepProduct(int K, int N, const T* b, std::ptrdiff_t rsb, std::ptrdiff_t csb, int B_rows)
      : K_(K), N_(N), use_gemm_(uses_gemm(K, N, B_rows)) {
    if (use_gemm_) {
      gemm_b_.pack(K, N, b, rsb, csb);
    } else {
      step_b_ = packed_recurrent(b, csb, rsb, 1, N, K);  // output n is the packed "unit", k the depth
    }
  }
  // For `rows` of a step's B active rows (see run_step); in and out point at row 0.
  void operator()(int B, Rows rows, const T* in, std::ptrdiff_t ld_in, T* out, std::ptrdiff_t ld_out,
                  bool accumulate) const {
    if (rows.end <= rows.begin) return;
    if (use_gemm_)
      return gemm<T>(rows.end - rows.begin, in + rows.begin * ld_in, ld_in, 1, gemm_b_, out + rows.begin * ld_out,
                     ld_out, accumulate);
    if (!accumulate)
      for (int r = rows.begin; r < rows.end; ++r) std::fill(out + r * ld_out, out + r * ld_out + N_, T(0));
    StepArgs<T> s;
    s.B = B;
    s.H = N_;
    s.K = K_;
    s.w = step_b_.data();
    s.h_in = in;
    s.ld_h_in = ld_in;
    s.gates = s.h_out = out;
    s.ld_gates = s.ld_h_out = ld_out;
    run_step(kernels<T>().rnn_step[static_cast<int>(Activation::linear)], s, 1, rows);
  }

  // What one holds (B packed) and its GEMM calls allocate.
  static void scratch(int K, int N, int B_rows, ScratchTally& tally) {
    if (uses_gemm(K, N, B_rows))
      tally.hold(packed_b_size<T>(K, N)).gemm(gemm_scratch<T>(B_rows, N, K, /*b_packed=*/true));
    else
      tally.hold(packed_recurrent_elements<T>(1, N, K));
  }

 private:
  static bool uses_gemm(int K, int N, int B_rows) { return 2.0 * B_rows * K * N >= kParallelStepFlops; }

  int K_, N_;
  bool use_gemm_;
  PackedB<T> gemm_b_;
  AlignedVector<T> step_b_;
};

// out[j] = sum over rows r of m[r*ld + j], j < cols; each column summed in row order.
template <class T>
void column_sums(const T* m, std::ptrdiff_t rows, int cols, std::ptrdiff_t ld, T* out) {
  constexpr int kChunk = 64;
  const auto sums = [&](int c0, int c1) {
    const int j0 = c0 * kChunk, j1 = std::min(cols, c1 * kChunk);
    std::fill(out + j0, out + j1, T(0));
    for (std::ptrdiff_t r = 0; r < rows; ++r) {
      const T* row = m + r * ld;
      for (int j = j0; j < j1; ++j) out[j] += row[j];
    }
  };
  const int chunks = (cols + kChunk - 1) / kChunk;
  maybe_parallel(static_cast<double>(rows) * cols >= (1 << 18), chunks, sums);
}

// Recurrent dropout (LayerArgs::recurrent_mask). dst = mask * src over `rows` ([B, P] arrays).
template <class T>
void masked_rows(const LayerArgs<T>& a, const T* src, T* dst, Rows rows) {
  const std::size_t P = a.hidden_out();
  const T* m = a.recurrent_mask;
  for (std::size_t i = rows.begin * P; i < rows.end * P; ++i) dst[i] = src[i] * m[i];
}

// What step t's recurrent product reads for `rows`: h_{t-1} itself, or with a mask its masked
// copy written into `buf` ([B, P] scratch of the driver, recurrent_input_elements).
template <class T>
const T* recurrent_input(const LayerArgs<T>& a, const T* h_prev, T* buf, Rows rows) {
  if (!a.recurrent_mask) return h_prev;
  masked_rows(a, h_prev, buf, rows);
  return buf;
}

template <class T>
std::size_t recurrent_input_elements(const LayerSizes& s) {
  return s.masked ? static_cast<std::size_t>(s.B) * s.P : 0;
}

// Backward: the recurrent part of dL/dh_{t-1} (dG_t · W_hh, in d) times the mask, over `rows`.
template <class T>
void mask_recurrent_grad(const LayerArgs<T>& a, T* d, Rows rows) {
  if (a.recurrent_mask) masked_rows(a, d, d, rows);
}

// dst += mask * src over `rows` (a recurrent part added to the blend's dL/dh_{t-1}).
template <class T>
void add_masked_rows(const LayerArgs<T>& a, const T* src, T* dst, Rows rows) {
  const std::size_t P = a.hidden_out();
  const T* m = a.recurrent_mask;
  for (std::size_t i = rows.begin * P; i < rows.end * P; ++i) dst[i] += src[i] * m[i];
}

// dW[rows, :] = dG^T · Hprev, where Hprev is h0 followed by out[0 .. T-2] (each times the
// recurrent mask when there is one): the recurrent weights' gradient for `rows` gate rows whose
// gradients are columns of dG (row stride ld). The masked Hprev is recomputed here, one
// elementwise pass, rather than kept by the forward (which would grow the workspace).
template <class T>
void recurrent_weight_grad(const LayerArgs<T>& a, const T* dg, std::ptrdiff_t ld, int rows, T* dw) {
  const int P = a.hidden_out(), B = a.B;
  if (a.recurrent_mask) {
    const std::size_t BP = static_cast<std::size_t>(B) * P;
    AlignedVector<T> hm(a.steps * BP);
    masked_rows(a, a.h0, hm.data(), Rows{0, B});
    for (int t = 1; t < a.steps; ++t) masked_rows(a, a.out + (t - 1) * BP, hm.data() + t * BP, Rows{0, B});
    return gemm<T>(rows, P, a.steps * B, dg, 1, ld, hm.data(), P, 1, dw, P, false);
  }
  gemm<T>(rows, P, B, dg, 1, ld, a.h0, P, 1, dw, P, false);
  if (a.steps > 1)
    gemm<T>(rows, P, (a.steps - 1) * B, dg + B * ld, 1, ld, a.out, P, 1, dw, P, true);
}

template <class T>
void recurrent_weight_grad_scratch(const LayerSizes& s, int rows, ScratchTally& tally) {
  if (s.masked) {
    tally.hold(static_cast<std::size_t>(s.steps) * s.B * s.P).gemm(gemm_scratch<T>(rows, s.P, s.steps * s.B));
    return;
  }
  tally.gemm(gemm_scratch<T>(rows, s.P, s.B)).gemm(gemm_scratch<T>(rows, s.P, (s.steps - 1) * s.B));
}

template <class T>
inline int active_rows(const LayerArgs<T>& a, int t) {
  return a.batch_sizes ? a.batch_sizes[t] : a.B;
}

// The arguments every step of the time loop starts from (Args: StepArgs or BackArgs): step t's
// active rows, the sizes and the GRU/LSTM activations; the driver adds its buffers.
template <template <class> class Args, class T>
Args<T> step_start(const LayerArgs<T>& a, int t) {
  Args<T> s;
  s.B = active_rows(a, t);
  s.H = a.H;
  s.gate_act = a.gate_act;
  s.cell_act = a.cell_act;
  return s;
}

// Rows [from, to) of step t are past their sequence's end: they output zeros.
template <class T>
void zero_inactive_outputs(const LayerArgs<T>& a, int t, int from, int to) {
  const std::size_t P = a.hidden_out(), BP = static_cast<std::size_t>(a.B) * P;
  std::fill(a.out + t * BP + from * P, a.out + t * BP + to * P, T(0));
}

// dst[b] = the state of row b after its last valid step: state(t) points at step t's [B, H]
// states, initial holds the states before step 0 (for rows of length 0).
template <class T, class StateAt>
void final_states(const LayerArgs<T>& a, const T* initial, StateAt state, T* dst, std::size_t H) {
  int length = a.steps;  // rows are sorted longest first, so lengths only go down
  for (int b = 0; b < a.B; ++b) {
    while (length > 0 && active_rows(a, length - 1) <= b) --length;
    const T* src = length == 0 ? initial + b * H : state(length - 1) + b * H;
    std::memcpy(dst + b * H, src, sizeof(T) * H);
  }
}

// Backward at step t for rows [from, to), past their end: no gate gradient, dL/dh passes unchanged.
template <class T>
void carry_inactive_rows(const LayerArgs<T>& a, int from, int to, T* gates_t, std::ptrdiff_t ld, const T* dh_rec,
                         T* dh_next) {
  const std::size_t H = a.hidden_out();
  for (int b = from; b < to; ++b) {
    std::fill(gates_t + b * ld, gates_t + b * ld + ld, T(0));
    std::memcpy(dh_next + b * H, dh_rec + b * H, sizeof(T) * H);
  }
}

// dL/dh through the recurrence, backward through time: at(t) holds dL/dh_t for step t, and
// step t writes dL/dh_{t-1} into before(t) = at(t - 1). Two buffers alternate (each thread
// of a row window uses only its own rows of both); at(T - 1) starts as grad_hn.
template <class T>
class RecurrentGrad {
 public:
  RecurrentGrad(const T* grad_hn, std::size_t size, int steps) : steps_(steps), even_(grad_hn, grad_hn + size), odd_(size) {}
  T* at(int t) { return ((steps_ - 1 - t) % 2 == 0 ? even_ : odd_).data(); }
  T* before(int t) { return at(t - 1); }
  static void scratch(std::size_t size, ScratchTally& tally) { tally.hold(2 * size); }

 private:
  int steps_;
  AlignedVector<T> even_, odd_;
};

// The zero-length sequence: nothing flows through the weights.
template <class T>
void backward_empty(const LayerArgs<T>& a, const LayerGrads<T>& g, int G) {
  const std::size_t BH = static_cast<std::size_t>(a.B) * a.H, GH = static_cast<std::size_t>(G) * a.H;
  const std::size_t P = a.hidden_out();
  std::memcpy(g.dh0, g.grad_hn, sizeof(T) * a.B * P);
  if (g.dc0) std::memcpy(g.dc0, g.grad_cn, sizeof(T) * BH);
  std::fill(g.dw_ih, g.dw_ih + GH * a.I, T(0));
  std::fill(g.dw_hh, g.dw_hh + GH * P, T(0));
  if (g.dw_hr) std::fill(g.dw_hr, g.dw_hr + P * a.H, T(0));
  if (g.db_ih) std::fill(g.db_ih, g.db_ih + GH, T(0));
  if (g.db_hh) std::fill(g.db_hh, g.db_hh + GH, T(0));
}

}  // namespace pyrnn
