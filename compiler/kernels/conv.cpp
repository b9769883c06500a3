// Conv2D and its two gradients. Layouts: images (c, x, y, n), weights
// (out_c, in_c, kx, ky). Out-of-range input cells read as zero ('same').
#include <algorithm>

#include "compiler/kernels/conv_schedule.h"
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;
using detail::zero_padded;

namespace {

int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

// DirectPacked's weights: blocks of `packed_block` output channels (one
// vector), each holding weights(c, ci, kx, ky) with c innermost, then ci, kx,
// ky: the order in which the direct schedules' reduction reads them, so that
// each channel vector's weights stream contiguously from memory (read in
// place, a tile's rows lie out_c floats apart, on many pages).
int packed_block(const Target& t) { return t.natural_vector_size<float>() >= 16 ? 16 : 8; }

Expr packed_index(const KernelSpec& s, int block, Expr c, Expr ci, Expr kx, Expr ky) {
  const int in_c = static_cast<int>(s.in_c), kw = static_cast<int>(s.kernel_w);
  const int kh = static_cast<int>(s.kernel_h);
  return c % block + block * (ci + in_c * (kx + kw * (ky + kh * (c / block))));
}

// Register tile of output-channel vectors (fewer than 8 channels: one
// 8-lane vector over a zero-extended d_output) by up to 6 input channels, the
// reduction over (x, y, n) just outside; parallel over (ci, kx, ky) tiles.
void schedule_conv2d_backward_filter(Func d_weights, Func acc, const RDom& r, Func d_bias,
                                     Func bias_acc, const RDom& rb, const KernelSpec& s,
                                     const Target& t) {
  Var co = d_weights.args()[0], ci = d_weights.args()[1];
  Var kx = d_weights.args()[2], ky = d_weights.args()[3];
  Var coo("coo"), coi("coi"), cio("cio"), cii("cii"), task("task");
  const bool few = channel_lanes(s.out_c, t) == 0;
  const int lanes = few ? 8 : channel_lanes(s.out_c, t);
  const int vectors = s.out_c >= 3 * lanes ? 3 : s.out_c >= 2 * lanes ? 2 : 1;
  const int tile_co = vectors * lanes;
  const int tile_ci = static_cast<int>(std::min<int64_t>(s.in_c, 6));
  const TailStrategy tail = few ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
  // Too few accumulators for the FMA latency: kernel columns join the tile.
  const bool tile_kx = vectors * tile_ci < 4 && s.kernel_w <= 8;
  d_weights.split(co, coo, coi, tile_co, tail)
      .split(ci, cio, cii, tile_ci, TailStrategy::ShiftInwards)
      .vectorize(coi, lanes, tail)
      .unroll(cii);
  const TailStrategy acc_tail = few ? TailStrategy::RoundUp : TailStrategy::Auto;
  acc.compute_at(d_weights, coo).vectorize(co, lanes, acc_tail).unroll(ci);
  if (tile_kx) {
    d_weights.reorder(coi, cii, kx, coo, cio, ky).unroll(kx);
    d_weights.fuse(cio, ky, task).parallel(task);
    acc.unroll(kx);
    acc.update().reorder(co, ci, kx, r.x, r.y, r.z, ky).unroll(kx);
  } else {
    d_weights.reorder(coi, cii, coo, cio, kx, ky);
    d_weights.fuse(cio, kx, task).fuse(task, ky, task).parallel(task);
    acc.update().reorder(co, ci, r.x, r.y, r.z, kx, ky);
  }
  acc.update().vectorize(co, lanes, acc_tail).unroll(ci);
  if (d_bias.defined()) {
    Var c = d_bias.args()[0], o("o"), i("i");
    if (!few) {
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
  detail::check_pixel_strides(s);
  ImageParam input =
      detail::make_strided_input("input", {s.in_c, s.in_w, s.in_h}, true, s.in_pixel_stride);
  const bool packed = s.conv_algo == ConvAlgo::DirectPacked;
  ImageParam weights =
      packed ? make_input("weights", {winograd_weight_floats(s)}, false)
             : make_input("weights", {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, false);
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
  Expr residual = 0.0f;
  if (s.residual) {
    ImageParam r = detail::make_strided_input("residual", {s.out_c, s.out_w, s.out_h}, true,
                                              s.residual_pixel_stride);
    inputs.push_back(r);
    residual = r(c, x, y, n);
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
  const int sw = static_cast<int>(s.stride_w), sh = static_cast<int>(s.stride_h);
  // A strided 1x1 convolution reads a quarter (or less) of its input: copy
  // that part densely first, so the tiles read contiguous pixels.
  const bool subsample = !needs_padding && s.kernel_w == 1 && s.kernel_h == 1 && sw * sh > 1;
  Expr ix = x * sw + r.y, iy = y * sh + r.z;
  if (needs_padding) {
    padded(c, x, y, n) = zero_padded(input, c, x - pl, y - pt, n, s.in_w, s.in_h);
  } else if (subsample) {
    padded(c, x, y, n) = input(c, x * sw, y * sh, n);
    ix = x, iy = y;
  } else {
    padded(c, x, y, n) = input(c, x, y, n);
  }
  Expr weight = packed ? weights(packed_index(s, packed_block(t), c, r.x, r.y, r.z))
                       : weights(c, r.x, r.y, r.z);
  acc(c, x, y, n) += weight * padded(r.x, ix, iy, n);
  output(c, x, y, n) = detail::apply_act(acc(c, x, y, n) + residual, s.act);
  constrain_output(output, {s.out_c, s.out_w, s.out_h}, true, s.out_pixel_stride);
  detail::require(s, s.schedule.algorithm.empty() || detail::autoscheduled(s),
                  "unknown schedule algorithm");
  std::string how = "autoscheduled " + s.schedule.algorithm;
  if (detail::is_gpu(t)) {
    detail::gpu_conv_forward(output, acc, {r.x, r.y, r.z}, s);
    how = "gpu direct";
  } else if (!detail::autoscheduled(s)) {
    // Packed weights are read in place; else each channel tile copies its own.
    how = detail::schedule_conv_forward(output, acc, padded, needs_padding || subsample,
                                        packed ? Func() : weights.in(), {r.x, r.y, r.z}, s, t);
    if (packed) how += ", packed weights";
  }
  BuiltKernel k = detail::finish_kernel(inputs, {output});
  k.schedule = how;
  return k;
}

// The weights in DirectPacked's order (packed_index); channels past out_c
// (the last block rounded up) are zero.
BuiltKernel build_packed_conv_weights(const KernelSpec& spec, const Target& t) {
  KernelSpec s = spec;
  s.kind = Kind::Conv2D;  // the convolution whose weights these are
  detail::check_window(s);
  ImageParam weights = make_input("weights", {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, false);
  const int block = packed_block(t), in_c = static_cast<int>(s.in_c);
  const int kw = static_cast<int>(s.kernel_w), kh = static_cast<int>(s.kernel_h);
  const int out_c = static_cast<int>(s.out_c);
  Var e("e"), eo("eo"), ei("ei");
  // e = cc + block * (ci + in_c * (kx + kw * (ky + kh * cb))), c = cb * block + cc.
  Expr rest = e / block;
  Expr c = rest / (in_c * kw * kh) * block + e % block;
  Func packed("transformed");
  packed(e) = select(
      c < out_c, weights(min(c, out_c - 1), rest % in_c, rest / in_c % kw, rest / (in_c * kw) % kh),
      0.0f);
  detail::constrain_output(packed, {winograd_weight_floats(s)}, false);
  if (!detail::is_gpu(t)) {
    packed.split(e, eo, ei, block, TailStrategy::GuardWithIf)
        .vectorize(ei)
        .parallel(eo, 256, TailStrategy::GuardWithIf);
  } else {
    detail::gpu_pointwise(packed, {});
  }
  BuiltKernel k = detail::finish_kernel({weights}, {packed});
  k.schedule = "packed conv weights, blocks of " + std::to_string(block);
  return k;
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
  const int rx = ceil_div(kw, sw), ry = ceil_div(kh, sh);
  RDom r(0, static_cast<int>(s.out_c), 0, rx, 0, ry, "r");
  Expr tx = x + static_cast<int>(s.pad_left), ty = y + static_cast<int>(s.pad_top);
  Expr tap_x = tx % sw + r.y * sw, tap_y = ty % sh + r.z * sh;
  // d_output shifted by (rx - 1, ry - 1) so that every index read is >= 0;
  // zero outside. A copy only when some read falls outside.
  const bool needs_padding = rx > 1 || ry > 1 || (s.in_w - 1 + s.pad_left) / sw > s.out_w - 1 ||
                             (s.in_h - 1 + s.pad_top) / sh > s.out_h - 1;
  Func padded("padded_d_output");
  if (needs_padding) {
    padded(c, x, y, n) = zero_padded(d_output, c, x - (rx - 1), y - (ry - 1), n, s.out_w, s.out_h);
  } else {
    padded(c, x, y, n) = d_output(c, x, y, n);
  }
  Expr ox = tx / sw - r.y + (rx - 1), oy = ty / sh - r.z + (ry - 1);
  Func acc("conv_bwd_data_acc"), d_input("d_input");
  acc(c, x, y, n) = 0.0f;
  acc(c, x, y, n) += weights_t(c, r.x, tap_x, tap_y) * padded(r.x, ox, oy, n);
  d_input(c, x, y, n) = acc(c, x, y, n);
  constrain_output(d_input, {s.in_c, s.in_w, s.in_h}, true);
  // Schedule: the transposed weights once, then the forward convolution's
  // schedule for the equivalent convolution (in_c outputs over in_w x in_h).
  KernelSpec equiv = s;
  equiv.out_c = s.in_c, equiv.out_w = s.in_w, equiv.out_h = s.in_h;
  equiv.in_c = s.out_c, equiv.in_w = s.out_w, equiv.in_h = s.out_h;
  equiv.kernel_w = rx, equiv.kernel_h = ry, equiv.stride_w = equiv.stride_h = 1;
  equiv.schedule = {};
  std::string how = "gpu direct";
  if (detail::is_gpu(t)) {
    detail::gpu_root(weights_t);
    detail::gpu_conv_forward(d_input, acc, {r.x, r.y, r.z}, equiv);
  } else {
    weights_t.compute_root();
    const int lanes = channel_lanes(s.in_c, t);
    if (lanes > 0) weights_t.vectorize(c, lanes, TailStrategy::ShiftInwards);
    how = detail::schedule_conv_forward(d_input, acc, padded, needs_padding, Func(),
                                        {r.x, r.y, r.z}, equiv, t);
  }
  BuiltKernel k = detail::finish_kernel({d_output, weights}, {d_input});
  k.schedule = how;
  return k;
}

BuiltKernel build_conv2d_backward_filter(const KernelSpec& s, const Target& t) {
  detail::check_window(s);
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  ImageParam d_output = make_input("d_output", {s.out_c, s.out_w, s.out_h}, true);
  Expr batch = d_output.dim(3).extent();
  Var co("co"), ci("ci"), kx("kx"), ky("ky");
  RDom r(0, static_cast<int>(s.out_w), 0, static_cast<int>(s.out_h), 0, batch, "r");
  // The input zero-bordered (a copy, when a window crosses the border) and,
  // with fewer than 8 output channels, d_output zero-extended to 8 of them
  // (on a GPU both are read inline).
  const int pl = static_cast<int>(s.pad_left), pt = static_cast<int>(s.pad_top);
  const bool needs_padding = pl > 0 || pt > 0 || (s.out_w - 1) * s.stride_w + s.kernel_w > s.in_w ||
                             (s.out_h - 1) * s.stride_h + s.kernel_h > s.in_h;
  Var c("c"), x("x"), y("y"), n("n");
  Func padded("padded_input"), dout("d_output_lanes");
  if (needs_padding) {
    padded(c, x, y, n) = zero_padded(input, c, x - pl, y - pt, n, s.in_w, s.in_h);
    const int lanes = channel_lanes(s.in_c, t);
    if (!detail::is_gpu(t)) padded.compute_root().parallel(y);
    if (!detail::is_gpu(t) && lanes > 0) padded.vectorize(c, lanes, TailStrategy::GuardWithIf);
  } else {
    padded(c, x, y, n) = input(c, x, y, n);
  }
  const bool few = channel_lanes(s.out_c, t) == 0;
  if (few) {
    const int oc = static_cast<int>(s.out_c);
    dout(c, x, y, n) = select(c < oc, d_output(min(c, oc - 1), x, y, n), 0.0f);
    if (!detail::is_gpu(t)) dout.compute_root().bound(c, 0, 8).vectorize(c, 8).parallel(y);
  } else {
    dout(c, x, y, n) = d_output(c, x, y, n);
  }
  Expr ix = r.x * static_cast<int>(s.stride_w) + kx;
  Expr iy = r.y * static_cast<int>(s.stride_h) + ky;
  Func acc("conv_bwd_filter_acc"), d_weights("d_weights");
  acc(co, ci, kx, ky) = 0.0f;
  acc(co, ci, kx, ky) += dout(co, r.x, r.y, r.z) * padded(ci, ix, iy, r.z);
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
  if (detail::is_gpu(t)) {
    detail::gpu_weight_gradient(d_weights, acc, {r.x, r.y, r.z}, s.out_c, s.in_c);
    if (d_bias.defined()) detail::gpu_pointwise(d_bias, {bias_acc});
  } else {
    schedule_conv2d_backward_filter(d_weights, acc, r, d_bias, bias_acc, rb, s, t);
  }
  return detail::finish_kernel({input, d_output}, outputs);
}

}  // namespace cnnc::kernels
