// Kernels that only move data, images (c, x, y, n): zero padding and its
// gradient (the crop), and the channel copy behind Concatenate.
#include <stdexcept>

#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;

namespace {

void check_zero_pad(const KernelSpec& s) {
  detail::require(s, s.in_h >= 1 && s.in_w >= 1 && s.in_c >= 1, "every extent must be positive");
  detail::require(s, s.in_c == s.out_c, "in_c must equal out_c");
  detail::require(s, s.pad_top >= 0 && s.pad_left >= 0, "padding must not be negative");
  detail::require(s, s.out_h >= s.in_h + s.pad_top && s.out_w >= s.in_w + s.pad_left,
                  "output smaller than the input and the padding before it");
}

// Channels as the vector axis (columns when channels are few), blocks of
// rows of images in parallel.
void schedule_image_copy(Func out, int64_t channels, int64_t width, const Target& t) {
  Var c = out.args()[0], x = out.args()[1], y = out.args()[2], n = out.args()[3];
  const int lanes = channel_lanes(channels, t);
  if (lanes > 0) {
    out.vectorize(c, lanes, TailStrategy::ShiftInwards);
  } else if (width >= 8) {
    out.reorder(x, c, y, n).vectorize(x, 8, TailStrategy::ShiftInwards);
  }
  detail::parallel_row_blocks(out, y, n, width * channels);
}

// A 4-d (channels, w, h, n) buffer, min 0, whose pixels are `total`
// channels apart: a window of channels of a larger NHWC tensor.
template <typename P>
void constrain_channel_window(P p, const KernelSpec& s, int64_t total) {
  const int w = static_cast<int>(s.in_w), h = static_cast<int>(s.in_h);
  const int stride = static_cast<int>(total);
  p.dim(0).set_bounds(0, static_cast<int>(s.channels)).set_stride(1);
  p.dim(1).set_bounds(0, w).set_stride(stride);
  p.dim(2).set_bounds(0, h).set_stride(stride * w);
  p.dim(3).set_min(0).set_stride(stride * w * h);
}

}  // namespace

BuiltKernel build_zero_pad(const KernelSpec& s, const Target& t) {
  check_zero_pad(s);
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  Var c("c"), x("x"), y("y"), n("n");
  Func output("output");
  output(c, x, y, n) = detail::zero_padded(input, c, x - static_cast<int>(s.pad_left),
                                           y - static_cast<int>(s.pad_top), n, s.in_w, s.in_h);
  constrain_output(output, {s.out_c, s.out_w, s.out_h}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(output);
  } else {
    schedule_image_copy(output, s.out_c, s.out_w, t);
  }
  return detail::finish_kernel({input}, {output});
}

BuiltKernel build_zero_pad_backward(const KernelSpec& s, const Target& t) {
  check_zero_pad(s);
  ImageParam d_output = make_input("d_output", {s.out_c, s.out_w, s.out_h}, true);
  Var c("c"), x("x"), y("y"), n("n");
  Func d_input("d_input");
  d_input(c, x, y, n) =
      d_output(c, x + static_cast<int>(s.pad_left), y + static_cast<int>(s.pad_top), n);
  constrain_output(d_input, {s.in_c, s.in_w, s.in_h}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(d_input);
  } else {
    schedule_image_copy(d_input, s.in_c, s.in_w, t);
  }
  return detail::finish_kernel({d_output}, {d_input});
}

BuiltKernel build_channel_copy(const KernelSpec& s, const Target& t) {
  detail::require(s, s.in_h >= 1 && s.in_w >= 1 && s.channels >= 1 && s.channels <= s.in_c &&
                         s.channels <= s.out_c,
                  "need positive extents and 1 <= channels <= in_c, out_c");
  ImageParam input(Float(32), 4, "input");
  constrain_channel_window(input, s, s.in_c);
  Var c("c"), x("x"), y("y"), n("n");
  Func output("output");
  // An activation on the copy serves the slices of merged convolutions.
  output(c, x, y, n) = detail::apply_act(input(c, x, y, n), s.act);
  constrain_channel_window(output.output_buffer(), s, s.out_c);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(output);
  } else {
    schedule_image_copy(output, s.channels, s.in_w, t);
  }
  return detail::finish_kernel({input}, {output});
}

}  // namespace cnnc::kernels
