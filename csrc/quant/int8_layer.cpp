// int8 inference driver (int8.h): quantization, the choice of int8 kernels, and the LSTM / GRU
// forward. ISA-independent (compiled without ISA flags): the per-ISA parts (int8 products, exact;
// quantization and gate epilogue, the same IEEE operations on every lane: int8_cells.h) give
// the same results on every ISA.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(PYRNN_X86)
#include <cpuid.h>
#endif

#include "aligned.h"
#include "cpu.h"
#include "parallel.h"
#include "quant/bf16.h"
#include "quant/int8.h"

namespace pyrnn {
namespace quant {

// AVX-512 (cpu.h) and one feature bit of CPUID leaf 7: subleaf `sub`, register EAX or ECX.
static bool avx512_with(unsigned sub, bool in_eax, unsigned bit) {
#if defined(PYRNN_X86)
  if (!isa_supported(Isa::avx512)) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, sub, &a, &b, &c, &d)) return false;
  return ((in_eax ? a : c) >> bit) & 1u;
#else
  (void)sub, (void)in_eax, (void)bit;
  return false;
#endif
}

// A GEMM over groups of 16 output columns, split over the pool in pairs of groups (the
// widest tiles' width); each output element belongs to one task.
template <class F>
static void over_group_pairs(double flops, int groups, F run) {
  const int pairs = (groups + 1) / 2;
  maybe_parallel(flops >= 4.0e5 && pairs >= 2, pairs, [&](int p0, int p1) { run(2 * p0, std::min(groups, 2 * p1)); });
}

}  // namespace quant

namespace int8 {

bool vnni_supported() { return quant::avx512_with(0, false, 11); }  // CPUID.(7,0):ECX[11] AVX512_VNNI

bool avx_vnni_supported() {  // CPUID.(7,1):EAX[4] AVX_VNNI, on a CPU (and OS) with AVX2
#if defined(PYRNN_X86) && defined(PYRNN_AVXVNNI)
  if (!isa_supported(Isa::avx2)) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return (a >> 4) & 1u;
#else
  return false;
#endif
}

// The best int8 kernels of the AVX2 family: AVX-VNNI when present, else vpmaddubsw.
static const Table& avx2_family() {
#if defined(PYRNN_X86) && defined(PYRNN_AVXVNNI)
  if (avx_vnni_supported()) return avx_vnni::table();
#endif
#if defined(PYRNN_X86)
  return avx2::table();
#else
  return scalar::table();
#endif
}

const Table& table_for(const char* isa) {
  const std::string name(isa);
#if defined(PYRNN_X86)
  if (name == "avx512" && isa_supported(Isa::avx512)) return vnni_supported() ? avx512_vnni::table() : avx2_family();
  if (name == "avx2" && isa_supported(Isa::avx2)) return avx2_family();
  if (name == "avx2_maddubs" && isa_supported(Isa::avx2)) return avx2::table();  // forced, for tests
  if (name == "avx512_vnni" && vnni_supported()) return avx512_vnni::table();
#endif
#if defined(PYRNN_X86) && defined(PYRNN_AVXVNNI)
  if (name == "avx_vnni" && avx_vnni_supported()) return avx_vnni::table();
#endif
  if (name == "scalar") return scalar::table();
  throw std::invalid_argument("int8 kernels: unsupported ISA '" + name + "' on this CPU or build");
}

const Table& active() {
  static const Table& t = table_for(isa_name(active_isa()));
  return t;
}

Weights::Weights(const std::int8_t* q, const float* s, int N_, int K_)
    : N(N_), K(K_), Kp(padded_k(K_)), groups(groups_of(N_)) {
  packed.assign(static_cast<std::size_t>(groups) * Kp * kGroup, 0);
  offset.assign(static_cast<std::size_t>(groups) * kGroup, 0);
  scale.assign(static_cast<std::size_t>(groups) * kGroup, 0.0f);
  for (int n = 0; n < N; ++n) {
    const int g = n / kGroup, j = n % kGroup;
    std::int32_t sum = 0;
    for (int k = 0; k < K; ++k) {
      const std::int8_t v = q[static_cast<std::size_t>(n) * K + k];
      if (v < -127) throw std::invalid_argument("int8 weights must lie in [-127, 127]");
      sum += v;
      packed[(static_cast<std::size_t>(g) * Kp + (k / 4) * 4) * kGroup + j * 4 + k % 4] = v;
    }
    offset[n] = 128 * sum;
    scale[n] = s[n];
  }
}

float quantize_row(const float* x, int K, int Kp, std::uint8_t* q) { return active().quantize_row(x, K, Kp, q); }

void gemm(const Table& t, int M, const std::uint8_t* a, std::ptrdiff_t lda, const Weights& w, std::int32_t* c,
          std::ptrdiff_t ldc) {
  if (M <= 0) return;
  quant::over_group_pairs(2.0 * M * w.Kp * w.groups * kGroup, w.groups,
                          [&](int g0, int g1) { t.gemm(M, g0, g1, w.Kp, a, lda, w.packed.data(), w.offset.data(), c, ldc); });
}

// y [M, ld] (float32) from the int32 products acc [M, ld]: y = float(acc - offset) * (sx * sw).
// Separate buffers: an int32 is never read or written through a float's storage.
static void dequantize_rows(int M, int N, const Weights& w, const float* sx, const std::int32_t* acc, float* y,
                            std::ptrdiff_t ld) {
  for (int m = 0; m < M; ++m) {
    const std::int32_t* row = acc + m * ld;
    float* ym = y + m * ld;
    for (int n = 0; n < N; ++n) ym[n] = static_cast<float>(row[n] - w.offset[n]) * (sx[m] * w.scale[n]);
  }
}

namespace {

// f(i0, i1) over rows [0, rows) of `width` floats each, on the pool when there is enough of them:
// the per-row passes of a step (quantize, dequantize, the gate epilogue) ran on one thread while
// the other waited (18% of the samples of an int8 lstm-large forward). Each row is computed the
// same way on any thread: results do not depend on the split.
template <class F>
void over_rows(int rows, std::ptrdiff_t width, F&& f) {
  maybe_parallel(rows >= 2 && static_cast<double>(rows) * width >= 16384.0, rows, f);
}

// Rows per pass of a product: bounds the int32 scratch of a long input projection, and the layer
// loop projects about this many rows of steps at a time.
constexpr int kPassRows = 512;

// The two schemes as one interface for the layer loop: y[i, :N] = row(i) . W^T for M rows,
// float32 with row stride ld().
struct Int8Product {
  const Table& t;
  const Weights& w;
  AlignedVector<std::uint8_t> q{};
  AlignedVector<float> s{};
  AlignedVector<std::int32_t> acc{};
  std::ptrdiff_t ld() const { return static_cast<std::ptrdiff_t>(w.groups) * kGroup; }
  template <class Row>
  void operator()(int M, Row row, float* y) {
    for (int m0 = 0; m0 < M; m0 += kPassRows) {
      const int rows = std::min(kPassRows, M - m0);
      q.resize(static_cast<std::size_t>(rows) * w.Kp);
      s.resize(rows);
      acc.resize(static_cast<std::size_t>(rows) * ld());
      over_rows(rows, w.K, [&](int i0, int i1) {
        for (int i = i0; i < i1; ++i)
          s[i] = t.quantize_row(row(m0 + i), w.K, w.Kp, q.data() + static_cast<std::size_t>(i) * w.Kp);
      });
      gemm(t, rows, q.data(), w.Kp, w, acc.data(), ld());
      over_rows(rows, w.N, [&](int i0, int i1) {
        dequantize_rows(i1 - i0, w.N, w, s.data() + i0, acc.data() + static_cast<std::ptrdiff_t>(i0) * ld(),
                        y + static_cast<std::ptrdiff_t>(m0 + i0) * ld(), ld());
      });
    }
  }
};

struct Bf16Product {
  const bf16::Table& t;
  const bf16::Weights& w;
  AlignedVector<std::uint16_t> q{};
  std::ptrdiff_t ld() const { return static_cast<std::ptrdiff_t>(w.groups) * bf16::kGroup; }
  template <class Row>
  void operator()(int M, Row row, float* y) {
    if (M <= 0) return;
    q.assign(static_cast<std::size_t>(M) * w.Kp, 0);
    over_rows(M, w.K, [&](int i0, int i1) {
      for (int i = i0; i < i1; ++i) {
        const float* r = row(i);
        std::uint16_t* qi = q.data() + static_cast<std::size_t>(i) * w.Kp;
        for (int k = 0; k < w.K; ++k) qi[k] = bf16::from_float(r[k]);
      }
    });
    bf16::gemm(t, M, q.data(), w.Kp, w, y, ld());
  }
};

// y [M, N] = x [M, K] . W^T over either scheme (Dense layers).
template <class P>
void linear_rows(P& p, int M, const float* x, float* y) {
  DenormalGuard ftz;
  const std::ptrdiff_t ld = p.ld();
  const int N = p.w.N, K = p.w.K;
  AlignedVector<float> tmp(std::max<std::size_t>(1, static_cast<std::size_t>(M) * ld));
  p(M, [&](int r) { return x + static_cast<std::size_t>(r) * K; }, tmp.data());
  for (int m = 0; m < M; ++m)
    std::memcpy(y + static_cast<std::size_t>(m) * N, tmp.data() + m * ld, sizeof(float) * N);
}

// One layer, one direction (int8.h: layer_forward), over either scheme. phn: GRU reset before
// (the n gate's product of r * h); phr: the LSTM projection.
template <class P>
void run_layer(Cell cell, int T, int B, int I, int H, P& pih, P& phh, P* phn, P* phr, const float* bias_x,
               const float* bias_hn, const float* x, const float* h0, const float* c0, const std::int32_t* lengths,
               float* out, float* hn, float* cn) {
  DenormalGuard ftz;
  const Table& t = active();  // its gate epilogue: identical on every ISA
  const bool lstm = cell == Cell::lstm, gru = cell == Cell::gru;
  const int G = gates_of(cell), GH = G * H;
  const int S = phr ? phr->w.N : H;  // width of h (the projection's P)
  if (pih.w.N != GH || pih.w.K != I || phh.w.N != (phn ? 2 * H : GH) || phh.w.K != S ||
      (phn && (!gru || phn->w.N != H || phn->w.K != H)) || (phr && (!lstm || phr->w.K != H)))
    throw std::invalid_argument("quantized layer: weight shapes");
  const std::ptrdiff_t ldp = pih.ld(), ldr = phh.ld();
  // Input projection of a chunk of steps at once (about a product's pass): xp [steps*B, ldp].
  // All T at once held T*B*ldp floats, fresh each call (52 MB for lstm-large: 12% of its time
  // went to the page faults of that buffer).
  const int chunk = std::max(1, std::min(T, kPassRows / std::max(B, 1)));
  AlignedVector<float> xp(std::max<std::size_t>(1, static_cast<std::size_t>(chunk) * B * ldp));
  int chunk_start = 0;
  auto project = [&](int t0) {
    const int rows = std::min(chunk, T - t0) * B;
    const float* xt = x + static_cast<std::size_t>(t0) * B * I;
    pih(rows, [&](int r) { return xt + static_cast<std::size_t>(r) * I; }, xp.data());
    over_rows(rows, GH, [&](int r0, int r1) {
      for (int r = r0; r < r1; ++r) {
        float* y = xp.data() + static_cast<std::size_t>(r) * ldp;
        for (int n = 0; n < GH; ++n) y[n] = y[n] + bias_x[n];
      }
    });
    chunk_start = t0;
  };
  const std::size_t BS = static_cast<std::size_t>(B) * S, BH = static_cast<std::size_t>(B) * H;
  AlignedVector<float> h(std::max<std::size_t>(1, BS)), c(lstm ? std::max<std::size_t>(1, BH) : 1),
      hr(std::max<std::ptrdiff_t>(1, B * ldr));
  // Per live row: r * h or the unprojected o * tanh(c) [B, H], and its product [B, ld].
  const std::ptrdiff_t ldx = phn ? phn->ld() : phr ? phr->ld() : 1;
  AlignedVector<float> mid((phn || phr) ? std::max<std::size_t>(1, BH) : 1),
      midp((phn || phr) ? std::max<std::ptrdiff_t>(1, B * ldx) : 1);
  std::memcpy(h.data(), h0, sizeof(float) * BS);
  if (lstm) std::memcpy(c.data(), c0, sizeof(float) * BH);
  std::vector<int> live;
  live.reserve(B);
  for (int step = 0; step < T; ++step) {
    if (step % chunk == 0) project(step);
    live.clear();  // rows past their length keep their state; the kernels see only live ones
    for (int b = 0; b < B; ++b)
      if (lengths == nullptr || step < lengths[b]) live.push_back(b);
    const int rows = static_cast<int>(live.size());
    phh(rows, [&](int i) { return h.data() + static_cast<std::size_t>(live[i]) * S; }, hr.data());
    auto px = [&](int i) { return xp.data() + (static_cast<std::size_t>(step - chunk_start) * B + live[i]) * ldp; };
    auto ph = [&](int i) { return hr.data() + static_cast<std::ptrdiff_t>(i) * ldr; };
    auto hb = [&](int i) { return h.data() + static_cast<std::size_t>(live[i]) * S; };
    auto midi = [&](int i) { return mid.data() + static_cast<std::size_t>(i) * H; };
    auto midpi = [&](int i) { return midp.data() + static_cast<std::ptrdiff_t>(i) * ldx; };
    // the gate epilogue of rows [i0, i1): one pass over the G*H pre-activations of each
    auto each_row = [&](auto&& f) {
      over_rows(rows, GH, [&](int i0, int i1) {
        for (int i = i0; i < i1; ++i) f(i);
      });
    };
    if (phn) {
      each_row([&](int i) { t.gru_reset(H, px(i), ph(i), hb(i), midi(i)); });
      (*phn)(rows, midi, midp.data());
      each_row([&](int i) { t.gru_blend(H, px(i), ph(i), midpi(i), bias_hn, hb(i)); });
    } else if (lstm) {
      each_row([&](int i) {
        t.lstm_cell(H, px(i), ph(i), c.data() + static_cast<std::size_t>(live[i]) * H, phr ? midi(i) : hb(i));
      });
      if (phr) {
        (*phr)(rows, midi, midp.data());
        for (int i = 0; i < rows; ++i) std::memcpy(hb(i), midpi(i), sizeof(float) * S);
      }
    } else if (gru) {
      each_row([&](int i) { t.gru_cell(H, px(i), ph(i), bias_hn, hb(i)); });
    } else {
      each_row([&](int i) { t.rnn_cell(H, px(i), ph(i), cell == Cell::rnn_relu, hb(i)); });
    }
    float* o = out + static_cast<std::size_t>(step) * BS;
    std::memset(o, 0, sizeof(float) * BS);
    for (int i = 0; i < rows; ++i) std::memcpy(o + static_cast<std::size_t>(live[i]) * S, hb(i), sizeof(float) * S);
  }
  std::memcpy(hn, h.data(), sizeof(float) * BS);
  if (lstm) std::memcpy(cn, c.data(), sizeof(float) * BH);
}

// Runs a layer with the optional products made from optional weights.
template <class P, class W, class Make>
void layer_with(Make make, Cell cell, int T, int B, int I, int H, const W& w_ih, const W& w_hh, const W* w_hn,
                const W* w_hr, const float* bias_x, const float* bias_hn, const float* x, const float* h0,
                const float* c0, const std::int32_t* lengths, float* out, float* hn, float* cn) {
  P pih = make(w_ih), phh = make(w_hh), pn = make(w_hn ? *w_hn : w_ih), pr = make(w_hr ? *w_hr : w_ih);
  run_layer(cell, T, B, I, H, pih, phh, w_hn ? &pn : nullptr, w_hr ? &pr : nullptr, bias_x, bias_hn, x, h0, c0,
            lengths, out, hn, cn);
}

}  // namespace

void linear(int M, const float* x, const Weights& w, float* y) {
  Int8Product p{active(), w};
  linear_rows(p, M, x, y);
}

void layer_forward(Cell cell, int T, int B, int I, int H, const Weights& w_ih, const Weights& w_hh,
                   const float* bias_x, const float* bias_hn, const float* x, const float* h0, const float* c0,
                   const std::int32_t* lengths, float* out, float* hn, float* cn, const Weights* w_hn,
                   const Weights* w_hr) {
  layer_with<Int8Product>([](const Weights& w) { return Int8Product{active(), w}; }, cell, T, B, I, H, w_ih, w_hh,
                          w_hn, w_hr, bias_x, bias_hn, x, h0, c0, lengths, out, hn, cn);
}

}  // namespace int8

namespace bf16 {

bool bf16_supported() { return quant::avx512_with(1, true, 5); }  // CPUID.(7,1):EAX[5] AVX512_BF16

// vdpbf16ps where it outruns the widening kernel: on AMD's AVX-512 cores (Zen 4, Zen 5: twice the
// float32 FMA's products per cycle, measured lstm-large 2.07x float32), not on Intel's (the Xeon
// measured here retires one per two cycles, half the FMA's products: bf16_avx512f.cpp is faster).
static bool fast_dpbf16() {
#if defined(PYRNN_X86)
  unsigned a, b, c, d;
  if (!bf16_supported() || !__get_cpuid(0, &a, &b, &c, &d)) return false;
  return b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // "AuthenticAMD"
#else
  return false;
#endif
}

const Table& table_for(const char* isa) {
  const std::string name(isa);
#if defined(PYRNN_X86)
  if (name == "avx512" && isa_supported(Isa::avx512)) return fast_dpbf16() ? avx512_bf16::table() : avx512f::table();
  if (name == "avx512f" && isa_supported(Isa::avx512)) return avx512f::table();  // forced, for tests
  if (name == "avx512_bf16" && bf16_supported()) return avx512_bf16::table();    // forced, for tests
  if (name == "avx2" && isa_supported(Isa::avx2)) return avx2::table();
#endif
  if (name == "scalar") return scalar::table();
  throw std::invalid_argument("bf16 kernels: unsupported ISA '" + name + "'");
}

const Table& active() {
  static const Table& t = table_for(isa_name(active_isa()));
  return t;
}

Weights::Weights(const float* w, int N_, int K_) : N(N_), K(K_), Kp((K_ + 1) / 2 * 2), groups((N_ + kGroup - 1) / kGroup) {
  packed.assign(static_cast<std::size_t>(groups) * Kp * kGroup, 0);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k)
      packed[(static_cast<std::size_t>(n / kGroup) * Kp + (k / 2) * 2) * kGroup + (n % kGroup) * 2 + k % 2] =
          from_float(w[static_cast<std::size_t>(n) * K + k]);
}

void gemm(const Table& t, int M, const std::uint16_t* a, std::ptrdiff_t lda, const Weights& w, float* c,
          std::ptrdiff_t ldc) {
  if (M <= 0) return;
  quant::over_group_pairs(2.0 * M * w.Kp * w.groups * kGroup, w.groups,
                          [&](int g0, int g1) { t.gemm(M, g0, g1, w.Kp, a, lda, w.packed.data(), c, ldc); });
}

void linear(int M, const float* x, const Weights& w, float* y) {
  int8::Bf16Product p{active(), w};
  int8::linear_rows(p, M, x, y);
}

void layer_forward(int8::Cell cell, int T, int B, int I, int H, const Weights& w_ih, const Weights& w_hh,
                   const float* bias_x, const float* bias_hn, const float* x, const float* h0, const float* c0,
                   const std::int32_t* lengths, float* out, float* hn, float* cn, const Weights* w_hn,
                   const Weights* w_hr) {
  int8::layer_with<int8::Bf16Product>([](const Weights& w) { return int8::Bf16Product{active(), w}; }, cell, T, B,
                                      I, H, w_ih, w_hh, w_hn, w_hr, bias_x, bias_hn, x, h0, c0, lengths, out, hn, cn);
}

}  // namespace bf16
}  // namespace pyrnn
