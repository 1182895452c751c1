// Row dot products on unpacked weights: the matrix-vector product of a streaming step and
// the narrow GEMM (a few columns).
// Compiled once per ISA by scalar.cpp / avx2.cpp / avx512.cpp (through table.h): include only
// from there.
#pragma once
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "simd.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

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

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
