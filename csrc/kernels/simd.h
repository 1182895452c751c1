// Thin wrappers over one ISA's vector registers: Simd<T> exposes the handful of
// operations the kernels need. Each ISA's kernel file defines exactly one of
// PYRNN_SIMD_SCALAR / PYRNN_SIMD_AVX2 / PYRNN_SIMD_AVX512 before including this, and is
// compiled with only that ISA's flags, so the same kernel templates (table.h and the headers
// it includes) become explicit AVX2 or AVX-512 code.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(PYRNN_SIMD_AVX2) || defined(PYRNN_SIMD_AVX512)
#include <immintrin.h>
#endif

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

template <class T>
struct Simd;

#if defined(PYRNN_SIMD_SCALAR)
// One lane: the portable path, built on every architecture.
template <class T>
struct Simd {
  using value_type = T;
  using reg = T;
  static constexpr int W = 1;
  static constexpr int kRegs = 8;  // registers the tile shapes budget for
  static void pin(reg&) {}
  static reg zero() { return T(0); }
  static reg set1(T x) { return x; }
  static reg load(const T* p) { return *p; }
  static void store(T* p, reg v) { *p = v; }
  static reg load_first(const T* p, int) { return *p; }  // W = 1: never a partial vector
  static void store_first(T* p, reg v, int) { *p = v; }
  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg div(reg a, reg b) { return a / b; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg min(reg a, reg b) { return a < b ? a : b; }
  static reg abs(reg a) { return std::fabs(a); }
  static reg copysign(reg mag, reg sign) { return std::copysign(mag, sign); }
  static reg select_lt(reg a, reg b, reg if_lt, reg otherwise) { return a < b ? if_lt : otherwise; }
  static reg round(reg a) { return std::nearbyint(a); }
  static reg pow2i(reg n) { return n == n ? std::ldexp(T(1), static_cast<int>(n)) : n; }  // 2^n, n integral
  static reg positive_mask(reg a, reg v) { return a > T(0) ? v : T(0); }
};
#endif

#if defined(PYRNN_SIMD_AVX2)
template <>
struct Simd<float> {
  using T = float;
  using value_type = T;
  using reg = __m256;
  static constexpr int W = 8;
  static constexpr int kRegs = 16;
  // Keeps v in a register: stops the compiler from re-reading it from memory for every FMA.
  static void pin(reg& v) { __asm__("" : "+x"(v)); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(T x) { return _mm256_set1_ps(x); }
  static reg load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, reg v) { _mm256_storeu_ps(p, v); }
  // The first n < W lanes, by masked moves (lanes past n are neither read nor written).
  static __m256i first(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static reg load_first(const T* p, int n) { return _mm256_maskload_ps(p, first(n)); }
  static void store_first(T* p, reg v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static reg copysign(reg mag, reg sign) {
    const reg m = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(m, mag), _mm256_and_ps(m, sign));
  }
  static reg select_lt(reg a, reg b, reg if_lt, reg otherwise) {
    return _mm256_blendv_ps(otherwise, if_lt, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
  static reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2i(reg n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static reg positive_mask(reg a, reg v) { return _mm256_and_ps(_mm256_cmp_ps(a, zero(), _CMP_GT_OQ), v); }
  // Lane i of the result = the sum of all lanes of v[i] (a transpose-and-add of 8 registers).
  static reg reduce_lanes(const reg* v) {
    const reg a = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    const reg b = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
  }
};
template <>
struct Simd<double> {
  using T = double;
  using value_type = T;
  using reg = __m256d;
  static constexpr int W = 4;
  static constexpr int kRegs = 16;
  // Keeps v in a register: stops the compiler from re-reading it from memory for every FMA.
  static void pin(reg& v) { __asm__("" : "+x"(v)); }
  static reg zero() { return _mm256_setzero_pd(); }
  static reg set1(T x) { return _mm256_set1_pd(x); }
  static reg load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, reg v) { _mm256_storeu_pd(p, v); }
  static __m256i first(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static reg load_first(const T* p, int n) { return _mm256_maskload_pd(p, first(n)); }
  static void store_first(T* p, reg v, int n) { _mm256_maskstore_pd(p, first(n), v); }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_pd(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_pd(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static reg max(reg a, reg b) { return _mm256_max_pd(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_pd(a, b); }
  static reg positive_mask(reg a, reg v) { return _mm256_and_pd(_mm256_cmp_pd(a, zero(), _CMP_GT_OQ), v); }
  static reg abs(reg a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  static reg copysign(reg mag, reg sign) {
    const reg m = _mm256_set1_pd(-0.0);
    return _mm256_or_pd(_mm256_andnot_pd(m, mag), _mm256_and_pd(m, sign));
  }
  static reg select_lt(reg a, reg b, reg if_lt, reg otherwise) {
    return _mm256_blendv_pd(otherwise, if_lt, _mm256_cmp_pd(a, b, _CMP_LT_OQ));
  }
  static reg round(reg a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2i(reg n) {  // n integral in [-1022, 1023]
    const __m256i e = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)), _mm256_set1_epi64x(1023));
    return _mm256_castsi256_pd(_mm256_slli_epi64(e, 52));
  }
};
#endif

#if defined(PYRNN_SIMD_AVX512)
template <>
struct Simd<float> {
  using T = float;
  using value_type = T;
  using reg = __m512;
  static constexpr int W = 16;
  static constexpr int kRegs = 32;
  static void pin(reg& v) { __asm__("" : "+v"(v)); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(T x) { return _mm512_set1_ps(x); }
  static reg load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg load_first(const T* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
  static void store_first(T* p, reg v, int n) { _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg abs(reg a) { return _mm512_abs_ps(a); }
  static reg copysign(reg mag, reg sign) {
    const __m512i m = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    const __m512i r = _mm512_or_si512(_mm512_andnot_si512(m, _mm512_castps_si512(mag)),
                                      _mm512_and_si512(m, _mm512_castps_si512(sign)));
    return _mm512_castsi512_ps(r);
  }
  static reg select_lt(reg a, reg b, reg if_lt, reg otherwise) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), otherwise, if_lt);
  }
  static reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2i(reg n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static reg positive_mask(reg a, reg v) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, zero(), _CMP_GT_OQ), v); }
};
template <>
struct Simd<double> {
  using T = double;
  using value_type = T;
  using reg = __m512d;
  static constexpr int W = 8;
  static constexpr int kRegs = 32;
  static void pin(reg& v) { __asm__("" : "+v"(v)); }
  static reg zero() { return _mm512_setzero_pd(); }
  static reg set1(T x) { return _mm512_set1_pd(x); }
  static reg load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, reg v) { _mm512_storeu_pd(p, v); }
  static reg load_first(const T* p, int n) { return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p); }
  static void store_first(T* p, reg v, int n) { _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), v); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_pd(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_pd(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg max(reg a, reg b) { return _mm512_max_pd(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_pd(a, b); }
  static reg positive_mask(reg a, reg v) { return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(a, zero(), _CMP_GT_OQ), v); }
  static reg abs(reg a) { return _mm512_abs_pd(a); }
  static reg copysign(reg mag, reg sign) {
    const __m512i m = _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull));
    const __m512i r = _mm512_or_si512(_mm512_andnot_si512(m, _mm512_castpd_si512(mag)),
                                      _mm512_and_si512(m, _mm512_castpd_si512(sign)));
    return _mm512_castsi512_pd(r);
  }
  static reg select_lt(reg a, reg b, reg if_lt, reg otherwise) {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), otherwise, if_lt);
  }
  static reg round(reg a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2i(reg n) {  // n integral in [-1022, 1023]
    const __m512i e = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_cvtpd_epi32(n)), _mm512_set1_epi64(1023));
    return _mm512_castsi512_pd(_mm512_slli_epi64(e, 52));
  }
};
#endif

// Loads/stores of the first n (<= W) lanes, zero-filling the rest: the tails of rows whose
// length is not a multiple of the vector width.
template <class S, class T>
inline typename S::reg load_n(const T* p, int n) {
  return n == S::W ? S::load(p) : S::load_first(p, n);
}
template <class S, class T>
inline void store_n(T* p, typename S::reg v, int n) {
  if (n == S::W) return S::store(p, v);
  S::store_first(p, v, n);
}

}  // namespace PYRNN_KERNEL_NS
}  // namespace pyrnn
