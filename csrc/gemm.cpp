#include "gemm.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "parallel.h"

namespace pyrnn {
namespace {
constexpr int kKC = 256;  // depth of a packed block: an A panel and a B strip stay in L1
constexpr int kMC = 96;   // rows of A per task (a multiple of every micro-tile height)
constexpr int kNC = 256;  // columns of B per task: a kKC x kNC block stays in L2

inline int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }
}  // namespace

template <class T>
void PackedB<T>::pack(int K_, int N_, const T* b, std::ptrdiff_t rsb, std::ptrdiff_t csb) {
  K = K_;
  N = N_;
  nr = kernels<T>().gemm_nr;
  const int strips = ceil_div(N, nr);
  const std::size_t npad = static_cast<std::size_t>(strips) * nr;
  data.resize(npad * static_cast<std::size_t>(K));
  const int kblocks = ceil_div(K, kKC);
  parallel_for(kblocks * strips, [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t) {
      const int kb = t / strips, s = t % strips;
      const int k0 = kb * kKC, kc = std::min(kKC, K - k0);
      T* dst = data.data() + k0 * npad + static_cast<std::size_t>(s) * kc * nr;
      for (int k = 0; k < kc; ++k)
        for (int j = 0; j < nr; ++j) {
          const int col = s * nr + j;
          dst[k * nr + j] = col < N ? b[(k0 + k) * rsb + col * csb] : T(0);
        }
    }
  });
}

template <class T>
void gemm(int M, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const PackedB<T>& b, T* c, std::ptrdiff_t ldc,
          bool accumulate) {
  const int N = b.N, K = b.K;
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    if (!accumulate)
      for (int i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, T(0));
    return;
  }
  const Kernels<T>& kern = kernels<T>();
  const int MR = kern.gemm_mr, NR = kern.gemm_nr;
  const int strips = ceil_div(N, NR), kblocks = ceil_div(K, kKC), mblocks = ceil_div(M, kMC);
  const std::size_t npad = static_cast<std::size_t>(strips) * NR;
  // Tasks are (row block, run of strips); split strips finer when rows alone can't feed the pool.
  int per_chunk = std::max(1, kNC / NR);
  const int threads = get_num_threads();
  if (mblocks * ceil_div(strips, per_chunk) < threads) per_chunk = std::max(1, ceil_div(strips, ceil_div(threads, mblocks)));
  const int chunks = ceil_div(strips, per_chunk);

  parallel_for(mblocks * chunks, [&](int t0, int t1) {
    thread_local AlignedVector<T> apack;
    apack.resize(static_cast<std::size_t>(kMC + MR) * kKC);
    for (int t = t0; t < t1; ++t) {
      const int i0 = (t / chunks) * kMC, mc = std::min(kMC, M - i0);
      const int s0 = (t % chunks) * per_chunk, s1 = std::min(strips, s0 + per_chunk);
      const int panels = ceil_div(mc, MR);
      for (int kb = 0; kb < kblocks; ++kb) {
        const int k0 = kb * kKC, kc = std::min(kKC, K - k0);
        for (int p = 0; p < panels; ++p) {
          T* ap = apack.data() + static_cast<std::size_t>(p) * kc * MR;
          for (int k = 0; k < kc; ++k)
            for (int r = 0; r < MR; ++r) {
              const int row = i0 + p * MR + r;
              ap[k * MR + r] = row < M ? a[row * rsa + (k0 + k) * csa] : T(0);
            }
        }
        const bool overwrite = kb == 0 && !accumulate;
        for (int s = s0; s < s1; ++s) {
          const T* bp = b.data.data() + k0 * npad + static_cast<std::size_t>(s) * kc * NR;
          const int cols = std::min(NR, N - s * NR);
          for (int p = 0; p < panels; ++p) {
            const int row = i0 + p * MR;
            kern.gemm_tile(kc, apack.data() + static_cast<std::size_t>(p) * kc * MR, bp, c + row * ldc + s * NR, ldc,
                           std::min(MR, M - row), cols, overwrite);
          }
        }
      }
    }
  });
}

template <class T>
void gemm(int M, int N, int K, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const T* b, std::ptrdiff_t rsb,
          std::ptrdiff_t csb, T* c, std::ptrdiff_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  PackedB<T> packed;
  packed.pack(K, N, b, rsb, csb);
  gemm(M, a, rsa, csa, packed, c, ldc, accumulate);
}

#define PYRNN_INSTANTIATE_GEMM(T)                                                                                      \
  template struct PackedB<T>;                                                                                          \
  template void gemm<T>(int, const T*, std::ptrdiff_t, std::ptrdiff_t, const PackedB<T>&, T*, std::ptrdiff_t, bool); \
  template void gemm<T>(int, int, int, const T*, std::ptrdiff_t, std::ptrdiff_t, const T*, std::ptrdiff_t,            \
                        std::ptrdiff_t, T*, std::ptrdiff_t, bool);
PYRNN_INSTANTIATE_GEMM(float)
PYRNN_INSTANTIATE_GEMM(double)

}  // namespace pyrnn
