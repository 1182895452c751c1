#include "gemm.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "parallel.h"

namespace pyrnn {
namespace {
constexpr int kKC = 256;  // depth of a k-block: an A panel and a B strip stay in L1
constexpr int kMC = 144;  // rows of A per task, packed into L2 (a multiple of every tile height)
// Below this much work (flops, or elements to pack) the pool costs more than it saves.
constexpr double kParallelGemmFlops = 4e5;
constexpr double kParallelPackElements = 1 << 16;
// An A times at most this many strips of B is read in place by the tile: packing it would cost
// about as much as the few passes over it (the backward products of thin layers: dG·W_ih and
// the weight gradients dG^T·X). A last, partial panel (fewer than mr rows: the tile reads all
// mr) is packed, as is an A whose elements are contiguous in neither direction.
constexpr int kInPlaceStrips = 2;


inline int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

// The A buffers' sizes, in elements: gemm() allocates with these and gemm_scratch() reports them.
std::size_t a_block_elements(int MR) { return static_cast<std::size_t>(kMC + MR) * kKC; }  // per thread
std::size_t shared_a_elements(int M, int K, int MR) {  // all of A, for few rows
  return static_cast<std::size_t>(ceil_div(M, MR)) * MR * kKC * ceil_div(K, kKC);
}
bool parallel_gemm(int M, int N, int K) { return 2.0 * M * N * K >= kParallelGemmFlops; }
// A few columns: a tile would be mostly padding (the unpacked narrow kernel instead).
bool narrow_gemm(int N, int K, int nr) { return N * 4 <= nr && K > 0; }
}  // namespace

template <class T>
std::size_t packed_b_size(int K, int N) {
  const int nr = kernels<T>().gemm_nr;
  return static_cast<std::size_t>(ceil_div(N, nr)) * nr * K;
}

template <class T>
GemmScratch gemm_scratch(int M, int N, int K, bool b_packed) {
  GemmScratch s;
  if (M <= 0 || N <= 0 || K <= 0) return s;
  const Kernels<T>& kern = kernels<T>();
  const std::size_t threads = get_num_threads();  // the most that can take part
  if (!b_packed && narrow_gemm(N, K, kern.gemm_nr)) {
    s.transient = threads * K;  // the narrow kernel's copy of a column of B, per task
    return s;
  }
  if (!b_packed) s.transient = packed_b_size<T>(K, N);
  // Either branch of gemm() may be taken (it depends on the thread count and on M): both.
  s.a_blocks = threads * a_block_elements(kern.gemm_mr);
  s.shared_a = shared_a_elements(M, K, kern.gemm_mr);
  return s;
}

template <class T>
void PackedB<T>::pack(int K_, int N_, const T* b, std::ptrdiff_t rsb, std::ptrdiff_t csb) {
  K = K_;
  N = N_;
  nr = kernels<T>().gemm_nr;
  const int strips = ceil_div(N, nr);
  const std::size_t npad = static_cast<std::size_t>(strips) * nr;
  data.resize(packed_b_size<T>(K, N));
  const int kblocks = ceil_div(K, kKC);
  maybe_parallel(static_cast<double>(K) * N >= kParallelPackElements, kblocks * strips, [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t) {
      const int kb = t / strips, s = t % strips;
      const int k0 = kb * kKC, kc = std::min(kKC, K - k0);
      T* dst = data.data() + k0 * npad + static_cast<std::size_t>(s) * kc * nr;
      const int cols = std::min(nr, N - s * nr);
      const T* src = b + k0 * rsb + static_cast<std::ptrdiff_t>(s) * nr * csb;
      if (cols < nr) std::fill(dst, dst + static_cast<std::size_t>(kc) * nr, T(0));
      if (csb == 1) {  // row-major B: each k's strip is a contiguous run
        for (int k = 0; k < kc; ++k)
          for (int j = 0; j < cols; ++j) dst[k * nr + j] = src[k * rsb + j];
      } else {
        for (int j = 0; j < cols; ++j)  // read along B's contiguous direction when it is k
          for (int k = 0; k < kc; ++k) dst[k * nr + j] = src[k * rsb + j * csb];
      }
    }
  });
}

template <class T>
void gemm(int M, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const PackedB<T>& b, T* c, std::ptrdiff_t ldc,
          bool accumulate, const T* bias) {
  const int N = b.N, K = b.K;
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    if (!accumulate)
      for (int i = 0; i < M; ++i) {
        if (bias) std::copy(bias, bias + N, c + i * ldc);
        else std::fill(c + i * ldc, c + i * ldc + N, T(0));
      }
    return;
  }
  const Kernels<T>& kern = kernels<T>();
  const int MR = kern.gemm_mr, NR = kern.gemm_nr;
  const int strips = ceil_div(N, NR), kblocks = ceil_div(K, kKC), mblocks = ceil_div(M, kMC);
  const std::size_t npad = static_cast<std::size_t>(strips) * NR;
  const bool parallel = parallel_gemm(M, N, K);
  const int threads = parallel ? get_num_threads() : 1;
  const bool a_in_place = (rsa == 1 || csa == 1) && strips <= kInPlaceStrips;
  auto read_in_place = [&](int rows) { return a_in_place && rows == MR; };

  // Rows [i0, i0 + mc) of A over k-block [k0, k0 + kc), packed as MR-row panels, k-major (the
  // panels read in place are skipped, their room left unused).
  auto pack_a = [&](int i0, int mc, int k0, int kc, T* ap) {
    for (int p = 0; p * MR < mc; ++p, ap += static_cast<std::size_t>(kc) * MR) {
      const int rows = std::min(MR, M - (i0 + p * MR));
      if (read_in_place(rows)) continue;
      const T* src = a + (i0 + p * MR) * rsa + k0 * csa;
      if (rows < MR) std::fill(ap, ap + static_cast<std::size_t>(kc) * MR, T(0));
      if (rsa == 1) {  // A's columns are contiguous (A is a transpose): copy runs of rows
        for (int k = 0; k < kc; ++k)
          for (int r = 0; r < rows; ++r) ap[k * MR + r] = src[k * csa + r];
      } else if (csa == 1) {  // row-major A. k outer, so the writes are contiguous: reading row by
                              // row and writing MR apart packed 2.3x slower (4K aliasing)
        for (int k = 0; k < kc; ++k)
          for (int r = 0; r < rows; ++r) ap[k * MR + r] = src[r * rsa + k];
      } else {
        for (int k = 0; k < kc; ++k)
          for (int r = 0; r < rows; ++r) ap[k * MR + r] = src[r * rsa + k * csa];
      }
    }
  };
  // Panels of rows [i0, i0 + mc) (packed by pack_a into ap, or read in place) times B strips
  // [s0, s1) of k-block kb.
  auto multiply = [&](const T* ap, int i0, int mc, int kb, int s0, int s1) {
    const int k0 = kb * kKC, kc = std::min(kKC, K - k0);
    const bool overwrite = kb == 0 && !accumulate;
    // B too large for L2 comes from L3 or memory: the next strip (they follow each other in
    // memory) is fetched into L2 a slice per tile while this one is multiplied.
    const std::size_t strip_bytes = static_cast<std::size_t>(kc) * NR * sizeof(T);
    const int panels = ceil_div(mc, MR);
    const int lines_per_tile =
        strip_bytes * (s1 - s0) > kPrefetchBeyond ? ceil_div(strip_bytes / 64, panels) : 0;
    for (int s = s0; s < s1; ++s) {
      const T* bp = b.data.data() + k0 * npad + static_cast<std::size_t>(s) * kc * NR;
      const int cols = std::min(NR, N - s * NR);
      Prefetcher pf;
      if (s + 1 < s1) {
        pf.next = reinterpret_cast<const char*>(bp) + strip_bytes;
        pf.end = pf.next + strip_bytes;
        pf.lines_per_tile = lines_per_tile;
      }
      for (int p = 0; p * MR < mc; ++p) {
        pf.tile();
        const int row = i0 + p * MR, rows = std::min(MR, M - row);
        const bool direct = read_in_place(rows);
        T* out = c + row * ldc + s * NR;
        const T* col_bias = bias ? bias + s * NR : nullptr;
        if (!direct)
          kern.gemm_tile(kc, ap + static_cast<std::size_t>(p) * kc * MR, MR, bp, out, ldc, rows, cols, overwrite,
                         col_bias);
        else if (rsa == 1)
          kern.gemm_tile(kc, a + row + k0 * csa, csa, bp, out, ldc, rows, cols, overwrite, col_bias);
        else
          kern.gemm_tile_rows(kc, a + row * rsa + k0, rsa, bp, out, ldc, rows, cols, overwrite, col_bias);
      }
    }
  };

  if (mblocks >= threads) {
    // Many rows (BLIS's order): one k-block at a time, tasks are row blocks; the block of packed
    // B stays in cache while every row block of A streams past it.
    for (int kb = 0; kb < kblocks; ++kb) {
      const int k0 = kb * kKC, kc = std::min(kKC, K - k0);
      maybe_parallel(parallel, mblocks, [&](int t0, int t1) {
        thread_local AlignedVector<T> apack;
        if (apack.size() < a_block_elements(MR)) apack.resize(a_block_elements(MR));
        for (int t = t0; t < t1; ++t) {
          const int i0 = t * kMC, mc = std::min(kMC, M - i0);
          pack_a(i0, mc, k0, kc, apack.data());
          multiply(apack.data(), i0, mc, kb, 0, strips);
        }
      });
    }
    return;
  }
  // Few rows (the products inside the time loop): all of A is packed once, shared, and the
  // threads split the strips of B.
  const int panels = ceil_div(M, MR);
  const std::size_t block = static_cast<std::size_t>(panels) * MR * kKC;  // one k-block of packed A
  thread_local AlignedVector<T> shared;  // grows only: resize() would zero-fill it on every call
  if (shared.size() < shared_a_elements(M, K, MR)) shared.resize(shared_a_elements(M, K, MR));
  T* packed_a = shared.data();
  if (!a_in_place || M % MR)
    maybe_parallel(parallel, kblocks, [&](int kb0, int kb1) {
      for (int kb = kb0; kb < kb1; ++kb) pack_a(0, M, kb * kKC, std::min(kKC, K - kb * kKC), packed_a + kb * block);
    });
  maybe_parallel(parallel, strips, [&](int s0, int s1) {
    for (int kb = 0; kb < kblocks; ++kb) multiply(packed_a + kb * block, 0, M, kb, s0, s1);
  });
}

template <class T>
void gemm(int M, int N, int K, const T* a, std::ptrdiff_t rsa, std::ptrdiff_t csa, const T* b, std::ptrdiff_t rsb,
          std::ptrdiff_t csb, T* c, std::ptrdiff_t ldc, bool accumulate, const T* bias) {
  if (M <= 0 || N <= 0) return;
  const Kernels<T>& kern = kernels<T>();
  if (narrow_gemm(N, K, kern.gemm_nr) && (csa == 1 || rsa == 1)) {
    if (bias && !accumulate) {  // C = bias, then the product added: a few columns, a cheap pass
      for (int i = 0; i < M; ++i) std::copy(bias, bias + N, c + i * ldc);
      accumulate = true;
    }
    // Row blocks are independent and each C element is summed in one order: any thread count
    // gives the same bits.
    constexpr int kRows = 256;
    maybe_parallel(parallel_gemm(M, N, K), ceil_div(M, kRows), [&](int t0, int t1) {
      const int i0 = t0 * kRows, i1 = std::min(M, t1 * kRows);
      kern.gemm_narrow(i1 - i0, N, K, a + i0 * rsa, rsa, csa, b, rsb, csb, c + i0 * ldc, ldc, accumulate);
    });
    return;
  }
  PackedB<T> packed;
  packed.pack(K, N, b, rsb, csb);
  gemm(M, a, rsa, csa, packed, c, ldc, accumulate, bias);
}

#define PYRNN_INSTANTIATE_GEMM(T)                                                                                      \
  template struct PackedB<T>;                                                                                          \
  template void gemm<T>(int, const T*, std::ptrdiff_t, std::ptrdiff_t, const PackedB<T>&, T*, std::ptrdiff_t, bool,  \
                        const T*);                                                                                     \
  template void gemm<T>(int, int, int, const T*, std::ptrdiff_t, std::ptrdiff_t, const T*, std::ptrdiff_t,            \
                        std::ptrdiff_t, T*, std::ptrdiff_t, bool, const T*);                                 \
  template GemmScratch gemm_scratch<T>(int, int, int, bool);                                                        \
  template std::size_t packed_b_size<T>(int, int);
PYRNN_INSTANTIATE_GEMM(float)
PYRNN_INSTANTIATE_GEMM(double)

}  // namespace pyrnn
