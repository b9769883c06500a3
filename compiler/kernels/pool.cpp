// Max and average pooling and their gradients, images (c, x, y, n). Max
// ignores padded cells; average divides by the number of real cells.
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;

namespace {

// What padded cells hold for max pooling: the lowest finite float, so that
// any real cell wins.
Expr lowest() { return Float(32).min(); }

// Number of real cells in the window that starts at (x0, y0).
Expr real_cells(Expr x0, Expr y0, const KernelSpec& s) {
  const int kw = static_cast<int>(s.kernel_w), kh = static_cast<int>(s.kernel_h);
  Expr rows = min(y0 + kh, static_cast<int>(s.in_h)) - max(y0, 0);
  Expr cols = min(x0 + kw, static_cast<int>(s.in_w)) - max(x0, 0);
  return cast<float>(rows * cols);
}

// Below a full vector of channels, 4 to 7 channels (LeNet-5's 6) still make
// one short vector of them: contiguous loads and stores, where a vector of
// columns would gather every 2 * channels floats.
bool short_channel_vector(int64_t channels, const Target& t) {
  return channel_lanes(channels, t) == 0 && channels >= 4;
}

// Channels as the vector axis (or columns when channels are few), parallel
// over blocks of rows.
void schedule_pool2d(Func out, const KernelSpec& s, const Target& t) {
  Var c = out.args()[0], x = out.args()[1], y = out.args()[2], n = out.args()[3];
  const int lanes = channel_lanes(s.out_c, t);
  if (lanes > 0) {
    out.vectorize(c, lanes, TailStrategy::ShiftInwards);
  } else if (short_channel_vector(s.out_c, t)) {
    out.vectorize(c, static_cast<int>(s.out_c));
  } else if (s.out_w >= 8) {
    out.reorder(x, c, y, n).vectorize(x, 8, TailStrategy::ShiftInwards);
  }
  // A row's work: each output reads a window of cells (a global pooling's
  // one row reads the whole image).
  detail::parallel_row_blocks(out, y, n, s.out_w * s.out_c * s.kernel_w * s.kernel_h);
}

// The window argmax once per block of channels and input row.
void schedule_pool2d_backward(Func d_input, Func argmax, const KernelSpec& s, const Target& t) {
  Var c = d_input.args()[0], x = d_input.args()[1], y = d_input.args()[2], n = d_input.args()[3];
  Var co("co"), ci("ci");
  const int lanes = channel_lanes(s.in_c, t);
  if (lanes > 0) {
    d_input.split(c, co, ci, lanes, TailStrategy::ShiftInwards)
        .reorder(ci, x, co, y, n)
        .vectorize(ci);
    if (argmax.defined()) {
      argmax.compute_at(d_input, co).vectorize(argmax.args()[0]);
      argmax.update().vectorize(argmax.args()[0]);
    }
  }
  const bool short_vector = short_channel_vector(s.in_c, t);
  if (short_vector) d_input.vectorize(c, static_cast<int>(s.in_c));
  Var row = detail::parallel_row_blocks(d_input, y, n, s.in_w * s.in_c);
  if (lanes == 0 && argmax.defined()) {
    argmax.compute_at(d_input, row);
    if (short_vector) {
      argmax.vectorize(argmax.args()[0]);
      argmax.update().vectorize(argmax.args()[0]);
    }
  }
}

}  // namespace

BuiltKernel build_pool2d(const KernelSpec& s, const Target& t) {
  detail::check_window(s);
  if (s.in_c != s.out_c) throw std::invalid_argument("pool2d: in_c must equal out_c");
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  Var c("c"), x("x"), y("y"), n("n");
  RDom r(0, static_cast<int>(s.kernel_w), 0, static_cast<int>(s.kernel_h), "r");
  Expr x0 = x * static_cast<int>(s.stride_w) - static_cast<int>(s.pad_left);
  Expr y0 = y * static_cast<int>(s.stride_h) - static_cast<int>(s.pad_top);
  Expr ix = x0 + r.x, iy = y0 + r.y;
  Expr inside =
      ix >= 0 && ix < static_cast<int>(s.in_w) && iy >= 0 && iy < static_cast<int>(s.in_h);
  Expr value = input(c, clamp(ix, 0, static_cast<int>(s.in_w) - 1),
                     clamp(iy, 0, static_cast<int>(s.in_h) - 1), n);
  Func output("output");
  if (s.pool == PoolKind::Max) {
    output(c, x, y, n) = maximum(select(inside, value, lowest()));
  } else {
    output(c, x, y, n) = sum(select(inside, value, 0.0f)) / real_cells(x0, y0, s);
  }
  constrain_output(output, {s.out_c, s.out_w, s.out_h}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(output);
  } else {
    schedule_pool2d(output, s, t);
  }
  return detail::finish_kernel({input}, {output});
}

// Max: the gradient of each window goes to its first maximal real cell in
// row-major (h, then w) order. Avg: each real cell gets d_out / real cells.
// d_input gathers over the windows that hold it, as in conv backward data.
BuiltKernel build_pool2d_backward(const KernelSpec& s, const Target& t) {
  detail::check_window(s);
  if (s.in_c != s.out_c) throw std::invalid_argument("pool2d_backward: in_c must equal out_c");
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  ImageParam d_output = make_input("d_output", {s.out_c, s.out_w, s.out_h}, true);
  const int kw = static_cast<int>(s.kernel_w), kh = static_cast<int>(s.kernel_h);
  const int sw = static_cast<int>(s.stride_w), sh = static_cast<int>(s.stride_h);
  const int ow = static_cast<int>(s.out_w), oh = static_cast<int>(s.out_h);
  const int pl = static_cast<int>(s.pad_left), pt = static_cast<int>(s.pad_top);
  Var c("c"), x("x"), y("y"), n("n");

  Func argmax;  // (c, ox, oy, n) -> ky * kw + kx of the winning cell
  if (s.pool == PoolKind::Max) {
    argmax = Func("pool_argmax");
    RDom w(0, kw, 0, kh, "w");
    Expr ix = x * sw - pl + w.x, iy = y * sh - pt + w.y;
    Expr inside =
        ix >= 0 && ix < static_cast<int>(s.in_w) && iy >= 0 && iy < static_cast<int>(s.in_h);
    Expr value = select(inside,
                        input(c, clamp(ix, 0, static_cast<int>(s.in_w) - 1),
                              clamp(iy, 0, static_cast<int>(s.in_h) - 1), n),
                        lowest());
    argmax(c, x, y, n) = Tuple(0, lowest());
    // Strictly greater: ties keep the earlier cell (w.x is the inner loop).
    Expr better = value > argmax(c, x, y, n)[1];
    argmax(c, x, y, n) = Tuple(select(better, w.y * kw + w.x, argmax(c, x, y, n)[0]),
                               select(better, value, argmax(c, x, y, n)[1]));
  }

  // The windows that hold a cell, from the first one: at most ceil(k / s) of
  // them per axis, and never more than there are windows (a global pooling's
  // backward reads one window, not k * k candidates).
  RDom r(0, std::min((kw + sw - 1) / sw, ow), 0, std::min((kh + sh - 1) / sh, oh), "r");
  Expr tx = x + pl, ty = y + pt;
  Expr ox = max((tx - kw + sw) / sw, 0) + r.x, oy = max((ty - kh + sh) / sh, 0) + r.y;
  Expr kx = tx - ox * sw, ky = ty - oy * sh;
  Expr valid = kx >= 0 && kx < kw && ky >= 0 && ky < kh && ox < ow && oy < oh;
  Expr oxc = clamp(ox, 0, ow - 1), oyc = clamp(oy, 0, oh - 1);
  Expr grad = d_output(c, oxc, oyc, n);
  Expr share;
  if (s.pool == PoolKind::Max) {
    share = select(valid && argmax(c, oxc, oyc, n)[0] == ky * kw + kx, grad, 0.0f);
  } else {
    // A reciprocal per cell, not a vector division per channel vector: the
    // division bound a global pooling's backward.
    share = select(valid, grad * (1.0f / real_cells(oxc * sw - pl, oyc * sh - pt, s)), 0.0f);
  }
  Func d_input("d_input");
  d_input(c, x, y, n) = sum(share);
  constrain_output(d_input, {s.in_c, s.in_w, s.in_h}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(d_input,
                          argmax.defined() ? std::vector<Func>{argmax} : std::vector<Func>{});
  } else {
    schedule_pool2d_backward(d_input, argmax, s, t);
  }
  return detail::finish_kernel({input, d_output}, {d_input});
}

}  // namespace cnnc::kernels
