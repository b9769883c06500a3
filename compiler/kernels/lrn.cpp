// Local response normalisation across channels, images (c, x, y, n):
//   d_c = bias + alpha * sum_{j = c - size/2 .. c + size/2, 0 <= j < C} a_j^2
//   b_c = a_c * d_c^-beta
// and its gradient
//   da_j = dy_j * d_j^-beta - 2 alpha beta a_j * sum_{c in window(j)} dy_c b_c / d_c
// (the window is symmetric: j lies in c's window iff c lies in j's).
#include <cmath>
#include <stdexcept>

#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;

namespace {

void check_lrn(const KernelSpec& s) {
  detail::require(s, s.in_h >= 1 && s.in_w >= 1 && s.in_c >= 1, "every extent must be positive");
  detail::require(s, s.lrn_size >= 1, "lrn_size must be positive");
}

// x^-beta; the common exponents use square roots, which vectorise exactly.
Expr pow_neg(Expr x, double beta) {
  if (beta == 0.75) return 1.0f / (sqrt(x) * sqrt(sqrt(x)));
  if (beta == 0.5) return 1.0f / sqrt(x);
  if (beta == 1.0) return 1.0f / x;
  return pow(x, static_cast<float>(-beta));
}

// sum over the channel window of value(j, x, y, n), zero outside [0, C).
Expr window_sum(Func value, Var c, Var x, Var y, Var n, const KernelSpec& s) {
  const int half = static_cast<int>(s.lrn_size / 2), channels = static_cast<int>(s.in_c);
  RDom r(-half, 2 * half + 1, "lrn_window");
  Expr j = c + r;
  return sum(select(j >= 0 && j < channels, value(clamp(j, 0, channels - 1), x, y, n), 0.0f));
}

// Channels as the vector axis, rows of images in parallel; `per_pixel`
// Funcs (read at neighbouring channels) are computed per column, whole.
void schedule_lrn(Func out, const std::vector<Func>& per_pixel, const KernelSpec& s,
                  const Target& t) {
  Var c = out.args()[0], x = out.args()[1], y = out.args()[2], n = out.args()[3], yn("yn");
  const int lanes = channel_lanes(s.in_c, t);
  if (lanes > 0) out.vectorize(c, lanes, TailStrategy::GuardWithIf);
  out.fuse(y, n, yn).parallel(yn);
  for (Func f : per_pixel) {
    f.compute_at(out, x);
    if (lanes > 0) f.vectorize(f.args()[0], lanes, TailStrategy::GuardWithIf);
  }
}

}  // namespace

BuiltKernel build_lrn(const KernelSpec& s, const Target& t) {
  check_lrn(s);
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  Var c("c"), x("x"), y("y"), n("n");
  Func square("lrn_square"), output("output");
  square(c, x, y, n) = input(c, x, y, n) * input(c, x, y, n);
  Expr norm = static_cast<float>(s.lrn_bias) +
              static_cast<float>(s.lrn_alpha) * window_sum(square, c, x, y, n, s);
  output(c, x, y, n) = input(c, x, y, n) * pow_neg(norm, s.lrn_beta);
  constrain_output(output, {s.in_c, s.in_w, s.in_h}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(output);
  } else {
    schedule_lrn(output, {square}, s, t);
  }
  return detail::finish_kernel({input}, {output});
}

BuiltKernel build_lrn_backward(const KernelSpec& s, const Target& t) {
  check_lrn(s);
  const std::vector<int64_t> extents = {s.in_c, s.in_w, s.in_h};
  ImageParam input = make_input("input", extents, true);
  ImageParam output = make_input("output", extents, true);
  ImageParam d_output = make_input("d_output", extents, true);
  Var c("c"), x("x"), y("y"), n("n");
  Func square("lrn_square"), norm("lrn_norm"), ratio("lrn_ratio"), d_input("d_input");
  square(c, x, y, n) = input(c, x, y, n) * input(c, x, y, n);
  norm(c, x, y, n) = static_cast<float>(s.lrn_bias) +
                     static_cast<float>(s.lrn_alpha) * window_sum(square, c, x, y, n, s);
  ratio(c, x, y, n) = d_output(c, x, y, n) * output(c, x, y, n) / norm(c, x, y, n);
  const float two_alpha_beta = static_cast<float>(2.0 * s.lrn_alpha * s.lrn_beta);
  d_input(c, x, y, n) = d_output(c, x, y, n) * pow_neg(norm(c, x, y, n), s.lrn_beta) -
                        two_alpha_beta * input(c, x, y, n) * window_sum(ratio, c, x, y, n, s);
  constrain_output(d_input, extents, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(d_input);
  } else {
    schedule_lrn(d_input, {square, norm, ratio}, s, t);
  }
  return detail::finish_kernel({input, output, d_output}, {d_input});
}

}  // namespace cnnc::kernels
