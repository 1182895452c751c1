// The GEMM micro-tile over B panels packed by gemm.cpp (A packed or read in place).
// Compiled once per ISA by scalar.cpp / avx2.cpp / avx512.cpp (through table.h): include only
// from there.
#pragma once
#include <cstddef>

#include "simd.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

// ---------------------------------------------------------------------------------------
// GEMM micro-tile: MR rows x NV vectors, accumulators in registers. A k-major (KMajor): its MR
// rows contiguous at each k, the k's lda apart, A(r, k) = a[k * lda + r] (a packed panel has
// lda = MR; a transposed matrix read in place, its leading dimension); or row-major, read in
// place: A(r, k) = a[r * lda + k].
// ---------------------------------------------------------------------------------------
template <class T, class S, int MR, int NV, bool KMajor = true>
void gemm_tile(int kc, const T* a, std::ptrdiff_t lda, const T* b, T* c, std::ptrdiff_t ldc, int rows, int cols,
               bool overwrite, const T* bias) {
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
      const reg av = S::set1(KMajor ? a[k * lda + r] : a[r * lda + k]);
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

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
