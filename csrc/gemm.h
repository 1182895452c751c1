// Packed, blocked GEMM over the active ISA's micro-tile: C[M,N] (+)= A[M,K] · B[K,N] with
// arbitrary strides, A(i,k) = a[i*rsa + k*csa], B(k,j) = b[k*rsb + j*csb], so transposes
// are free. Every C element is one task's, summed over k in a fixed order: the result does
// not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "aligned.h"

namespace pyrnn {

// B packed once into k-blocks of column strips (the micro-tile's nr wide), for reuse
// across many products (weights inside the time loop).
template <class T>
struct PackedB {
  int K = 0, N = 0, nr = 0;
  AlignedVector<T> data;
  void pack(int K, int N, const T* b, std::ptrdiff_t rsb, std::ptrdiff_t csb);
};

// bias (N values, or null): with accumulate false, C = A·B + bias in every row, in the same
// order of additions as C filled with bias and then accumulated into.
template <class T>
void gemm(int M, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const PackedB<T>& b, T* c, std::ptrdiff_t ldc,
          bool accumulate, const T* bias = nullptr);

// Elements of T gemm() calls allocate for themselves, an upper bound (for the drivers' scratch
// sizes): B packed, freed when the call returns (none when given packed); A's panels, a block per
// thread or, for few rows, all of A, in thread_local buffers that only grow. So over a sequence
// of calls the most at once is the largest of each: add() keeps those.
struct GemmScratch {
  std::size_t transient = 0, a_blocks = 0, shared_a = 0;
  GemmScratch& add(const GemmScratch& o) {
    transient = std::max(transient, o.transient);
    a_blocks = std::max(a_blocks, o.a_blocks);
    shared_a = std::max(shared_a, o.shared_a);
    return *this;
  }
  std::size_t total() const { return transient + a_blocks + shared_a; }
};
template <class T>
GemmScratch gemm_scratch(int M, int N, int K, bool b_packed = false);
// Elements of a PackedB<T> of B [K, N].
template <class T>
std::size_t packed_b_size(int K, int N);

template <class T>
void gemm(int M, int N, int K, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const T* b, std::ptrdiff_t rsb,
          std::ptrdiff_t csb, T* c, std::ptrdiff_t ldc, bool accumulate, const T* bias = nullptr);

}  // namespace pyrnn
