// Conv2D and its two gradients. Layouts: images (c, x, y, n), weights
// (out_c, in_c, kx, ky). Out-of-range input cells read as zero ('same').
#include <algorithm>

#include "compiler/kernels/conv_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;
using detail::zero_padded;

namespace {

int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

// Register tile of output-channel vectors by weight-input-channels, the
// reduction over (x, y, n) just outside; parallel over (ci, kx, ky) tiles.
void schedule_conv2d_backward_filter(Func d_weights, Func acc, const RDom& r, Func d_bias,
                                     Func bias_acc, const RDom& rb, const KernelSpec& s,
                                     const Target& t) {
  Var co = d_weights.args()[0], ci = d_weights.args()[1];
  Var kx = d_weights.args()[2], ky = d_weights.args()[3];
  Var coo("coo"), coi("coi"), cio("cio"), cii("cii"), task("task");
  const int lanes = channel_lanes(s.out_c, t);
  const int tile_ci = static_cast<int>(std::min<int64_t>(s.in_c, 4));
  if (lanes > 0) {
    const int tile_co = s.out_c >= 2 * lanes ? 2 * lanes : lanes;
    d_weights.split(co, coo, coi, tile_co, TailStrategy::ShiftInwards)
        .split(ci, cio, cii, tile_ci, TailStrategy::ShiftInwards)
        .reorder(coi, cii, coo, cio, kx, ky)
        .vectorize(coi, lanes)
        .unroll(cii);
    acc.compute_at(d_weights, coo).vectorize(co, lanes).unroll(ci);
    acc.update().reorder(co, ci, r.x, r.y, r.z, kx, ky).vectorize(co, lanes).unroll(ci);
  } else {
    d_weights.split(ci, cio, cii, tile_ci, TailStrategy::ShiftInwards)
        .reorder(co, cii, cio, kx, ky);
    acc.update().reorder(co, ci, r.x, r.y, r.z, kx, ky);
  }
  d_weights.fuse(cio, kx, task).fuse(task, ky, task).parallel(task);
  if (lanes == 0) acc.compute_at(d_weights, task);
  if (d_bias.defined()) {
    Var c = d_bias.args()[0], o("o"), i("i");
    if (lanes > 0) {
      d_bias.split(c, o, i, lanes, TailStrategy::ShiftInwards).vectorize(i);
      bias_acc.compute_at(d_bias, o).vectorize(c);
      bias_acc.update().reorder(c, rb.x, rb.y, rb.z).vectorize(c);
    } else {
      bias_acc.compute_root();
    }
  }
}

}  // namespace

BuiltKernel build_conv2d(const KernelSpec& s, const Target& t) {
  detail::check_window(s);
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  ImageParam weights = make_input("weights", {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, false);
  std::vector<ImageParam> inputs = {input, weights};
  Var c("c"), x("x"), y("y"), n("n");
  Func acc("conv_acc"), output("output");
  if (s.use_bias) {
    ImageParam bias = make_input("bias", {s.out_c}, false);
    inputs.push_back(bias);
    acc(c, x, y, n) = bias(c);
  } else {
    acc(c, x, y, n) = 0.0f;
  }
  RDom r(0, static_cast<int>(s.in_c), 0, static_cast<int>(s.kernel_w), 0,
         static_cast<int>(s.kernel_h), "r");
  // The input shifted by the padding: padded(c, x, y) reads input(c, x -
  // pad_left, y - pad_top), zero outside. A copy only when a window crosses
  // the border.
  const int pl = static_cast<int>(s.pad_left), pt = static_cast<int>(s.pad_top);
  const bool needs_padding = pl > 0 || pt > 0 || (s.out_w - 1) * s.stride_w + s.kernel_w > s.in_w ||
                             (s.out_h - 1) * s.stride_h + s.kernel_h > s.in_h;
  Func padded("padded_input");
  if (needs_padding) {
    padded(c, x, y, n) = zero_padded(input, c, x - pl, y - pt, n, s.in_w, s.in_h);
  } else {
    padded(c, x, y, n) = input(c, x, y, n);
  }
  Expr ix = x * static_cast<int>(s.stride_w) + r.y;
  Expr iy = y * static_cast<int>(s.stride_h) + r.z;
  acc(c, x, y, n) += weights(c, r.x, r.y, r.z) * padded(r.x, ix, iy, n);
  output(c, x, y, n) = detail::apply_act(acc(c, x, y, n), s.act);
  constrain_output(output, {s.out_c, s.out_w, s.out_h}, true);
  detail::schedule_conv_forward(output, acc, padded, needs_padding, weights, {r.x, r.y, r.z}, s, t);
  return detail::finish_kernel(inputs, {output});
}

// d_input(ci, ix, iy) gathers every (output cell, kernel tap) that read it:
// with ty = iy + pad_top, the taps are ky = ty % sh + ry * sh for the output
// row oy = ty / sh - ry (ry = 0 .. ceil(kh / sh) - 1); taps past the kernel
// read zero weights, rows past the output read zero gradients.
BuiltKernel build_conv2d_backward_data(const KernelSpec& s, const Target& t) {
  detail::check_window(s);
  ImageParam d_output = make_input("d_output", {s.out_c, s.out_w, s.out_h}, true);
  ImageParam weights = make_input("weights", {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, false);
  const int kw = static_cast<int>(s.kernel_w), kh = static_cast<int>(s.kernel_h);
  const int sw = static_cast<int>(s.stride_w), sh = static_cast<int>(s.stride_h);
  Var c("c"), x("x"), y("y"), n("n"), co("co"), kx("kx"), ky("ky");
  // Weights transposed to (in_c, out_c, kx, ky) so in_c is the vector axis.
  Func weights_t("weights_t");
  weights_t(c, co, kx, ky) =
      select(kx < kw && ky < kh, weights(co, c, min(kx, kw - 1), min(ky, kh - 1)), 0.0f);
  RDom r(0, static_cast<int>(s.out_c), 0, ceil_div(kw, sw), 0, ceil_div(kh, sh), "r");
  Expr tx = x + static_cast<int>(s.pad_left), ty = y + static_cast<int>(s.pad_top);
  Expr tap_x = tx % sw + r.y * sw, tap_y = ty % sh + r.z * sh;
  Expr ox = tx / sw - r.y, oy = ty / sh - r.z;
  Func acc("conv_bwd_data_acc"), d_input("d_input");
  acc(c, x, y, n) = 0.0f;
  acc(c, x, y, n) +=
      weights_t(c, r.x, tap_x, tap_y) * zero_padded(d_output, r.x, ox, oy, n, s.out_w, s.out_h);
  d_input(c, x, y, n) = acc(c, x, y, n);
  constrain_output(d_input, {s.in_c, s.in_w, s.in_h}, true);
  // Schedule: the transposed weights once, then the tiled accumulation.
  weights_t.compute_root();
  const int lanes = channel_lanes(s.in_c, t);
  if (lanes > 0) weights_t.vectorize(c, lanes, TailStrategy::ShiftInwards);
  detail::schedule_tiled_accumulation(d_input, acc, {r.x, r.y, r.z}, s.in_c, s.in_w, t);
  return detail::finish_kernel({d_output, weights}, {d_input});
}

BuiltKernel build_conv2d_backward_filter(const KernelSpec& s, const Target& t) {
  detail::check_window(s);
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  ImageParam d_output = make_input("d_output", {s.out_c, s.out_w, s.out_h}, true);
  Expr batch = d_output.dim(3).extent();
  Var co("co"), ci("ci"), kx("kx"), ky("ky");
  RDom r(0, static_cast<int>(s.out_w), 0, static_cast<int>(s.out_h), 0, batch, "r");
  Expr ix = r.x * static_cast<int>(s.stride_w) + kx - static_cast<int>(s.pad_left);
  Expr iy = r.y * static_cast<int>(s.stride_h) + ky - static_cast<int>(s.pad_top);
  Func acc("conv_bwd_filter_acc"), d_weights("d_weights");
  acc(co, ci, kx, ky) = 0.0f;
  acc(co, ci, kx, ky) +=
      d_output(co, r.x, r.y, r.z) * zero_padded(input, ci, ix, iy, r.z, s.in_w, s.in_h);
  d_weights(co, ci, kx, ky) = acc(co, ci, kx, ky);
  constrain_output(d_weights, {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, false);
  std::vector<Func> outputs = {d_weights};
  Func bias_acc("conv_bwd_bias_acc"), d_bias;
  RDom rb(0, static_cast<int>(s.out_w), 0, static_cast<int>(s.out_h), 0, batch, "rb");
  if (s.use_bias) {
    d_bias = Func("d_bias");
    bias_acc(co) = 0.0f;
    bias_acc(co) += d_output(co, rb.x, rb.y, rb.z);
    d_bias(co) = bias_acc(co);
    constrain_output(d_bias, {s.out_c}, false);
    outputs.push_back(d_bias);
  }
  schedule_conv2d_backward_filter(d_weights, acc, r, d_bias, bias_acc, rb, s, t);
  return detail::finish_kernel({input, d_output}, outputs);
}

}  // namespace cnnc::kernels
