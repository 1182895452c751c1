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
#include "quant/int8.h"

namespace pyrnn {
namespace int8 {

bool vnni_supported() {
#if defined(PYRNN_X86)
  if (!isa_supported(Isa::avx512)) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (c & (1u << 11)) != 0;  // CPUID.7.0:ECX[11] AVX512_VNNI
#else
  return false;
#endif
}

const Table& table_for(const char* isa) {
  const std::string name(isa);
#if defined(PYRNN_X86)
  if (name == "avx512" && isa_supported(Isa::avx512)) return vnni_supported() ? avx512_vnni::table() : avx2::table();
  if (name == "avx2" && isa_supported(Isa::avx2)) return avx2::table();
#endif
  if (name == "scalar") return scalar::table();
  throw std::invalid_argument("int8 kernels: unsupported ISA '" + name + "'");
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
  const double ops = 2.0 * M * w.Kp * w.groups * kGroup;
  // Parallel over pairs of groups (the vnni tile's width); each output element has one task.
  const int pairs = (w.groups + 1) / 2;
  maybe_parallel(ops >= 4.0e5 && pairs >= 2, pairs, [&](int p0, int p1) {
    t.gemm(M, 2 * p0, std::min(w.groups, 2 * p1), w.Kp, a, lda, w.packed.data(), c, ldc);
  });
}

// acc (int32, row stride ld) turned in place into floats: y = float(acc - offset) * (sx * sw).
static void dequantize_rows(int M, int N, const Weights& w, const float* sx, std::int32_t* acc, std::ptrdiff_t ld) {
  for (int m = 0; m < M; ++m) {
    std::int32_t* row = acc + m * ld;
    float* y = reinterpret_cast<float*>(row);
    for (int n = 0; n < N; ++n) {
      const std::int32_t v = row[n] - w.offset[n];
      const float s = sx[m] * w.scale[n];
      y[n] = static_cast<float>(v) * s;
    }
  }
}

void layer_forward(bool lstm, int T, int B, int I, int H, const Weights& w_ih, const Weights& w_hh,
                   const float* bias_x, const float* bias_hn, const float* x, const float* h0, const float* c0,
                   const std::int32_t* lengths, float* out, float* hn, float* cn) {
  DenormalGuard ftz;
  const Table& t = active();
  const int G = lstm ? 4 : 3, GH = G * H;
  if (w_ih.N != GH || w_ih.K != I || w_hh.N != GH || w_hh.K != H) throw std::invalid_argument("int8 layer: weight shapes");
  const std::ptrdiff_t ldp = static_cast<std::ptrdiff_t>(w_ih.groups) * kGroup;  // >= GH
  const std::ptrdiff_t ldr = static_cast<std::ptrdiff_t>(w_hh.groups) * kGroup;
  const std::size_t TB = static_cast<std::size_t>(T) * B;
  // Input projection for every step at once: xp [T*B, ldp] floats (in the int32 buffer).
  AlignedVector<std::int32_t> xp(std::max<std::size_t>(1, TB * ldp));
  {
    AlignedVector<std::uint8_t> xq(std::max<std::size_t>(1, TB * w_ih.Kp));
    AlignedVector<float> sx(std::max<std::size_t>(1, TB));
    for (std::size_t r = 0; r < TB; ++r) sx[r] = t.quantize_row(x + r * I, I, w_ih.Kp, xq.data() + r * w_ih.Kp);
    gemm(t, static_cast<int>(TB), xq.data(), w_ih.Kp, w_ih, xp.data(), ldp);
    dequantize_rows(static_cast<int>(TB), GH, w_ih, sx.data(), xp.data(), ldp);
    for (std::size_t r = 0; r < TB; ++r) {
      float* y = reinterpret_cast<float*>(xp.data() + r * ldp);
      for (int n = 0; n < GH; ++n) y[n] = y[n] + bias_x[n];
    }
  }
  const std::size_t BH = static_cast<std::size_t>(B) * H;
  AlignedVector<float> h(BH), c(lstm ? BH : 1), sh(B);
  std::memcpy(h.data(), h0, sizeof(float) * BH);
  if (lstm) std::memcpy(c.data(), c0, sizeof(float) * BH);
  AlignedVector<std::uint8_t> hq(static_cast<std::size_t>(B) * w_hh.Kp);
  AlignedVector<std::int32_t> hr(static_cast<std::size_t>(B) * ldr);
  for (int step = 0; step < T; ++step) {
    int active_rows = 0;  // rows past their length keep their state; the kernels see only live ones
    std::vector<int> live;
    live.reserve(B);
    for (int b = 0; b < B; ++b)
      if (lengths == nullptr || step < lengths[b]) live.push_back(b);
    active_rows = static_cast<int>(live.size());
    for (int i = 0; i < active_rows; ++i)
      sh[i] = t.quantize_row(h.data() + static_cast<std::size_t>(live[i]) * H, H, w_hh.Kp, hq.data() + static_cast<std::size_t>(i) * w_hh.Kp);
    gemm(t, active_rows, hq.data(), w_hh.Kp, w_hh, hr.data(), ldr);
    dequantize_rows(active_rows, GH, w_hh, sh.data(), hr.data(), ldr);
    float* o = out + static_cast<std::size_t>(step) * BH;
    std::memset(o, 0, sizeof(float) * BH);
    for (int i = 0; i < active_rows; ++i) {
      const int b = live[i];
      const float* px = reinterpret_cast<const float*>(xp.data() + (static_cast<std::size_t>(step) * B + b) * ldp);
      const float* ph = reinterpret_cast<const float*>(hr.data() + static_cast<std::size_t>(i) * ldr);
      float* hb = h.data() + static_cast<std::size_t>(b) * H;
      if (lstm) t.lstm_cell(H, px, ph, c.data() + static_cast<std::size_t>(b) * H, hb);
      else t.gru_cell(H, px, ph, bias_hn, hb);
      std::memcpy(o + static_cast<std::size_t>(b) * H, hb, sizeof(float) * H);
    }
  }
  std::memcpy(hn, h.data(), sizeof(float) * BH);
  if (lstm) std::memcpy(cn, c.data(), sizeof(float) * BH);
}

}  // namespace int8
}  // namespace pyrnn
