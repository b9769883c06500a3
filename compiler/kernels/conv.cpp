// Conv2D, its packed weights and its data gradient (the filter gradient:
// conv_backward_filter.cpp). Layouts: images (c, x, y, n), weights
// (out_c, in_c, kx, ky). Out-of-range input cells read as zero ('same').
#include <algorithm>
#include <string>

#include "compiler/kernels/conv_schedule.h"
#include "compiler/kernels/conv_strided_1x1.h"
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::ceil_div;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;
using detail::zero_padded;

namespace {

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
  // A strided 1x1 convolution reads a quarter (or less) of its input: with
  // many output channels (many channel tiles reading each pixel), copy that
  // part densely first, so the tiles read contiguous pixels. With fewer, the
  // copy costs more than it saves (measured: 128 channels, 14x14, batch 32:
  // 13% slower; 512 channels, 7x7, batch 1: 5% faster).
  const bool strided_1x1 = !packed && detail::strided_1x1(s, t);
  const bool subsample = !strided_1x1 && !needs_padding && s.kernel_w == 1 && s.kernel_h == 1 &&
                         sw * sh > 1 && s.out_c >= 512;
  Expr ix = x * sw + r.y, iy = y * sh + r.z;
  // Kernel rows that fall on the zero border add nothing: skipped (a small
  // image with a large kernel has many, e.g. 1 in 6 at 7x7, 5x5), unless the
  // schedule unrolls rows inside the reduction (few channels). Likewise the
  // kernel columns on the border (at 7x7, 5x5: 1 tap in 6), where the
  // schedule unrolls them and the row (the predicate then folds). With both,
  // no tap reads the border: the input is read in place (clamped only to
  // keep the reads in bounds), not copied (7x7x64: 5% faster on one thread,
  // and a parallel loop fewer).
  const bool skip_rows = needs_padding && !detail::is_gpu(t) &&
                         detail::choose_conv_tile(s.out_c, s.out_w, t).lanes > 0;
  const bool skip_columns = needs_padding && detail::unrolls_kernel_columns(s, t);
  const bool in_place = skip_rows && skip_columns;
  if (in_place) {
    const int w = static_cast<int>(s.in_w), h = static_cast<int>(s.in_h);
    padded(c, x, y, n) = input(c, clamp(x - pl, 0, w - 1), clamp(y - pt, 0, h - 1), n);
  } else if (needs_padding) {
    padded(c, x, y, n) = zero_padded(input, c, x - pl, y - pt, n, s.in_w, s.in_h);
  } else if (subsample) {
    padded(c, x, y, n) = input(c, x * sw, y * sh, n);
    ix = x, iy = y;
  } else {
    padded(c, x, y, n) = input(c, x, y, n);
  }
  if (skip_rows) r.where(iy >= pt && iy < static_cast<int>(s.in_h) + pt);
  if (skip_columns) r.where(ix >= pl && ix < static_cast<int>(s.in_w) + pl);
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
  } else if (strided_1x1) {
    how = detail::schedule_strided_1x1_forward(output, acc, {r.x, r.y, r.z}, s, t);
  } else if (!detail::autoscheduled(s)) {
    // Packed weights are read in place; else each channel tile copies its own.
    how = detail::schedule_conv_forward(output, acc, padded,
                                        (needs_padding && !in_place) || subsample,
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
  if (detail::strided_1x1(s, t)) return detail::build_strided_1x1_backward_data(s, t);
  detail::require(s, s.pair_out_c == 0,
                  "a pair of data gradients needs strided 1x1 convolutions on a CPU");
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
  Expr ox = tx / sw - r.y + (rx - 1), oy = ty / sh - r.z + (ry - 1);
  // The forward convolution this gradient's schedule treats it as: in_c
  // outputs over in_w x in_h, from out_c channels, stride 1.
  KernelSpec equiv = s;
  equiv.out_c = s.in_c, equiv.out_w = s.in_w, equiv.out_h = s.in_h;
  equiv.in_c = s.out_c, equiv.in_w = s.out_w, equiv.in_h = s.out_h;
  equiv.kernel_w = rx, equiv.kernel_h = ry, equiv.stride_w = equiv.stride_h = 1;
  equiv.schedule = {};
  // A strided 1x1 convolution without padding: only the pixels it read get
  // a gradient, a matrix product over the output pixels; the others are 0.
  // (Gathered as below, 3 of 4 pixels would multiply zero weights.)
  const bool scatter = !detail::is_gpu(t) && kw == 1 && kh == 1 && sw * sh > 1 && s.in_c >= 8 &&
                       s.pad_left == 0 && s.pad_top == 0;
  // d_output shifted by (rx - 1, ry - 1) so that every index read is >= 0;
  // zero outside. A copy only when some read falls outside.
  const bool needs_padding = rx > 1 || ry > 1 || (s.in_w - 1 + s.pad_left) / sw > s.out_w - 1 ||
                             (s.in_h - 1 + s.pad_top) / sh > s.out_h - 1;
  // As in the forward kernel: the taps on d_output's zero border skipped,
  // its rows, and its columns where the schedule unrolls the row and the
  // taps (the predicate then folds away; at 7x7x64, 18% faster). With both,
  // no tap reads the border: d_output is read in place (clamped only to
  // keep the reads in bounds), not copied.
  const bool skip_rows = !scatter && !detail::is_gpu(t) && needs_padding && sh == 1 &&
                         detail::choose_conv_tile(s.in_c, s.in_w, t).lanes > 0;
  const bool skip_columns = !scatter && needs_padding && detail::unrolls_kernel_columns(equiv, t);
  const bool in_place = skip_rows && skip_columns;
  Func padded("padded_d_output");
  if (in_place) {
    const int w = static_cast<int>(s.out_w), h = static_cast<int>(s.out_h);
    padded(c, x, y, n) =
        d_output(c, clamp(x - (rx - 1), 0, w - 1), clamp(y - (ry - 1), 0, h - 1), n);
  } else if (needs_padding) {
    padded(c, x, y, n) = zero_padded(d_output, c, x - (rx - 1), y - (ry - 1), n, s.out_w, s.out_h);
  } else {
    padded(c, x, y, n) = d_output(c, x, y, n);
  }
  Func acc("conv_bwd_data_acc"), d_input("d_input");
  Func product("conv_bwd_data_product");
  if (scatter) {
    acc(c, x, y, n) = 0.0f;
    acc(c, x, y, n) += weights_t(c, r.x, r.y, r.z) * d_output(r.x, x + r.y, y + r.z, n);
    product(c, x, y, n) = acc(c, x, y, n);
    const int last_x = static_cast<int>(s.out_w) - 1, last_y = static_cast<int>(s.out_h) - 1;
    d_input(c, x, y, n) = select(x % sw == 0 && y % sh == 0,
                                 product(c, min(x / sw, last_x), min(y / sh, last_y), n), 0.0f);
  } else {
    if (skip_rows) r.where(ty - r.z >= 0 && ty - r.z < static_cast<int>(s.out_h));
    if (skip_columns) r.where(tx / sw - r.y >= 0 && tx / sw - r.y < static_cast<int>(s.out_w));
    acc(c, x, y, n) = 0.0f;
    acc(c, x, y, n) += weights_t(c, r.x, tap_x, tap_y) * padded(r.x, ox, oy, n);
    d_input(c, x, y, n) = acc(c, x, y, n);
  }
  constrain_output(d_input, {s.in_c, s.in_w, s.in_h}, true);
  // Schedule: the transposed weights once, then the forward convolution's
  // schedule for the equivalent convolution.
  std::string how = "gpu direct";
  if (detail::is_gpu(t)) {
    detail::gpu_root(weights_t);
    detail::gpu_conv_forward(d_input, acc, {r.x, r.y, r.z}, equiv);
  } else if (scatter) {
    weights_t.compute_root();
    const int lanes = channel_lanes(s.in_c, t);
    if (lanes > 0) weights_t.vectorize(c, lanes, TailStrategy::ShiftInwards);
    // The product: a 1x1 convolution from out_c to in_c channels over the
    // output pixels.
    equiv.in_w = equiv.out_w = s.out_w, equiv.in_h = equiv.out_h = s.out_h;
    equiv.pad_left = equiv.pad_top = 0;
    product.compute_root();
    how = detail::schedule_conv_forward(product, acc, Func(d_output), false, Func(),
                                        {r.x, r.y, r.z}, equiv, t) +
          ", scattered";
    detail::parallel_row_blocks(d_input, y, n, s.in_w * s.in_c);
    if (lanes > 0) d_input.vectorize(c, lanes, TailStrategy::GuardWithIf);
  } else {
    weights_t.compute_root();
    const int lanes = channel_lanes(s.in_c, t);
    if (lanes > 0) weights_t.vectorize(c, lanes, TailStrategy::ShiftInwards);
    how = detail::schedule_conv_forward(d_input, acc, padded, needs_padding && !in_place, Func(),
                                        {r.x, r.y, r.z}, equiv, t);
  }
  BuiltKernel k = detail::finish_kernel({d_output, weights}, {d_input});
  k.schedule = how;
  return k;
}

}  // namespace cnnc::kernels
