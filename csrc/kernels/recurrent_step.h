// The recurrent product of one time step fused with the gates: packing of W_hh, the register
// tiles, and the forward step of each cell in the tiles' epilogue.
// Compiled once per ISA by scalar.cpp / avx2.cpp / avx512.cpp (through table.h): include only
// from there.
#pragma once
#include <algorithm>
#include <cstddef>

#include "activations.h"
#include "kernels.h"
#include "matvec.h"
#include "simd.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

// ---------------------------------------------------------------------------------------
// Recurrent product, fused with the gates. Block j of the packed weights holds, for each k,
// the G gates' W-wide columns of hidden units [j*W, j*W + W): one tile of R batch rows
// yields every gate of those units, so the cell update runs right in the tile's epilogue.
// ---------------------------------------------------------------------------------------
template <class T, class S>
void pack_recurrent(const T* w, std::ptrdiff_t rsw, std::ptrdiff_t csw, int G, int H, int K, T* dst) {
  constexpr int W = S::W;
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(G) * W;  // between consecutive k
  for (int u0 = 0; u0 < H; u0 += W) {
    T* block = dst + static_cast<std::ptrdiff_t>(u0) * K * G;
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < W; ++v) {  // one weight row (gate g, unit u0 + v) into a strided lane
        T* d = block + g * W + v;
        if (u0 + v >= H) {
          for (int k = 0; k < K; ++k) d[k * stride] = T(0);
          continue;
        }
        const T* src = w + (static_cast<std::ptrdiff_t>(g) * H + u0 + v) * rsw;
        for (int k = 0; k < K; ++k) d[k * stride] = src[k * csw];
      }
  }
}

// A tile holds R rows x GP gates of accumulators, plus GP weight registers and one broadcast.
// When all G gates don't fit with enough rows (AVX2's 16 registers), the gates are done in
// passes of GP: earlier passes add their product into the gates buffer, the last pass runs the
// cell update with the rest in registers.
template <class S>
constexpr int gates_per_pass(int G) {
  return S::kRegs >= 32 ? G : std::min(G, 2);
}
template <class S>
constexpr int rows_per_tile(int GP) {
  return std::max(1, std::min(12, (S::kRegs - 1 - GP) / GP));
}
// acc[r][g] = sum_k h[r, k] * W[k, gate g0 + g] over the packed block wp (G gates per k), as U
// independent partial sums over k added at the end.
template <class T, class S, int G, int GP, int G0, int R, int U>
PYRNN_INLINE void recurrent_tile_sums(const T* wp, int K, const T* h, std::ptrdiff_t ldh, typename S::reg (&acc)[R][GP]) {
  using reg = typename S::reg;
  reg part[U][R][GP];
  for (int u = 0; u < U; ++u)
    for (int r = 0; r < R; ++r)
      for (int g = 0; g < GP; ++g) part[u][r][g] = S::zero();
  // Forced inline: left to itself GCC calls it out of line for the short tiles (batch 1, row
  // tails), with the accumulators in memory: lstm-b1 ran 2.4x slower.
  auto step = [&](int k, reg (&sum)[R][GP]) PYRNN_INLINE_LAMBDA {
    const T* wk = wp + (static_cast<std::ptrdiff_t>(k) * G + G0) * S::W;
    reg wv[GP];
    for (int g = 0; g < GP; ++g) wv[g] = S::load(wk + g * S::W);
    for (int r = 0; r < R; ++r) {
      const reg hb = S::set1(h[r * ldh + k]);
      for (int g = 0; g < GP; ++g) sum[r][g] = S::fmadd(hb, wv[g], sum[r][g]);
    }
  };
  int k = 0;
  for (; k + U <= K; k += U)
    for (int u = 0; u < U; ++u) step(k + u, part[u]);
  for (; k < K; ++k) step(k, part[0]);
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < GP; ++g) {
      reg total = part[0][r][g];
      for (int u = 1; u < U; ++u) total = S::add(total, part[u][r][g]);
      acc[r][g] = total;
    }
}

// A short tile (few rows, e.g. batch 1) would wait on FMA latency with so few accumulators:
// when a step's rows all fit in one tile (`one_tile`) it keeps several partial sums. Only
// then: a row's summation order must not depend on how the rows are split among threads.
template <class T, class S, int G, int GP, int G0, int R>
PYRNN_INLINE void recurrent_tile(const T* wp, int K, const T* h, std::ptrdiff_t ldh, typename S::reg (&acc)[R][GP],
                           bool one_tile) {
  constexpr int U = std::max(1, 8 / (R * GP));
  if constexpr (U > 1) {
    if (one_tile) return recurrent_tile_sums<T, S, G, GP, G0, R, U>(wp, K, h, ldh, acc);
  }
  recurrent_tile_sums<T, S, G, GP, G0, R, 1>(wp, K, h, ldh, acc);
}

// Rows [r0, r0 + rows), rows < R: the tile height is picked at compile time.
template <class T, class S, int G, int GP, int G0, int R, class Epi>
inline void recurrent_tail(int rows, int r0, const T* wp, int K, const T* h, std::ptrdiff_t ldh, int u, int n,
                           bool one_tile, Epi& epi) {
  if constexpr (R > 0) {
    if (rows == R) {
      typename S::reg acc[R][GP];
      recurrent_tile<T, S, G, GP, G0, R>(wp, K, h + r0 * ldh, ldh, acc, one_tile);
      for (int r = 0; r < R; ++r) epi(r0 + r, u, n, acc[r], G0);
    } else {
      recurrent_tail<T, S, G, GP, G0, R - 1>(rows, r0, wp, K, h, ldh, u, n, one_tile, epi);
    }
  }
}

// h: the rows' inputs from column k0 on, K: the depth of this part of the product.
template <class T, class S, int G, int GP, int G0, class Epi>
inline void recurrent_rows(const StepArgs<T>& a, const T* wb, const T* h, int K, int row0, int row1, int u, int n,
                           Epi& epi, Prefetcher& pf) {
  constexpr int R = rows_per_tile<S>(GP);
  const bool one_tile = a.B <= R;  // a.B: all of the step's rows, whichever of them this call runs
  int r0 = row0;
  for (; r0 + R <= row1; r0 += R) {
    pf.tile();
    typename S::reg acc[R][GP];
    recurrent_tile<T, S, G, GP, G0, R>(wb, K, h + r0 * a.ld_h_in, a.ld_h_in, acc, one_tile);
    for (int r = 0; r < R; ++r) epi(r0 + r, u, n, acc[r], G0);
  }
  if (r0 < row1) {
    pf.tile();
    recurrent_tail<T, S, G, GP, G0, R - 1>(row1 - r0, r0, wb, K, h, a.ld_h_in, u, n, one_tile, epi);
  }
}

// out[b, gates g0..] += acc: a part of the product that is not the last one.
template <class T, class S>
inline void add_partial(const StepArgs<T>& a, int b, int u, int n, const typename S::reg* acc, int g0, int count) {
  T* gx = a.gates + b * a.ld_gates + u;
  for (int g = 0; g < count; ++g) {
    T* p = gx + (g0 + g) * a.H;
    store_n<S>(p, S::add(acc[g], load_n<S>(p, n)), n);
  }
}

template <class T, class S, int G, int GP, int G0, class Epi>
inline void gate_passes(const StepArgs<T>& a, const T* wb, const T* h, int K, int row0, int row1, int u, int n,
                        Epi& epi, Prefetcher& pf) {
  using reg = typename S::reg;
  if constexpr (G0 + GP < G) {
    auto partial = [&](int b, int, int, const reg* acc, int) { add_partial<T, S>(a, b, u, n, acc, G0, GP); };
    recurrent_rows<T, S, G, GP, G0>(a, wb, h, K, row0, row1, u, n, partial, pf);
    gate_passes<T, S, G, GP, G0 + GP>(a, wb, h, K, row0, row1, u, n, epi, pf);
  } else {
    recurrent_rows<T, S, G, G - G0, G0>(a, wb, h, K, row0, row1, u, n, epi, pf);
  }
}

// One gate (G = 1: the RNN, GRU's n): a tile of one unit block loads one h value per FMA, so
// it is bound by loads (RNN forward at ~45% of the FMA rate); two blocks per tile feed two FMAs
// per h value. acc[r][j] = sum_k h[r, k] * W[k, block j], k in order, as the one-block tile with
// one sum (used only where that one would have one sum too: the rows do not fit in one tile),
// so the results do not depend on how the blocks are paired.
template <class T, class S, int R>
PYRNN_INLINE void pair_tile(const T* w0, const T* w1, int K, const T* h, std::ptrdiff_t ldh,
                            typename S::reg (&acc)[R][2]) {
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = S::zero();
  for (int k = 0; k < K; ++k) {
    const typename S::reg w0k = S::load(w0 + static_cast<std::ptrdiff_t>(k) * S::W);
    const typename S::reg w1k = S::load(w1 + static_cast<std::ptrdiff_t>(k) * S::W);
    for (int r = 0; r < R; ++r) {
      const typename S::reg hb = S::set1(h[r * ldh + k]);
      acc[r][0] = S::fmadd(hb, w0k, acc[r][0]);
      acc[r][1] = S::fmadd(hb, w1k, acc[r][1]);
    }
  }
}

// Rows [r0, r0 + rows) of a pair tile, rows <= R, the height picked at compile time; the
// epilogue runs per block (units u and u + W, n0 and n1 of them).
template <class T, class S, int R, class Epi>
inline void pair_rows(int rows, int r0, const T* w0, const T* w1, int K, const T* h, std::ptrdiff_t ldh, int u,
                      int n0, int n1, Epi& epi) {
  if constexpr (R > 0) {
    if (rows == R) {
      typename S::reg acc[R][2];
      pair_tile<T, S, R>(w0, w1, K, h + r0 * ldh, ldh, acc);
      for (int r = 0; r < R; ++r) {
        epi(r0 + r, u, n0, &acc[r][0], 0);
        epi(r0 + r, u + S::W, n1, &acc[r][1], 0);
      }
    } else {
      pair_rows<T, S, R - 1>(rows, r0, w0, w1, K, h, ldh, u, n0, n1, epi);
    }
  }
}

// Rows [row0, row1) x hidden-unit blocks [blk0, blk1) of one step. Rows go in chunks so that
// a chunk of h stays in cache while it meets every weight block. A deep product (large K) goes
// in k-chunks whose slice of the weight block fits in L1, all but the last summed into the
// gates buffer; KSplit = false where a gate's hidden part must stay apart (GRU's n).
template <class T, class S, int G, bool KSplit = true, class Epi>
inline void recurrent_step(const StepArgs<T>& a, const T* w, int row0, int row1, int blk0, int blk1, Epi epi) {
  constexpr int kRowChunk = kStepRowChunk, kDepth = 256;
  const int K = a.K;
  if (a.w_rows) {  // unpacked weights: the G gate rows of each unit block by dot products
    for (int b = row0; b < row1; ++b)
      for (int blk = blk0; blk < blk1; ++blk) {
        const int u = blk * S::W, n = std::min(S::W, a.H - u);
        typename S::reg acc[G];
        for (int g = 0; g < G; ++g) {
          const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(g) * a.H + u;
          if (a.x_rows) {
            T* gx = a.gates + b * a.ld_gates + row;
            store_n<S>(gx, S::add(load_n<S>(gx, n), rowdot<T, S>(a.x_rows + row * a.I, a.I, n, a.x_in + b * a.I, a.I)), n);
          }
          acc[g] = rowdot<T, S>(a.w_rows + row * K, K, n, a.h_in + b * a.ld_h_in, K);
        }
        epi(b, u, n, acc, 0);
      }
    return;
  }
  const T* w_end = w + static_cast<std::ptrdiff_t>(blk1) * K * G * S::W;  // this call's last weights
  // Only weights too large for L2 come from farther away (lstm-b1's 128 KB slice ran slower with it).
  const bool prefetch = static_cast<std::size_t>(blk1 - blk0) * K * G * S::W * sizeof(T) > kPrefetchBeyond;
  for (int c0 = row0; c0 < row1; c0 += kRowChunk) {
    const int c1 = std::min(row1, c0 + kRowChunk);
    for (int blk = blk0; blk < blk1; ++blk) {
      const T* wb = w + static_cast<std::ptrdiff_t>(blk) * K * G * S::W;
      const int u = blk * S::W, n = std::min(S::W, a.H - u);
      if constexpr (G == 1) {
        if (a.B > rows_per_tile<S>(1) && blk + 1 < blk1) {  // two blocks at once (pair_tile)
          constexpr int R = rows_per_tile<S>(2);
          const T* wb1 = wb + static_cast<std::ptrdiff_t>(K) * S::W;
          const int n1 = std::min(S::W, a.H - u - S::W);
          auto run_pair = [&](int k0, int depth, auto& e) {
            const T* h = a.h_in + k0;
            const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(k0) * S::W;
            for (int r0 = c0; r0 < c1; r0 += R)
              pair_rows<T, S, R>(std::min(R, c1 - r0), r0, wb + off, wb1 + off, depth, h, a.ld_h_in, u, n, n1, e);
          };
          int k0 = 0;
          if (KSplit && K >= 2 * kDepth) {
            auto partial = [&](int b, int uu, int nn, const typename S::reg* acc, int) {
              add_partial<T, S>(a, b, uu, nn, acc, 0, 1);
            };
            for (; K - k0 > kDepth; k0 += kDepth) run_pair(k0, kDepth, partial);
          }
          run_pair(k0, K - k0, epi);
          ++blk;
          continue;
        }
      }
      auto run = [&](int k0, int depth, auto& e) {
        const T* wk = wb + static_cast<std::ptrdiff_t>(k0) * G * S::W;
        constexpr int GP = gates_per_pass<S>(G);
        const bool one_pass = GP < G && a.B <= rows_per_tile<S>(G);  // a few rows: all gates fit in one pass
        const std::ptrdiff_t chunk = static_cast<std::ptrdiff_t>(depth) * G * S::W;
        Prefetcher pf;
        if (prefetch) {
          const int passes = one_pass ? 1 : (G + GP - 1) / GP, R = one_pass ? rows_per_tile<S>(G) : rows_per_tile<S>(GP);
          const int tiles = passes * ((c1 - c0 + R - 1) / R);
          pf.next = reinterpret_cast<const char*>(wk + chunk);
          pf.end = std::min(pf.next + chunk * sizeof(T), reinterpret_cast<const char*>(w_end));
          pf.lines_per_tile = static_cast<int>((chunk * sizeof(T) / 64 + tiles - 1) / tiles);
        }
        if (one_pass)
          gate_passes<T, S, G, G, 0>(a, wk, a.h_in + k0, depth, c0, c1, u, n, e, pf);
        else
          gate_passes<T, S, G, GP, 0>(a, wk, a.h_in + k0, depth, c0, c1, u, n, e, pf);
      };
      int k0 = 0;
      if (KSplit && K >= 2 * kDepth) {
        auto partial = [&](int b, int, int, const typename S::reg* acc, int first) {
          add_partial<T, S>(a, b, u, n, acc, first, G - first);
        };
        for (; K - k0 > kDepth; k0 += kDepth) run(k0, kDepth, partial);
      }
      run(k0, K - k0, epi);
    }
  }
}

// The pre-activation of gate g in an epilogue whose registers hold gates [first, G): from
// registers, or already summed into the gates buffer by an earlier pass.
template <class T, class S>
inline typename S::reg preact(const typename S::reg* acc, int first, const T* gx, int g, int H, int n) {
  const typename S::reg x = load_n<S>(gx + g * H, n);
  return g >= first ? S::add(acc[g - first], x) : x;
}

template <class T, class S, Activation Act>
void rnn_step(const StepArgs<T>& a, int row0, int row1, int blk0, int blk1) {
  using reg = typename S::reg;
  recurrent_step<T, S, 1>(a, a.w, row0, row1, blk0, blk1, [&](int b, int u, int n, const reg* acc, int) {
    const reg pre = S::add(acc[0], load_n<S>(a.gates + b * a.ld_gates + u, n));
    store_n<S>(a.h_out + b * a.ld_h_out + u, activate<S, Act>(pre), n);
  });
}

template <class T, class S, class Act>
void lstm_step(const StepArgs<T>& a, int row0, int row1, int blk0, int blk1) {
  using reg = typename S::reg;
  const int H = a.H;
  recurrent_step<T, S, 4>(a, a.w, row0, row1, blk0, blk1, [&](int b, int u, int n, const reg* acc, int first) {
    T* gx = a.gates + b * a.ld_gates + u;
    const reg i = Act::gate(a, preact<T, S>(acc, first, gx, 0, H, n));
    const reg f = Act::gate(a, preact<T, S>(acc, first, gx, 1, H, n));
    const reg g = Act::cell(a, preact<T, S>(acc, first, gx, 2, H, n));
    const reg o = Act::gate(a, preact<T, S>(acc, first, gx, 3, H, n));
    const reg c = S::fmadd(f, load_n<S>(a.c_prev + b * H + u, n), S::mul(i, g));
    store_n<S>(a.c_out + b * H + u, c, n);
    store_n<S>(a.h_out + b * a.ld_h_out + u, S::mul(o, Act::cell(a, c)), n);
    if (a.store_gates) {
      store_n<S>(gx, i, n);
      store_n<S>(gx + H, f, n);
      store_n<S>(gx + 2 * H, g, n);
      store_n<S>(gx + 3 * H, o, n);
    }
  });
}

// GRU, reset applied after the product (PyTorch/cuDNN): n = tanh(x_n + r*(W_hn h + b_hn)).
// Saved gates: r, z, n, and the hidden part W_hn h + b_hn (needed for dL/dr).
template <class T, class S, class Act>
void gru_step(const StepArgs<T>& a, int row0, int row1, int blk0, int blk1) {
  using reg = typename S::reg;
  const int H = a.H;
  // No k-split: the hidden part of n (W_hn h + b_hn) must not be summed into x_n.
  recurrent_step<T, S, 3, false>(a, a.w, row0, row1, blk0, blk1, [&](int b, int u, int n, const reg* acc, int first) {
    T* gx = a.gates + b * a.ld_gates + u;
    const reg r = Act::gate(a, preact<T, S>(acc, first, gx, 0, H, n));
    const reg z = Act::gate(a, preact<T, S>(acc, first, gx, 1, H, n));
    const reg hn = a.bias_hn ? S::add(acc[2 - first], load_n<S>(a.bias_hn + u, n)) : acc[2 - first];
    const reg nn = Act::cell(a, S::fmadd(r, hn, load_n<S>(gx + 2 * H, n)));
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    store_n<S>(a.h_out + b * a.ld_h_out + u, S::fmadd(z, S::sub(hp, nn), nn), n);
    if (a.store_gates) {
      store_n<S>(gx, r, n);
      store_n<S>(gx + H, z, n);
      store_n<S>(gx + 2 * H, nn, n);
      store_n<S>(gx + 3 * H, hn, n);
    }
  });
}

// GRU, reset applied before the product (Keras reset_after=False), first half: r and z
// (written in place of their projections) and r*h_{t-1} for the second product.
template <class T, class S, class Act>
void gru_rz_step(const StepArgs<T>& a, int row0, int row1, int blk0, int blk1) {
  using reg = typename S::reg;
  const int H = a.H;
  recurrent_step<T, S, 2>(a, a.w, row0, row1, blk0, blk1, [&](int b, int u, int n, const reg* acc, int first) {
    T* gx = a.gates + b * a.ld_gates + u;
    const reg r = Act::gate(a, preact<T, S>(acc, first, gx, 0, H, n));
    const reg z = Act::gate(a, preact<T, S>(acc, first, gx, 1, H, n));
    store_n<S>(gx, r, n);
    store_n<S>(gx + H, z, n);
    store_n<S>(a.rh_out + b * H + u, S::mul(r, load_n<S>(a.h_prev + b * a.ld_h_prev + u, n)), n);
  });
}

// Second half: n = tanh(x_n + W_hn (r*h) + b_hn), h_t = (1-z)*n + z*h_{t-1}. h_in is r*h.
template <class T, class S, class Act>
void gru_n_step(const StepArgs<T>& a, int row0, int row1, int blk0, int blk1) {
  using reg = typename S::reg;
  const int H = a.H;
  // No k-split: its one gate sits in the n slot (2H), not where partial sums would go (0).
  recurrent_step<T, S, 1, false>(a, a.w, row0, row1, blk0, blk1, [&](int b, int u, int n, const reg* acc, int) {
    T* gx = a.gates + b * a.ld_gates + u;
    reg pre = S::add(acc[0], load_n<S>(gx + 2 * H, n));
    if (a.bias_hn) pre = S::add(pre, load_n<S>(a.bias_hn + u, n));
    const reg nn = Act::cell(a, pre);
    const reg z = load_n<S>(gx + H, n);
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    store_n<S>(a.h_out + b * a.ld_h_out + u, S::fmadd(z, S::sub(hp, nn), nn), n);
    store_n<S>(gx + 2 * H, nn, n);
  });
}

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
