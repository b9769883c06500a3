// Conv2D's filter (and bias) gradient. Layouts as in conv.cpp: images (c, x,
// y, n), weights (out_c, in_c, kx, ky); out-of-range input cells read as zero.
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
using detail::divisor_at_most;
using detail::make_input;
using detail::zero_padded;

namespace {

// The vector width of a CPU filter gradient's output channels: 16 (with
// AVX-512) when they are a multiple of 16 or so many that rounding them up to
// one wastes little, else 8. d_output is zero-extended to a multiple of it.
int filter_lanes(const KernelSpec& s, const Target& t) {
  const bool wide = t.natural_vector_size<float>() >= 16;
  return wide && (s.out_c % 16 == 0 || s.out_c > 64) ? 16 : 8;
}

// The register tile of a CPU filter gradient (cpu_conv2d_backward_filter):
// `vectors` vectors of `lanes` output channels by `ci` input channels, and
// by the kernel columns (`kx`) and rows (`ky`) when there are too few
// accumulators otherwise.
struct FilterTile {
  int lanes = 8, vectors = 1, ci = 1;
  bool kx = false, ky = false;
};

FilterTile choose_filter_tile(const KernelSpec& s, const Target& t) {
  FilterTile tile;
  tile.lanes = filter_lanes(s, t);
  const int64_t out_c = (s.out_c + tile.lanes - 1) / tile.lanes * tile.lanes;
  const int max_accumulators = t.natural_vector_size<float>() >= 16 ? 24 : 12;
  for (int v : {3, 2}) {
    if (out_c % (v * tile.lanes) == 0 && tile.vectors == 1) tile.vectors = v;
  }
  // About 16 accumulators: a single vector of output channels takes 16
  // input channels with AVX-512 (16co x 8ci: 8 accumulators, too few for the
  // FMA latency; 16ci measured 6% faster at 28x28x16).
  const int ci_cap = max_accumulators >= 24 && tile.vectors == 1 ? 16 : 8;
  tile.ci = divisor_at_most(s.in_c, std::min(ci_cap, max_accumulators / tile.vectors));
  // Too few accumulators for the FMA latency: kernel columns join the tile,
  // and its rows too when all fit in AVX-512's 32 registers (a first layer).
  tile.kx = tile.vectors * tile.ci < 4 && s.kernel_w <= 8;
  tile.ky =
      tile.kx && max_accumulators >= 24 && tile.vectors * tile.ci * s.kernel_w * s.kernel_h <= 25;
  return tile;
}

// Parallel tasks a weight gradient's images are split into: each sums its
// images into a partial gradient of its own, the partials are added at the
// end. More tasks than cores balance the load; each costs a partial.
constexpr int kGradientTasks = 8;

// A CPU bias gradient: one pass over d_output per task of a few images, all
// channels at once; the tasks' partial sums are added at the end.
void cpu_conv2d_backward_bias(Func d_bias, Func d_output, Expr batch, const KernelSpec& s,
                              const Target& t) {
  Var c("c"), task("task");
  Expr per_task = max(1, (batch + kGradientTasks - 1) / kGradientTasks);
  Expr tasks = (batch + per_task - 1) / per_task;
  Func bias_partial("conv_bwd_bias_partial"), bias_acc("conv_bwd_bias_acc");
  RDom rb(0, static_cast<int>(s.out_w), 0, static_cast<int>(s.out_h), 0, per_task, "rb");
  rb.where(task * per_task + rb.z < batch);
  bias_partial(c, task) = 0.0f;
  bias_partial(c, task) += d_output(c, rb.x, rb.y, min(task * per_task + rb.z, batch - 1));
  RDom rt(0, tasks, "rt");
  bias_acc(c) = 0.0f;
  bias_acc(c) += bias_partial(c, rt);
  d_bias(c) = bias_acc(c);
  bias_partial.compute_root().update().parallel(task);
  bias_acc.compute_root();
  const int bias_lanes = channel_lanes(s.out_c, t);
  if (bias_lanes > 0) {
    for (Func f : {d_bias, bias_acc, bias_partial}) {
      f.vectorize(c, bias_lanes, TailStrategy::GuardWithIf);
    }
    for (Func f : {bias_acc, bias_partial}) {
      f.update().vectorize(c, bias_lanes, TailStrategy::GuardWithIf);
    }
  }
}

// On a CPU, d_weights(co, ci, kx, ky) sums over every output pixel in
// chunks of a few output rows of one image: for each chunk, every register
// tile of output-channel vectors by input channels (by kernel columns, when
// too few accumulators) sums the chunk's pixels, then adds itself to its
// task's partial sum. The chunk's rows stay in cache across all the tiles,
// so each input and gradient pixel is read from memory once. Tasks of a few
// images run in parallel; their partials are added at the end. `dout` has
// out_c rounded up to a multiple of filter_lanes (zero-extended).
// `per_image_copies` (of padded, dout) are made per image in the task loop.
// Defines d_weights and returns a description for profiles.
std::string cpu_conv2d_backward_filter(Func d_weights, Var co, Var ci, Var kx, Var ky, Func dout,
                                       Func padded, const std::vector<Func>& per_image_copies,
                                       Expr batch, const KernelSpec& s, const Target& t) {
  const FilterTile tile = choose_filter_tile(s, t);
  const int lanes = tile.lanes, tile_co = tile.vectors * tile.lanes, tile_ci = tile.ci;
  const bool tile_kx = tile.kx, tile_ky = tile.ky;
  // Chunks of about 64 pixels: whole output rows, a divisor of out_h of them.
  const int rows = divisor_at_most(s.out_h, std::max<int64_t>(1, 64 / s.out_w));
  const int out_w = static_cast<int>(s.out_w), chunks = static_cast<int>(s.out_h) / rows;
  const int sw = static_cast<int>(s.stride_w), sh = static_cast<int>(s.stride_h);
  // Each task zeroes a partial of all the weights and adds it at the end: a
  // task sums at least 392 output pixels an output channel (8 images at
  // 7x7, where 4 cost 6-8% of the kernel: 7x7x64, batch 32, one thread).
  const int min_images = ceil_div(392, s.out_w * s.out_h);
  Expr per_task = max(min_images, (batch + kGradientTasks - 1) / kGradientTasks);
  Expr tasks = (batch + per_task - 1) / per_task;

  Var cy("cy"), cn("cn"), task("task");
  Func chunk("conv_bwd_filter_chunk"), partial("conv_bwd_filter_partial");
  Func acc("conv_bwd_filter_acc");
  RDom rc(0, out_w, 0, rows, "rc");
  Expr oy = cy * rows + rc.y;
  if (!tile_kx) {
    // The pixels whose tap falls on the zero border add nothing: each tap's
    // loops over the chunk's pixels skip them (tiles of kernel columns or
    // rows unroll the taps inside those loops, and keep them).
    const int pl = static_cast<int>(s.pad_left), pt = static_cast<int>(s.pad_top);
    Expr ix = rc.x * sw + kx - pl, iy = oy * sh + ky - pt;
    // (`padded` may then be the input read in place, clamped.)
    rc.where(ix >= 0 && ix < static_cast<int>(s.in_w) && iy >= 0 && iy < static_cast<int>(s.in_h));
  }
  chunk(co, ci, kx, ky, cy, cn) = 0.0f;
  chunk(co, ci, kx, ky, cy, cn) +=
      dout(co, rc.x, oy, cn) * padded(ci, rc.x * sw + kx, oy * sh + ky, cn);
  RDom rp(0, chunks, 0, per_task, "rp");
  rp.where(task * per_task + rp.y < batch);
  partial(co, ci, kx, ky, task) = 0.0f;
  // Clamped for the bounds only: `where` skips the images past the batch.
  partial(co, ci, kx, ky, task) +=
      chunk(co, ci, kx, ky, rp.x, min(task * per_task + rp.y, batch - 1));
  RDom rt(0, tasks, "rt");
  acc(co, ci, kx, ky) = 0.0f;
  acc(co, ci, kx, ky) += partial(co, ci, kx, ky, rt);
  d_weights(co, ci, kx, ky) = acc(co, ci, kx, ky);

  // The partials' zeroing and their final sum in parallel too (serial, they
  // took 15-20% of a 7x7 layer's gradient on two threads).
  Var cib("cib"), cit("cit");
  const int ci_block = detail::units_per_task(s.out_c * s.kernel_w * s.kernel_h * kGradientTasks);
  d_weights.vectorize(co, 8, TailStrategy::GuardWithIf);
  acc.compute_root()
      .split(ci, cib, cit, ci_block, TailStrategy::GuardWithIf)
      .reorder(co, kx, ky, cit, cib)
      .vectorize(co, 8, TailStrategy::GuardWithIf)
      .parallel(cib);
  acc.update()
      .split(ci, cib, cit, ci_block, TailStrategy::GuardWithIf)
      .reorder(co, kx, ky, rt, cit, cib)
      .vectorize(co, 8, TailStrategy::GuardWithIf)
      .parallel(cib);
  Var coo("coo"), coi("coi"), cio("cio"), cii("cii");
  partial.compute_root().parallel(task);
  Stage p = partial.update();
  p.split(co, coo, coi, tile_co, TailStrategy::RoundUp)
      .split(ci, cio, cii, tile_ci, TailStrategy::GuardWithIf)
      .vectorize(coi, lanes)
      .unroll(cii);
  if (tile_ky) {
    p.reorder(coi, cii, kx, ky, coo, cio, rp.x, rp.y, task).unroll(kx).unroll(ky);
  } else if (tile_kx) {
    p.reorder(coi, cii, kx, coo, cio, ky, rp.x, rp.y, task).unroll(kx);
  } else {
    p.reorder(coi, cii, coo, cio, kx, ky, rp.x, rp.y, task);
  }
  p.parallel(task);
  for (Func f : per_image_copies) f.compute_at(partial, rp.y);
  chunk.compute_at(partial, coo).vectorize(co, lanes).unroll(ci);
  if (tile_ky) {
    chunk.unroll(kx).unroll(ky);
    chunk.update().reorder(co, ci, kx, ky, rc.x, rc.y, cy, cn).unroll(kx).unroll(ky);
  } else if (tile_kx) {
    chunk.unroll(kx);
    chunk.update().reorder(co, ci, kx, rc.x, rc.y, ky, cy, cn).unroll(kx);
  } else {
    chunk.update().reorder(co, ci, rc.x, rc.y, kx, ky, cy, cn);
  }
  chunk.update().vectorize(co, lanes).unroll(ci);

  std::string how = std::to_string(tile_co) + "co x " + std::to_string(tile_ci) + "ci";
  if (tile_kx) how += tile_ky ? " x kw x kh" : " x kw";
  return "chunks of " + std::to_string(rows) + " rows, " + how +
         (per_image_copies.empty() ? "" : ", copies per image");
}

// True when a CPU filter gradient vectorises over output columns instead
// (cpu_conv2d_backward_filter_columns): few output channels, which would
// fill a fraction of a 16-lane vector, over rows wide enough to fill most of
// one; stride 1, so that a tap's input columns are contiguous.
bool filter_over_columns(const KernelSpec& s, const Target& t) {
  return t.natural_vector_size<float>() >= 16 && s.out_c <= 8 && s.out_w >= 12 && s.stride_w == 1 &&
         s.kernel_w <= 7;
}

// The filter gradient of few output channels (a first layer): vectors of 16
// output columns. d_output is copied with its columns innermost (`dout_t`,
// rounded up to a multiple of 16 columns, zero past out_w) and `padded`
// (zero-bordered, wide enough) too, so that each tap's inputs load as one
// vector. A register tile of output channels by kernel columns holds one
// partial sum per lane over the rows of a chunk; tasks of a few images add
// their chunks into partial sums of their own; the tasks, then the lanes are
// summed at the end, in a fixed order. The bias gradient (with use_bias)
// sums the same copy of d_output.
std::string cpu_conv2d_backward_filter_columns(Func d_weights, Func d_bias, Var co, Var ci, Var kx,
                                               Var ky, Func dout_t, Func padded, Expr batch,
                                               const KernelSpec& s) {
  constexpr int lanes = 16;
  const int vectors = ceil_div(s.out_w, lanes);
  const int kw = static_cast<int>(s.kernel_w);
  // Channels of the tile: about 16 accumulators, with registers left over
  // for the inputs of every kernel column and the d_output vectors.
  const int tile_co = divisor_at_most(s.out_c, std::max(1, 16 / kw));
  // Chunks of whole rows whose inputs and gradients stay in L1 (32 KiB).
  const int64_t row_floats = int64_t{vectors} * lanes * (s.out_c + s.in_c);
  const int rows = divisor_at_most(s.out_h, std::max<int64_t>(1, 6144 / row_floats));
  const int chunks = static_cast<int>(s.out_h) / rows, sh = static_cast<int>(s.stride_h);
  Expr per_task = max(1, (batch + kGradientTasks - 1) / kGradientTasks);
  Expr tasks = (batch + per_task - 1) / per_task;

  Var l("l"), cy("cy"), cn("cn"), task("task");
  Func chunk("conv_bwd_filter_chunk"), partial("conv_bwd_filter_partial");
  Func lanes_sum("conv_bwd_filter_lanes"), acc("conv_bwd_filter_acc");
  RDom rc(0, vectors, 0, rows, "rc");
  Expr ox = rc.x * lanes + l, oy = cy * rows + rc.y;
  chunk(l, co, ci, kx, ky, cy, cn) = 0.0f;
  chunk(l, co, ci, kx, ky, cy, cn) +=
      dout_t(ox, co, oy, cn) * padded(ox + kx, ci, oy * sh + ky, cn);
  RDom rp(0, chunks, 0, per_task, "rp");
  rp.where(task * per_task + rp.y < batch);
  partial(l, co, ci, kx, ky, task) = 0.0f;
  partial(l, co, ci, kx, ky, task) +=
      chunk(l, co, ci, kx, ky, rp.x, min(task * per_task + rp.y, batch - 1));
  RDom rt(0, tasks, "rt");
  lanes_sum(l, co, ci, kx, ky) = 0.0f;
  lanes_sum(l, co, ci, kx, ky) += partial(l, co, ci, kx, ky, rt);
  RDom rl(0, lanes, "rl");
  acc(co, ci, kx, ky) = 0.0f;
  acc(co, ci, kx, ky) += lanes_sum(rl, co, ci, kx, ky);
  d_weights(co, ci, kx, ky) = acc(co, ci, kx, ky);

  acc.compute_root();
  lanes_sum.compute_root().vectorize(l);
  lanes_sum.update().vectorize(l);
  partial.compute_root().vectorize(l);
  Var coo("coo"), coi("coi");
  partial.update()
      .split(co, coo, coi, tile_co)
      .reorder(l, coi, kx, coo, ci, ky, rp.x, rp.y, task)
      .vectorize(l)
      .unroll(coi)
      .unroll(kx)
      .parallel(task);
  chunk.compute_at(partial, coo).vectorize(l).unroll(co).unroll(kx);
  chunk.update().reorder(l, co, kx, rc.x, rc.y, ci, ky, cy, cn).vectorize(l).unroll(co).unroll(kx);
  if (s.use_bias) {
    // The bias gradient from the same copy: vectors of columns too.
    Func bias_lanes("conv_bwd_bias_lanes"), bias_sum("conv_bwd_bias_sum");
    RDom rb(0, vectors, 0, static_cast<int>(s.out_h), 0, per_task, "rb");
    rb.where(task * per_task + rb.z < batch);
    bias_lanes(l, co, task) = 0.0f;
    bias_lanes(l, co, task) +=
        dout_t(rb.x * lanes + l, co, rb.y, min(task * per_task + rb.z, batch - 1));
    bias_sum(l, co) = 0.0f;
    bias_sum(l, co) += bias_lanes(l, co, rt);
    Func bias_acc("conv_bwd_bias_acc");
    bias_acc(co) = 0.0f;
    bias_acc(co) += bias_sum(rl, co);
    d_bias(co) = bias_acc(co);
    bias_acc.compute_root();
    bias_sum.compute_root().vectorize(l);
    bias_sum.update().vectorize(l);
    bias_lanes.compute_root().vectorize(l);
    bias_lanes.update().reorder(l, co, rb.x, rb.y, rb.z, task).vectorize(l).parallel(task);
  }
  return "columns as vectors, chunks of " + std::to_string(rows) + " rows, " +
         std::to_string(tile_co) + "co x kw";
}

}  // namespace

BuiltKernel build_conv2d_backward_filter(const KernelSpec& s, const Target& t) {
  detail::check_window(s);
  if (detail::strided_1x1(s, t) && s.out_c % 8 == 0) {
    return detail::build_strided_1x1_backward_filter(s, t);
  }
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  ImageParam d_output = make_input("d_output", {s.out_c, s.out_w, s.out_h}, true);
  Expr batch = d_output.dim(3).extent();
  Var co("co"), ci("ci"), kx("kx"), ky("ky");
  // The input zero-bordered (a copy, when a window crosses the border) and,
  // on a CPU, d_output zero-extended to a multiple of the vector width (on a
  // GPU both are read inline).
  const int pl = static_cast<int>(s.pad_left), pt = static_cast<int>(s.pad_top);
  const bool needs_padding = pl > 0 || pt > 0 || (s.out_w - 1) * s.stride_w + s.kernel_w > s.in_w ||
                             (s.out_h - 1) * s.stride_h + s.kernel_h > s.in_h;
  Var c("c"), x("x"), y("y"), n("n");
  Func padded("padded_input"), dout("d_output_lanes");
  const bool columns = !detail::is_gpu(t) && filter_over_columns(s, t);
  // On a CPU, the two copies (the zero-bordered input, d_output with out_c
  // rounded up) of an image that fit in L1 together are made per image
  // inside the gradient's task loop: no parallel loop of their own, and
  // still in L1 when read (measured 5-10% faster: LeNet-5's conv2 and conv3,
  // resnet_mini's conv1 and 14x14x32 layers, 8 to 33 KB an image, when they
  // still copied their input; most now read it in place, below).
  const int out_lanes = detail::is_gpu(t) ? 1 : filter_lanes(s, t);
  // Where the gradient skips the taps on the zero border (tiles without
  // kernel columns), it reads the input in place, clamped only to keep the
  // reads in bounds: no zero-bordered copy (at 28x28x16 the copy, 58 KB an
  // image, made a pass over memory: 16% of the kernel's time; 14x14x32 and
  // 7x7x64, copied per image in L1, 2-4%).
  const bool in_place =
      needs_padding && !detail::is_gpu(t) && !columns && !choose_filter_tile(s, t).kx;
  const int64_t padded_floats = s.in_c * ((s.out_w - 1) * s.stride_w + s.kernel_w) *
                                ((s.out_h - 1) * s.stride_h + s.kernel_h);
  const int64_t dout_floats = (s.out_c + out_lanes - 1) / out_lanes * out_lanes * s.out_w * s.out_h;
  const bool per_image = !detail::is_gpu(t) && !columns &&
                         4 * ((needs_padding && !in_place ? padded_floats : 0) +
                              (s.out_c % out_lanes != 0 ? dout_floats : 0)) <=
                             (40 << 10);
  std::vector<Func> per_image_copies;
  if (columns) {
    // Both copied with columns innermost; columns past the image read zero.
    // The copies run in blocks of rows (kMinTaskFloats): a task per row of a
    // few hundred floats made two threads slower than one (LeNet-5's conv1).
    const int ow = static_cast<int>(s.out_w);
    padded(x, c, y, n) = zero_padded(input, c, x - pl, y - pt, n, s.in_w, s.in_h);
    dout(x, c, y, n) = select(x < ow, d_output(c, min(x, ow - 1), y, n), 0.0f);
    padded.compute_root().vectorize(x, 16, TailStrategy::GuardWithIf);
    detail::parallel_row_blocks(padded, y, n, (ceil_div(s.out_w, 16) * 16 + s.kernel_w) * s.in_c);
    // A scalar copy that reads d_output in order: vectorised over columns,
    // each vector gathers 16 floats out_c apart (measured slower).
    dout.compute_root()
        .bound(c, 0, static_cast<int>(s.out_c))
        .bound(x, 0, ceil_div(s.out_w, 16) * 16)
        .reorder(c, x, y, n)
        .unroll(c);
    detail::parallel_row_blocks(dout, y, n, ceil_div(s.out_w, 16) * 16 * s.out_c);
  } else if (in_place) {
    const int w = static_cast<int>(s.in_w), h = static_cast<int>(s.in_h);
    padded(c, x, y, n) = input(c, clamp(x - pl, 0, w - 1), clamp(y - pt, 0, h - 1), n);
  } else if (needs_padding) {
    padded(c, x, y, n) = zero_padded(input, c, x - pl, y - pt, n, s.in_w, s.in_h);
    const int lanes = channel_lanes(s.in_c, t);
    if (per_image) {
      per_image_copies.push_back(padded);
    } else if (!detail::is_gpu(t)) {
      padded.compute_root();
      detail::parallel_row_blocks(padded, y, n, s.in_c * ((s.out_w - 1) * s.stride_w + s.kernel_w));
    }
    if (!detail::is_gpu(t) && lanes > 0) padded.vectorize(c, lanes, TailStrategy::GuardWithIf);
  } else {
    padded(c, x, y, n) = input(c, x, y, n);
  }
  // On a CPU, out_c is rounded up to a multiple of the vector width.
  const int lanes = out_lanes;
  if (!columns && s.out_c % lanes != 0) {
    const int oc = static_cast<int>(s.out_c);
    const int extent = (oc + lanes - 1) / lanes * lanes;
    dout(c, x, y, n) = select(c < oc, d_output(min(c, oc - 1), x, y, n), 0.0f);
    dout.bound(c, 0, extent).vectorize(c, lanes);
    if (per_image) {
      per_image_copies.push_back(dout);
    } else {
      dout.compute_root();
      detail::parallel_row_blocks(dout, y, n, extent * s.out_w);
    }
  } else if (!columns) {
    dout(c, x, y, n) = d_output(c, x, y, n);
  }
  Func d_weights("d_weights"), d_bias;
  if (s.use_bias) d_bias = Func("d_bias");
  std::string how;
  if (detail::is_gpu(t)) {
    RDom r(0, static_cast<int>(s.out_w), 0, static_cast<int>(s.out_h), 0, batch, "r");
    Expr ix = r.x * static_cast<int>(s.stride_w) + kx;
    Expr iy = r.y * static_cast<int>(s.stride_h) + ky;
    Func acc("conv_bwd_filter_acc");
    acc(co, ci, kx, ky) = 0.0f;
    acc(co, ci, kx, ky) += dout(co, r.x, r.y, r.z) * padded(ci, ix, iy, r.z);
    d_weights(co, ci, kx, ky) = acc(co, ci, kx, ky);
    detail::gpu_weight_gradient(d_weights, acc, {r.x, r.y, r.z}, s.out_c, s.in_c);
    if (s.use_bias) {
      Func bias_acc("conv_bwd_bias_acc");
      RDom rb(0, static_cast<int>(s.out_w), 0, static_cast<int>(s.out_h), 0, batch, "rb");
      bias_acc(co) = 0.0f;
      bias_acc(co) += d_output(co, rb.x, rb.y, rb.z);
      d_bias(co) = bias_acc(co);
      detail::gpu_pointwise(d_bias, {bias_acc});
    }
    how = "gpu";
  } else {
    if (columns) {
      how = cpu_conv2d_backward_filter_columns(d_weights, d_bias, co, ci, kx, ky, dout, padded,
                                               batch, s);
    } else {
      how = cpu_conv2d_backward_filter(d_weights, co, ci, kx, ky, dout, padded, per_image_copies,
                                       batch, s, t);
      if (s.use_bias) cpu_conv2d_backward_bias(d_bias, d_output, batch, s, t);
    }
  }
  return detail::finish_weight_gradient(input, d_output, d_weights, d_bias,
                                        {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, s.out_c, how);
}

}  // namespace cnnc::kernels
