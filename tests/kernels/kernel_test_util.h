// Shared by the kernel tests: the spec tables (so the Halide tests and the
// finite-difference tests of the reference cover the same shapes), random
// data, JIT runs of a built kernel, and error measures.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "compiler/kernels/kernel_spec.h"
#include "compiler/reference/reference_ops.h"

namespace cnnc::testing {

using kernels::Act;
using kernels::KernelSpec;
using kernels::Kind;
using kernels::PoolKind;
using reference::Vec;

// A windowed spec (conv or pool) with out/pad from 'same' or 'valid'.
inline KernelSpec window_spec(Kind kind, int64_t in_h, int64_t in_w, int64_t in_c, int64_t out_c,
                              int64_t kh, int64_t kw, int64_t sh, int64_t sw, bool same) {
  KernelSpec s;
  s.kind = kind;
  s.in_h = in_h, s.in_w = in_w, s.in_c = in_c, s.out_c = out_c;
  s.kernel_h = kh, s.kernel_w = kw, s.stride_h = sh, s.stride_w = sw;
  const reference::AxisWindow y =
      same ? reference::same_window(in_h, kh, sh) : reference::valid_window(in_h, kh, sh);
  const reference::AxisWindow x =
      same ? reference::same_window(in_w, kw, sw) : reference::valid_window(in_w, kw, sw);
  s.out_h = y.out, s.out_w = x.out, s.pad_top = y.pad_before, s.pad_left = x.pad_before;
  return s;
}

// Odd shapes: odd H/W, 1/3/5/13 channels, strides 1, 2, 4, asymmetric 'same'
// padding (even kernels), non-square kernels, plus the LeNet-5 layers.
inline std::vector<KernelSpec> conv_specs() {
  std::vector<KernelSpec> v = {
      window_spec(Kind::Conv2D, 7, 9, 3, 5, 3, 3, 1, 1, false),
      window_spec(Kind::Conv2D, 7, 9, 1, 13, 4, 4, 2, 2, true),
      window_spec(Kind::Conv2D, 9, 7, 5, 16, 3, 1, 1, 1, true),
      window_spec(Kind::Conv2D, 8, 11, 13, 24, 1, 5, 4, 4, true),
      window_spec(Kind::Conv2D, 6, 6, 3, 8, 2, 2, 2, 2, true),
      window_spec(Kind::Conv2D, 14, 14, 6, 16, 5, 5, 1, 1, false),  // LeNet conv2
      window_spec(Kind::Conv2D, 5, 5, 8, 40, 3, 3, 2, 2, true),     // 2-vector tile + tail
  };
  const Act acts[] = {Act::Relu, Act::Tanh, Act::Sigmoid, Act::Linear,
                      Act::Relu, Act::Relu, Act::Sigmoid};
  for (size_t i = 0; i < v.size(); ++i) {
    v[i].act = acts[i];
    v[i].use_bias = i != 2;
  }
  return v;
}

inline std::vector<KernelSpec> pool_specs() {
  std::vector<KernelSpec> v = {
      window_spec(Kind::Pool2D, 7, 9, 5, 5, 3, 3, 2, 2, true),
      window_spec(Kind::Pool2D, 7, 9, 13, 13, 2, 2, 2, 2, true),
      window_spec(Kind::Pool2D, 5, 7, 3, 3, 3, 3, 1, 1, true),
      window_spec(Kind::Pool2D, 9, 11, 16, 16, 4, 2, 4, 1, false),
      window_spec(Kind::Pool2D, 28, 28, 6, 6, 2, 2, 2, 2, false),    // LeNet pool1
      window_spec(Kind::Pool2D, 9, 8, 6, 6, 3, 3, 2, 2, true),       // a short channel vector
      window_spec(Kind::Pool2D, 14, 14, 16, 16, 2, 2, 2, 2, false),  // LeNet pool2
      window_spec(Kind::Pool2D, 5, 6, 8, 8, 5, 6, 1, 1, false),      // global, as lowered
      window_spec(Kind::Pool2D, 7, 7, 3, 3, 5, 5, 1, 1, false),      // fewer windows than k
  };
  const PoolKind kinds[] = {PoolKind::Max, PoolKind::Avg, PoolKind::Avg,
                            PoolKind::Max, PoolKind::Avg, PoolKind::Max,
                            PoolKind::Avg, PoolKind::Avg, PoolKind::Max};
  for (size_t i = 0; i < v.size(); ++i) v[i].pool = kinds[i];
  return v;
}

inline KernelSpec dense_spec(Kind kind, int64_t in, int64_t out, Act act, bool bias) {
  KernelSpec s;
  s.kind = kind;
  s.in_c = in, s.out_c = out, s.act = act, s.use_bias = bias;
  return s;
}

inline std::vector<KernelSpec> dense_specs() {
  return {dense_spec(Kind::Dense, 13, 5, Act::Relu, true),
          dense_spec(Kind::Dense, 37, 24, Act::Sigmoid, false),
          dense_spec(Kind::Dense, 1, 10, Act::Tanh, true),
          dense_spec(Kind::Dense, 84, 10, Act::Linear, true)};  // LeNet output
}

// BatchNorm over c channels: every flag combination, odd channel counts.
inline KernelSpec batch_norm_spec(Kind kind, int64_t c, bool scale, bool center) {
  KernelSpec s;
  s.kind = kind;
  s.in_c = s.out_c = c, s.scale = scale, s.center = center;
  s.epsilon = 1e-3, s.momentum = 0.9;
  return s;
}

inline std::vector<KernelSpec> batch_norm_specs(Kind kind) {
  return {batch_norm_spec(kind, 3, true, true), batch_norm_spec(kind, 5, false, true),
          batch_norm_spec(kind, 13, true, false), batch_norm_spec(kind, 16, true, true),
          batch_norm_spec(kind, 16, false, false)};
}

inline KernelSpec lrn_spec(int64_t h, int64_t w, int64_t c, int64_t size, double alpha, double beta,
                           double bias) {
  KernelSpec s;
  s.kind = Kind::LRN;
  s.in_h = s.out_h = h, s.in_w = s.out_w = w, s.in_c = s.out_c = c;
  s.lrn_size = size, s.lrn_alpha = alpha, s.lrn_beta = beta, s.lrn_bias = bias;
  return s;
}

// Alphas large enough for the window term to matter; an even size, a window
// wider than the channels, the general exponent and the square-root ones.
inline std::vector<KernelSpec> lrn_specs() {
  return {lrn_spec(5, 7, 13, 5, 0.2, 0.75, 2.0), lrn_spec(3, 5, 3, 4, 0.5, 0.6, 1.0),
          lrn_spec(7, 3, 16, 3, 0.3, 0.5, 1.5), lrn_spec(5, 5, 5, 7, 0.1, 1.0, 2.0),
          lrn_spec(3, 3, 16, 5, 1e-4, 0.75, 2.0)};  // AlexNet's constants
}

inline KernelSpec zero_pad_spec(int64_t h, int64_t w, int64_t c, int64_t top, int64_t bottom,
                                int64_t left, int64_t right) {
  KernelSpec s;
  s.kind = Kind::ZeroPad;
  s.in_h = h, s.in_w = w, s.in_c = s.out_c = c;
  s.out_h = h + top + bottom, s.out_w = w + left + right, s.pad_top = top, s.pad_left = left;
  return s;
}

inline std::vector<KernelSpec> zero_pad_specs() {
  return {zero_pad_spec(5, 7, 3, 1, 2, 0, 3), zero_pad_spec(4, 3, 13, 2, 2, 1, 1),
          zero_pad_spec(3, 3, 16, 0, 1, 1, 0)};
}

inline KernelSpec with_kind(KernelSpec s, Kind kind) {
  s.kind = kind;
  return s;
}

inline int64_t in_size(const KernelSpec& s, int64_t batch) {
  return batch * s.in_h * s.in_w * s.in_c;
}
inline int64_t out_size(const KernelSpec& s, int64_t batch) {
  return batch * s.out_h * s.out_w * s.out_c;
}

// Uniform in [-1, 1), reproducible.
inline Vec random_vec(int64_t size, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  Vec v(size);
  for (double& x : v) x = dist(gen);
  return v;
}

// Rounded to float: what a kernel sees, so that copies compare exactly.
inline Vec as_floats(Vec v) {
  for (double& x : v) x = static_cast<float>(x);
  return v;
}

// max |got - want| / max |want|  (0 when both are 0).
inline double relative_error(const Vec& got, const Vec& want) {
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  if (got.size() != want.size()) return INFINITY;
  return scale == 0.0 ? err : err / scale;
}

// Central differences of `loss` at `x`, one coordinate at a time.
template <typename F>
Vec numeric_gradient(Vec x, F loss, double h = 1e-6) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss(x);
    x[i] = saved - h;
    const double down = loss(x);
    x[i] = saved;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace cnnc::testing
