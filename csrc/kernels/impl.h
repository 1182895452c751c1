// Kernel templates, written once over the Simd<T> wrapper (simd.h) and compiled once per
// ISA by scalar.cpp / avx2.cpp / avx512.cpp. Include only from those files.
#pragma once
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels.h"
#include "simd.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

// The activations are inlined into every epilogue, where the rows of a tile give independent
// chains for the out-of-order core to overlap; a call per vector would serialise them.
#define PYRNN_INLINE inline __attribute__((always_inline))

// ---------------------------------------------------------------------------------------
// Activations, by range reduction: exp(x) = 2^n e^r with n = round(x/ln2), r = x - n ln2 taken
// in two parts (Cody-Waite, so r is exact), |r| <= ln2/2, and e^r by its Taylor polynomial:
// degree 7 for float (truncation below 6e-9 relative), degree 13 for double (below 5e-18).
// tanh near zero, where 1 - 2/(e^{2|x|} + 1) would cancel: float uses tanh's own odd series to
// x^15 (|x| < 0.5, truncation below 1e-8 relative); double uses expm1(2x)/(expm1(2x) + 2) with
// expm1 by its degree-16 series (|x| < 0.3). The bounds are tested against libm
// (tests/test_kernels.py: float 2.4e-7, double 1e-15 relative). Clamps put x second in min/max,
// which return their second operand for NaN, so NaN propagates.
// ---------------------------------------------------------------------------------------
template <class S>
PYRNN_INLINE typename S::reg exp_f32(typename S::reg x) {
  using reg = typename S::reg;
  x = S::min(S::set1(88.3f), S::max(S::set1(-87.3f), x));
  const reg n = S::round(S::mul(x, S::set1(1.44269504088896341f)));
  reg r = S::fmadd(n, S::set1(-0.693359375f), x);  // ln2 = 0.693359375 - 2.12194440e-4
  r = S::fmadd(n, S::set1(2.12194440e-4f), r);
  reg p = S::set1(1.0f / 5040);
  p = S::fmadd(p, r, S::set1(1.0f / 720));
  p = S::fmadd(p, r, S::set1(1.0f / 120));
  p = S::fmadd(p, r, S::set1(1.0f / 24));
  p = S::fmadd(p, r, S::set1(1.0f / 6));
  p = S::fmadd(p, r, S::set1(0.5f));
  p = S::fmadd(p, r, S::set1(1.0f));
  p = S::fmadd(p, r, S::set1(1.0f));
  return S::mul(p, S::pow2i(n));
}

// sum_{k=first}^{last} r^k / k!, by Horner (first is 0 or 1).
template <class S>
PYRNN_INLINE typename S::reg taylor_exp_f64(typename S::reg r, int first, int last) {
  double coef[17];
  coef[0] = 1.0;
  for (int k = 1; k <= last; ++k) coef[k] = coef[k - 1] / k;
  typename S::reg p = S::set1(coef[last]);
  for (int k = last - 1; k >= first; --k) p = S::fmadd(p, r, S::set1(coef[k]));
  return first == 1 ? S::mul(p, r) : p;
}

template <class S>
PYRNN_INLINE typename S::reg exp_f64(typename S::reg x) {
  using reg = typename S::reg;
  x = S::min(S::set1(709.0), S::max(S::set1(-708.0), x));
  const reg n = S::round(S::mul(x, S::set1(1.4426950408889634074)));
  reg r = S::fmadd(n, S::set1(-6.93147180369123816490e-01), x);  // ln2 = hi + lo, hi has 32 bits
  r = S::fmadd(n, S::set1(-1.90821492927058770002e-10), r);
  return S::mul(taylor_exp_f64<S>(r, 0, 13), S::pow2i(n));
}

template <class S>
PYRNN_INLINE typename S::reg vsigmoid(typename S::reg x) {
  // 1/(1 + e^-x): no cancellation anywhere, a few ulp relative.
  using T = typename S::value_type;
  const auto one = S::set1(T(1));
  const auto e = std::is_same_v<T, double> ? exp_f64<S>(S::sub(S::zero(), x)) : exp_f32<S>(S::sub(S::zero(), x));
  return S::div(one, S::add(one, e));
}

template <class S>
PYRNN_INLINE typename S::reg vtanh(typename S::reg x) {
  using reg = typename S::reg;
  using T = typename S::value_type;
  const reg a = S::abs(x);
  const reg one = S::set1(T(1)), two = S::set1(T(2));
  if constexpr (std::is_same_v<T, double>) {
    const reg big = S::copysign(S::sub(one, S::div(two, S::add(exp_f64<S>(S::add(a, a)), one))), x);
    const reg em = taylor_exp_f64<S>(S::add(x, x), 1, 16);  // expm1(2x), |2x| < 0.6
    const reg small = S::div(em, S::add(em, two));
    return S::select_lt(a, S::set1(0.3), small, big);
  } else {
    const reg e = exp_f32<S>(S::add(a, a));
    const reg big = S::copysign(S::sub(one, S::div(two, S::add(e, one))), x);
    const reg x2 = S::mul(x, x);
    reg p = S::set1(-929569.0f / 638512875.0f);
    p = S::fmadd(p, x2, S::set1(21844.0f / 6081075.0f));
    p = S::fmadd(p, x2, S::set1(-1382.0f / 155925.0f));
    p = S::fmadd(p, x2, S::set1(62.0f / 2835.0f));
    p = S::fmadd(p, x2, S::set1(-17.0f / 315.0f));
    p = S::fmadd(p, x2, S::set1(2.0f / 15.0f));
    p = S::fmadd(p, x2, S::set1(-1.0f / 3.0f));
    const reg small = S::fmadd(S::mul(p, x2), x, x);
    return S::select_lt(a, S::set1(0.5f), small, big);
  }
}

template <class S>
inline typename S::reg vrelu(typename S::reg x) {
  return S::max(S::zero(), x);  // NaN stays NaN, as in torch.relu
}

template <class T, class S, class F>
void apply_inplace(T* x, std::ptrdiff_t n, F f) {
  std::ptrdiff_t i = 0;
  for (; i + S::W <= n; i += S::W) S::store(x + i, f(S::load(x + i)));
  if (i < n) store_n<S>(x + i, f(load_n<S>(x + i, static_cast<int>(n - i))), static_cast<int>(n - i));
}

// ---------------------------------------------------------------------------------------
// Matrix-vector products on unpacked row-major weights, for single steps at batch 1 or 2
// (streaming cells), where packing the weights would cost more than the product.
// ---------------------------------------------------------------------------------------
template <class S, class = void>
struct has_reduce_lanes : std::false_type {};
template <class S>
struct has_reduce_lanes<S, std::void_t<decltype(S::reduce_lanes(nullptr))>> : std::true_type {};

// Lane i = sum of the lanes of v[i], i < W.
template <class T, class S>
inline typename S::reg reduce_lanes(const typename S::reg* v) {
  if constexpr (has_reduce_lanes<S>::value) {
    return S::reduce_lanes(v);
  } else {
    alignas(64) T lanes[S::W][S::W];
    alignas(64) T sums[S::W];
    for (int i = 0; i < S::W; ++i) S::store(lanes[i], v[i]);
    for (int i = 0; i < S::W; ++i) {
      T total = lanes[i][0];
      for (int j = 1; j < S::W; ++j) total += lanes[i][j];
      sums[i] = total;
    }
    return S::load(sums);
  }
}

// Lane i (< n rows) = dot(w[i*ldw : i*ldw + K], v); lanes past n are zero.
template <class T, class S>
inline typename S::reg rowdot(const T* w, std::ptrdiff_t ldw, int n, const T* v, int K) {
  using reg = typename S::reg;
  reg acc[S::W];
  for (int i = 0; i < S::W; ++i) acc[i] = S::zero();
  int k = 0;
  for (; k + S::W <= K; k += S::W) {
    const reg vv = S::load(v + k);
    if (n == S::W) {
      for (int i = 0; i < S::W; ++i) acc[i] = S::fmadd(S::load(w + i * ldw + k), vv, acc[i]);
    } else {
      for (int i = 0; i < n; ++i) acc[i] = S::fmadd(S::load(w + i * ldw + k), vv, acc[i]);
    }
  }
  if (k < K) {
    const int rest = K - k;
    const reg vv = load_n<S>(v + k, rest);
    for (int i = 0; i < n; ++i) acc[i] = S::fmadd(load_n<S>(w + i * ldw + k, rest), vv, acc[i]);
  }
  return reduce_lanes<T, S>(acc);
}

// y[j] (+)= dot(w[j, :K], v) for rows j < rows.
template <class T, class S>
void matvec(const T* w, std::ptrdiff_t ldw, int rows, int K, const T* v, T* y, bool accumulate) {
  for (int j = 0; j < rows; j += S::W) {
    const int n = std::min(S::W, rows - j);
    typename S::reg r = rowdot<T, S>(w + j * ldw, ldw, n, v, K);
    if (accumulate) r = S::add(r, load_n<S>(y + j, n));
    store_n<S>(y + j, r, n);
  }
}

// ---------------------------------------------------------------------------------------
// C[M, N] (+)= A[M, K] · B[K, N] for a few columns (the input-side gradients of a layer with
// one or two input features), where a packed GEMM tile would compute its full width for each.
// A(i, k) = a[i*rsa + k*csa], B(k, j) = b[k*rsb + j*csb]. Rows of A contiguous (csa = 1): dot
// products along k; else its columns must be (rsa = 1): a block of C's column summed along k.
// ---------------------------------------------------------------------------------------
template <class T, class S>
void gemm_narrow(int M, int N, int K, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const T* b,
                 std::ptrdiff_t rsb, std::ptrdiff_t csb, T* c, std::ptrdiff_t ldc, bool accumulate) {
  using reg = typename S::reg;
  constexpr int V = 4;  // vectors of C per block in the column-sum form
  alignas(64) T lanes[V * S::W];
  const auto write = [&](int i0, int rows, int j) {  // C's column j is strided: lane by lane
    for (int r = 0; r < rows; ++r) {
      T* p = c + (i0 + r) * ldc + j;
      *p = accumulate ? *p + lanes[r] : lanes[r];
    }
  };
  std::vector<T> column(static_cast<std::size_t>(K));
  for (int j = 0; j < N; ++j) {
    for (int k = 0; k < K; ++k) column[k] = b[k * rsb + j * csb];
    if (csa == 1) {
      for (int i0 = 0; i0 < M; i0 += S::W) {
        const int rows = std::min(S::W, M - i0);
        S::store(lanes, rowdot<T, S>(a + i0 * rsa, rsa, rows, column.data(), K));
        write(i0, rows, j);
      }
    } else {  // rsa == 1
      for (int i0 = 0; i0 < M; i0 += V * S::W) {
        const int rows = std::min(V * S::W, M - i0);
        reg acc[V];
        for (int v = 0; v < V; ++v) acc[v] = S::zero();
        for (int k = 0; k < K; ++k) {
          const reg bk = S::set1(column[k]);
          const T* ak = a + k * csa + i0;
          if (rows == V * S::W) {
            for (int v = 0; v < V; ++v) acc[v] = S::fmadd(bk, S::load(ak + v * S::W), acc[v]);
          } else {
            for (int v = 0; v * S::W < rows; ++v)
              acc[v] = S::fmadd(bk, load_n<S>(ak + v * S::W, std::min(S::W, rows - v * S::W)), acc[v]);
          }
        }
        for (int v = 0; v < V; ++v) S::store(lanes + v * S::W, acc[v]);
        write(i0, rows, j);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// GEMM micro-tile: MR rows x NV vectors, accumulators in registers.
// ---------------------------------------------------------------------------------------
template <class T, class S, int MR, int NV>
void gemm_tile(int kc, const T* a, const T* b, T* c, std::ptrdiff_t ldc, int rows, int cols, bool overwrite,
               const T* bias) {
  using reg = typename S::reg;
  constexpr int NR = NV * S::W;
  reg acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = S::zero();
  // C's rows are far apart and seldom cached (a large C is written once per k-block): fetch
  // them now so the misses overlap the k loop instead of stalling the update after it.
  for (int r = 0; r < rows; ++r) {
    __builtin_prefetch(c + r * ldc, 1);
    __builtin_prefetch(c + r * ldc + cols - 1, 1);
  }
  for (int k = 0; k < kc; ++k) {
    reg bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + k * NR + v * S::W);
    for (int r = 0; r < MR; ++r) {
      const reg av = S::set1(a[k * MR + r]);
      for (int v = 0; v < NV; ++v) acc[r][v] = S::fmadd(av, bv[v], acc[r][v]);
    }
  }
  // The product is added to what C holds, or with overwrite to the bias (the same sum as a C
  // filled with the bias first, without that pass over C) or to nothing.
  if (rows == MR && cols == NR) {
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) {
        T* p = c + r * ldc + v * S::W;
        if (!overwrite) S::store(p, S::add(S::load(p), acc[r][v]));
        else S::store(p, bias ? S::add(S::load(bias + v * S::W), acc[r][v]) : acc[r][v]);
      }
    return;
  }
  alignas(64) T tile[MR * NR];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) S::store(tile + r * NR + v * S::W, acc[r][v]);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) {
      T* p = c + r * ldc + j;
      *p = overwrite ? (bias ? bias[j] + tile[r * NR + j] : tile[r * NR + j]) : *p + tile[r * NR + j];
    }
}

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
  auto step = [&](int k, reg (&sum)[R][GP]) {
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
                           Epi& epi) {
  constexpr int R = rows_per_tile<S>(GP);
  const bool one_tile = a.B <= R;  // a.B: all of the step's rows, whichever of them this call runs
  int r0 = row0;
  for (; r0 + R <= row1; r0 += R) {
    typename S::reg acc[R][GP];
    recurrent_tile<T, S, G, GP, G0, R>(wb, K, h + r0 * a.ld_h_in, a.ld_h_in, acc, one_tile);
    for (int r = 0; r < R; ++r) epi(r0 + r, u, n, acc[r], G0);
  }
  if (r0 < row1) recurrent_tail<T, S, G, GP, G0, R - 1>(row1 - r0, r0, wb, K, h, a.ld_h_in, u, n, one_tile, epi);
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
                        Epi& epi) {
  using reg = typename S::reg;
  if constexpr (G0 + GP < G) {
    auto partial = [&](int b, int, int, const reg* acc, int) { add_partial<T, S>(a, b, u, n, acc, G0, GP); };
    recurrent_rows<T, S, G, GP, G0>(a, wb, h, K, row0, row1, u, n, partial);
    gate_passes<T, S, G, GP, G0 + GP>(a, wb, h, K, row0, row1, u, n, epi);
  } else {
    recurrent_rows<T, S, G, G - G0, G0>(a, wb, h, K, row0, row1, u, n, epi);
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
  for (int c0 = row0; c0 < row1; c0 += kRowChunk) {
    const int c1 = std::min(row1, c0 + kRowChunk);
    for (int blk = blk0; blk < blk1; ++blk) {
      const T* wb = w + static_cast<std::ptrdiff_t>(blk) * K * G * S::W;
      const int u = blk * S::W, n = std::min(S::W, a.H - u);
      auto run = [&](int k0, int depth, auto& e) {
        const T* wk = wb + static_cast<std::ptrdiff_t>(k0) * G * S::W;
        constexpr int GP = gates_per_pass<S>(G);
        if (GP < G && a.B <= rows_per_tile<S>(G))  // a few rows: all gates fit in one pass
          gate_passes<T, S, G, G, 0>(a, wk, a.h_in + k0, depth, c0, c1, u, n, e);
        else
          gate_passes<T, S, G, GP, 0>(a, wk, a.h_in + k0, depth, c0, c1, u, n, e);
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

template <class S>
PYRNN_INLINE typename S::reg vhard_sigmoid(typename S::reg x) {  // relu6(x + 3) / 6, as Keras 3
  using T = typename S::value_type;
  const typename S::reg six = S::set1(T(6));
  return S::div(S::min(six, S::max(S::zero(), S::add(x, S::set1(T(3))))), six);
}

template <class S, Activation Act>
PYRNN_INLINE typename S::reg activate(typename S::reg x) {
  if constexpr (Act == Activation::tanh) return vtanh<S>(x);
  if constexpr (Act == Activation::relu) return vrelu<S>(x);
  if constexpr (Act == Activation::sigmoid) return vsigmoid<S>(x);
  if constexpr (Act == Activation::linear) return x;
  if constexpr (Act == Activation::hard_sigmoid) return vhard_sigmoid<S>(x);
}

// act'(a) from h = act(a): tanh 1 - h^2, relu [h > 0], sigmoid h(1 - h), linear 1,
// hard_sigmoid [0 < h < 1]/6; times dh.
template <class S, Activation Act>
PYRNN_INLINE typename S::reg activation_grad(typename S::reg h, typename S::reg dh) {
  using T = typename S::value_type;
  const typename S::reg one = S::set1(T(1));
  if constexpr (Act == Activation::tanh) return S::mul(dh, S::sub(one, S::mul(h, h)));
  if constexpr (Act == Activation::relu) return S::positive_mask(h, dh);
  if constexpr (Act == Activation::sigmoid) return S::mul(dh, S::mul(h, S::sub(one, h)));
  if constexpr (Act == Activation::linear) return dh;
  if constexpr (Act == Activation::hard_sigmoid)
    return S::positive_mask(h, S::positive_mask(S::sub(one, h), S::div(dh, S::set1(T(6)))));
}

// The activations of a gated cell (GRU, LSTM): `gate` for its gates (Keras recurrent_activation),
// `cell` for its candidate and LSTM's output (Keras activation), and their derivatives from
// the activated values. Fixed at compile time, or (Chosen) read from the arguments.
template <class S, Activation Gate, Activation Cell>
struct FixedActivations {
  using reg = typename S::reg;
  template <class A> static PYRNN_INLINE reg gate(const A&, reg x) { return activate<S, Gate>(x); }
  template <class A> static PYRNN_INLINE reg cell(const A&, reg x) { return activate<S, Cell>(x); }
  template <class A> static PYRNN_INLINE reg gate_grad(const A&, reg y, reg d) { return activation_grad<S, Gate>(y, d); }
  template <class A> static PYRNN_INLINE reg cell_grad(const A&, reg y, reg d) { return activation_grad<S, Cell>(y, d); }
};

template <class S>
struct ChosenActivations {
  using reg = typename S::reg;
  static PYRNN_INLINE reg apply(Activation act, reg x) {
    switch (act) {
      case Activation::tanh: return activate<S, Activation::tanh>(x);
      case Activation::relu: return activate<S, Activation::relu>(x);
      case Activation::sigmoid: return activate<S, Activation::sigmoid>(x);
      case Activation::hard_sigmoid: return activate<S, Activation::hard_sigmoid>(x);
      default: return x;
    }
  }
  static PYRNN_INLINE reg grad(Activation act, reg y, reg d) {
    switch (act) {
      case Activation::tanh: return activation_grad<S, Activation::tanh>(y, d);
      case Activation::relu: return activation_grad<S, Activation::relu>(y, d);
      case Activation::sigmoid: return activation_grad<S, Activation::sigmoid>(y, d);
      case Activation::hard_sigmoid: return activation_grad<S, Activation::hard_sigmoid>(y, d);
      default: return d;
    }
  }
  template <class A> static PYRNN_INLINE reg gate(const A& a, reg x) { return apply(a.gate_act, x); }
  template <class A> static PYRNN_INLINE reg cell(const A& a, reg x) { return apply(a.cell_act, x); }
  template <class A> static PYRNN_INLINE reg gate_grad(const A& a, reg y, reg d) { return grad(a.gate_act, y, d); }
  template <class A> static PYRNN_INLINE reg cell_grad(const A& a, reg y, reg d) { return grad(a.cell_act, y, d); }
};

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

// ---------------------------------------------------------------------------------------
// Backward, one step, elementwise over whole rows. dh = grad_out + dh_rec.
// ---------------------------------------------------------------------------------------
template <class T, class S, class F>
inline void for_each_row_block(const BackArgs<T>& a, int r0, int r1, F f) {
  for (int b = r0; b < r1; ++b)
    for (int u = 0; u < a.H; u += S::W) f(b, u, std::min(S::W, a.H - u));
}

template <class T, class S>
inline typename S::reg total_dh(const BackArgs<T>& a, int b, int u, int n) {
  const typename S::reg d = load_n<S>(a.grad_out + b * a.H + u, n);
  return a.dh_rec ? S::add(d, load_n<S>(a.dh_rec + b * a.H + u, n)) : d;
}

template <class T, class S, Activation Act>
void rnn_back(const BackArgs<T>& a, int r0, int r1) {
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    const typename S::reg h = load_n<S>(a.h + b * a.ld_h + u, n);
    store_n<S>(a.gates + b * a.ld_gates + u, activation_grad<S, Act>(h, total_dh<T, S>(a, b, u, n)), n);
  });
}

template <class T, class S, class Act>
void lstm_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg i = load_n<S>(gp, n), f = load_n<S>(gp + H, n), g = load_n<S>(gp + 2 * H, n), o = load_n<S>(gp + 3 * H, n);
    const reg dh = total_dh<T, S>(a, b, u, n);
    const reg ac = Act::cell(a, load_n<S>(a.c + b * H + u, n));  // act(c_t), h_t = o act(c_t)
    // dc_t = dc_{t+1} f_{t+1} (carried) + dh o act'(c_t)
    const reg dc = S::add(Act::cell_grad(a, ac, S::mul(dh, o)), load_n<S>(a.dc + b * H + u, n));
    const reg cp = load_n<S>(a.c_prev + b * H + u, n);
    store_n<S>(a.dc + b * H + u, S::mul(dc, f), n);
    store_n<S>(gp, Act::gate_grad(a, i, S::mul(dc, g)), n);
    store_n<S>(gp + H, Act::gate_grad(a, f, S::mul(dc, cp)), n);
    store_n<S>(gp + 2 * H, Act::cell_grad(a, g, S::mul(dc, i)), n);
    store_n<S>(gp + 3 * H, Act::gate_grad(a, o, S::mul(dh, ac)), n);
  });
}

// Saved [r, z, n, hn] become [dr, dz, dn*r, dn] (pre-activation): the first three are the
// gradient of the recurrent product W_hh h + b_hh, the last with dr, dz that of the input one.
template <class T, class S, class Act>
void gru_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  const reg one = S::set1(T(1));
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg r = load_n<S>(gp, n), z = load_n<S>(gp + H, n), nn = load_n<S>(gp + 2 * H, n), hn = load_n<S>(gp + 3 * H, n);
    const reg dh = total_dh<T, S>(a, b, u, n);
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    store_n<S>(a.dh_prev + b * H + u, S::mul(dh, z), n);
    const reg dn = Act::cell_grad(a, nn, S::mul(dh, S::sub(one, z)));
    const reg dz = Act::gate_grad(a, z, S::mul(dh, S::sub(hp, nn)));
    const reg dr = Act::gate_grad(a, r, S::mul(dn, hn));
    store_n<S>(gp, dr, n);
    store_n<S>(gp + H, dz, n);
    store_n<S>(gp + 2 * H, S::mul(dn, r), n);
    store_n<S>(gp + 3 * H, dn, n);
  });
}

// GRU reset-before, phase 1: [r, z, n] -> [r, dz, dn]; dh_prev = dh*z; dh kept for phase 2.
template <class T, class S, class Act>
void gru_zn_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  const reg one = S::set1(T(1));
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg z = load_n<S>(gp + H, n), nn = load_n<S>(gp + 2 * H, n);
    const reg dh = total_dh<T, S>(a, b, u, n);
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    store_n<S>(a.dh_prev + b * H + u, S::mul(dh, z), n);
    store_n<S>(gp + H, Act::gate_grad(a, z, S::mul(dh, S::sub(hp, nn))), n);
    store_n<S>(gp + 2 * H, Act::cell_grad(a, nn, S::mul(dh, S::sub(one, z))), n);
  });
}

// Phase 2, given d(r*h) = dn · W_hn: [r] -> [dr]; dh_prev += d(r*h) * r.
template <class T, class S, class Act>
void gru_r_back(const BackArgs<T>& a, int r0, int r1) {
  using reg = typename S::reg;
  const int H = a.H;
  for_each_row_block<T, S>(a, r0, r1, [&](int b, int u, int n) {
    T* gp = a.gates + b * a.ld_gates + u;
    const reg r = load_n<S>(gp, n);
    const reg drh = load_n<S>(a.d_rh + b * H + u, n);
    const reg hp = load_n<S>(a.h_prev + b * a.ld_h_prev + u, n);
    T* dhp = a.dh_prev + b * H + u;
    store_n<S>(dhp, S::fmadd(drh, r, load_n<S>(dhp, n)), n);
    store_n<S>(gp, Act::gate_grad(a, r, S::mul(drh, hp)), n);
  });
}

template <class T, class S, class Act>
typename Kernels<T>::Gated gated_kernels() {
  return {&lstm_step<T, S, Act>, &gru_step<T, S, Act>, &gru_rz_step<T, S, Act>, &gru_n_step<T, S, Act>,
          &lstm_back<T, S, Act>, &gru_back<T, S, Act>, &gru_zn_back<T, S, Act>, &gru_r_back<T, S, Act>};
}

// ---------------------------------------------------------------------------------------
template <class T, int MR, int NV>
Kernels<T> make_kernels(const char* isa) {
  using S = Simd<T>;
  Kernels<T> k{};
  k.isa = isa;
  k.gemm_mr = MR;
  k.gemm_nr = NV * S::W;
  k.gemm_tile = &gemm_tile<T, S, MR, NV>;
  k.gemm_narrow = &gemm_narrow<T, S>;
  k.unit_block = S::W;
  k.pack_recurrent = &pack_recurrent<T, S>;
  k.rnn_step[0] = &rnn_step<T, S, Activation::tanh>;
  k.rnn_step[1] = &rnn_step<T, S, Activation::relu>;
  k.rnn_step[2] = &rnn_step<T, S, Activation::sigmoid>;
  k.rnn_step[3] = &rnn_step<T, S, Activation::linear>;
  k.rnn_back[0] = &rnn_back<T, S, Activation::tanh>;
  k.rnn_back[1] = &rnn_back<T, S, Activation::relu>;
  k.rnn_back[2] = &rnn_back<T, S, Activation::sigmoid>;
  k.rnn_back[3] = &rnn_back<T, S, Activation::linear>;
  k.gated[0] = gated_kernels<T, S, FixedActivations<S, Activation::sigmoid, Activation::tanh>>();
  k.gated[1] = gated_kernels<T, S, ChosenActivations<S>>();
  k.matvec = &matvec<T, S>;
  k.tanh = [](T* x, std::ptrdiff_t n) { apply_inplace<T, S>(x, n, [](typename S::reg v) { return vtanh<S>(v); }); };
  k.sigmoid = [](T* x, std::ptrdiff_t n) { apply_inplace<T, S>(x, n, [](typename S::reg v) { return vsigmoid<S>(v); }); };
  return k;
}

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
