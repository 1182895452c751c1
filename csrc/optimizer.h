// Optimiser steps over a model's flat parameter vector, fused into one pass: NumPy would make
// ten passes and ten calls per step, which for a small model cost more than its gradients.
#pragma once
#include <cmath>
#include <cstddef>

namespace pyrnn {

// Adam as Keras writes it, in place: m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
// (AMSGrad: v_hat = max(v_hat, v), used for v); w -= alpha m / (sqrt(v) + epsilon), with
// alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t) and 1 - beta_i from the caller (in double,
// as Keras computes them). Each operation is rounded to T in this order, as NumPy and Keras
// round it (this file's build has no fused multiply-adds).
template <class T>
void adam_update(std::size_t n, T* w, const T* g, T* m, T* v, T* v_hat, T alpha, T one_minus_beta_1,
                 T one_minus_beta_2, T epsilon) {
  for (std::size_t i = 0; i < n; ++i) {
    m[i] += (g[i] - m[i]) * one_minus_beta_1;
    v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;
    T second = v[i];
    if (v_hat) second = v_hat[i] = (std::isnan(v_hat[i]) || v_hat[i] > v[i]) ? v_hat[i] : v[i];  // np.maximum
    w[i] -= m[i] * alpha / (std::sqrt(second) + epsilon);
  }
}

}  // namespace pyrnn
