// int8 inference (issue 17): the quantization scheme, the int8 GEMM micro-kernel table (one file
// per ISA: int8_scalar.cpp, int8_avx2.cpp, int8_avx512vnni.cpp, each compiled with only its
// flags) and the LSTM/GRU forward driver (int8_layer.cpp). No Python types here.
//
// Scheme (reference: src/pyrnn/reference_quant.py, bit for bit):
//   weights: per output row n, s_w[n] = max|W[n,:]| / 127, q = clamp(rint(W * (127 / max)), -127, 127)
//   activations (x rows, h_{t-1} rows), dynamically at each step: the same per row, stored
//   unsigned as q + 128 (vpdpbusd is u8 x s8); rint = round half to even.
//   acc[m, n] = sum_k u[m,k] * q_w[n,k]  (int32, exact on every ISA), then
//   y[m, n] = float(acc[m, n] - 128 * sum_k q_w[n,k]) * (s_x[m] * s_w[n])   (float32)
// The ISA kernels compute only the int32 products; quantization, dequantization and the gate
// epilogue are ISA-independent code (int8_layer.cpp), so every ISA gives identical outputs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pyrnn {
namespace int8 {

// Packed weights: groups of kGroup output rows; group g holds Kp/4 blocks of [kGroup rows][4 k]
// bytes (the vpdpbusd layout), Kp = K rounded up to 4, rows past N and k past K zero.
constexpr int kGroup = 16;

inline int padded_k(int K) { return (K + 3) / 4 * 4; }
inline int groups_of(int N) { return (N + kGroup - 1) / kGroup; }

// c[m, g*16 + j] = sum_k a[m, k] * w_g[j, k] for rows [0, M) and groups [g0, g1); a is
// M rows of Kp unsigned bytes (row stride lda), c has row stride ldc (>= 16 * g1). offset is
// Weights::offset (128 * sum_k w per column): the AVX2 kernel sums (a - 128) * w and adds it back.
using GemmFn = void (*)(int M, int g0, int g1, int Kp, const std::uint8_t* a, std::ptrdiff_t lda,
                        const std::int8_t* w, const std::int32_t* offset, std::int32_t* c, std::ptrdiff_t ldc);

struct Table {
  const char* name;
  GemmFn gemm;
  // The rest is the same IEEE operations on every ISA (int8_cells.h): identical results.
  float (*quantize_row)(const float* x, int K, int Kp, std::uint8_t* q);  // Kp bytes (pad 0); returns the scale
  void (*lstm_cell)(int H, const float* px, const float* ph, float* c, float* h);
  void (*gru_cell)(int H, const float* px, const float* ph, const float* bhn, float* h);
  // GRU reset before (Keras reset_after=False): rh = r * h, then the blend with W_hn (r * h).
  void (*gru_reset)(int H, const float* px, const float* ph, const float* h, float* rh);
  void (*gru_blend)(int H, const float* px, const float* ph, const float* phn, const float* bhn, float* h);
  void (*rnn_cell)(int H, const float* px, const float* ph, bool relu, float* h);  // h = tanh or relu(px + ph)
};

// The recurrent cell a quantized layer runs (both schemes).
enum class Cell { lstm, gru, rnn_tanh, rnn_relu };
inline int gates_of(Cell c) { return c == Cell::lstm ? 4 : c == Cell::gru ? 3 : 1; }

namespace scalar { const Table& table(); }
namespace avx2 { const Table& table(); }
namespace avx512_vnni { const Table& table(); }
namespace avx_vnni { const Table& table(); }  // VEX vpdpbusd (AVX-VNNI), when built with -mavxvnni

bool vnni_supported();
bool avx_vnni_supported();  // CPUID.(7,1):EAX[4] and the build has the kernel
// The kernels for an ISA name of cpu.h ("avx512" uses AVX512-VNNI when the CPU has it, then
// AVX-VNNI, else the avx2 kernel; "avx2" uses AVX-VNNI when the CPU has it), or one kernel by
// its own name ("avx_vnni", "avx512_vnni"); active() follows active_isa() and is chosen once.
const Table& table_for(const char* isa);
const Table& active();

struct Weights {
  int N = 0, K = 0, Kp = 0, groups = 0;
  std::vector<std::int8_t> packed;     // groups * Kp * 16
  std::vector<std::int32_t> offset;    // 128 * sum_k q[n, k], padded to groups*16
  std::vector<float> scale;            // s_w, padded with 0
  Weights() = default;
  Weights(const std::int8_t* q, const float* s, int N, int K);  // q [N, K] row-major
};

// Quantizes one row of K floats to Kp unsigned bytes (pad 0) with the active kernels; returns its scale.
float quantize_row(const float* x, int K, int Kp, std::uint8_t* q);

// The full int32 product of quantized rows with packed weights, over the pool: c [M, groups*16].
void gemm(const Table& t, int M, const std::uint8_t* a, std::ptrdiff_t lda, const Weights& w, std::int32_t* c,
          std::ptrdiff_t ldc);

// y [M, N] = x [M, K] . W^T through the scheme (Dense layers).
void linear(int M, const float* x, const Weights& w, float* y);

// One layer, one direction, time-major x [T, B, I]; LSTM (G = 4, i f g o), GRU (G = 3, r z n,
// reset after; with w_hn, reset before: w_hh then holds the 2H rows of r, z and w_hn the H rows
// of n, applied to r * h) or a vanilla RNN (G = 1, tanh or relu; bias_x = b_ih + b_hh). w_hr (LSTM, P x H): the projection h = W_hr (o * tanh(c)), so h0, hn
// and out are P wide and w_hh has P columns. bias_x [G*H]: added to the input projection (LSTM: b_ih + b_hh; GRU: b_ih + b_hh
// for r, z, b_in for n); bias_hn [H] (GRU). lengths: null, or B step counts (rows past their
// length keep their state and output zeros). out [T, B, H], hn [B, H], cn [B, H] (LSTM).
void layer_forward(Cell cell, int T, int B, int I, int H, const Weights& w_ih, const Weights& w_hh,
                   const float* bias_x, const float* bias_hn, const float* x, const float* h0, const float* c0,
                   const std::int32_t* lengths, float* out, float* hn, float* cn,
                   const Weights* w_hn = nullptr, const Weights* w_hr = nullptr);

}  // namespace int8
}  // namespace pyrnn
