// Fills one ISA's table of kernels (kernels.h) from the templates of activations.h, matvec.h,
// gemm_tile.h, recurrent_step.h and backward.h.
// Compiled once per ISA by scalar.cpp / avx2.cpp / avx512.cpp (through table.h): include only
// from there.
#pragma once
#include "activations.h"
#include "backward.h"
#include "gemm_tile.h"
#include "kernels.h"
#include "matvec.h"
#include "recurrent_step.h"
#include "simd.h"

namespace pyrnn {
namespace PYRNN_KERNEL_NS {

template <class T, class S, class Act>
typename Kernels<T>::Gated gated_kernels() {
  return {&lstm_step<T, S, Act>, &gru_step<T, S, Act>, &gru_rz_step<T, S, Act>, &gru_n_step<T, S, Act>,
          &lstm_back<T, S, Act>, &gru_back<T, S, Act>, &gru_zn_back<T, S, Act>, &gru_r_back<T, S, Act>};
}

// ---------------------------------------------------------------------------------------
template <class T, int MR, int NV>
Kernels<T> make_kernels() {
  using S = Simd<T>;
  Kernels<T> k{};
  k.gemm_mr = MR;
  k.gemm_nr = NV * S::W;
  k.gemm_tile = &gemm_tile<T, S, MR, NV>;
  k.gemm_tile_rows = &gemm_tile<T, S, MR, NV, false>;
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
