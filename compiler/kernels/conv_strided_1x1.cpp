// Strided 1x1 convolutions without padding on a CPU: each is a matrix
// product over the pixels that the stride reads (forward, filter gradient)
// or writes (data gradient), scheduled like the pixel GEMM of the stride-1
// ones (dense.cpp): a register tile of channel vectors by output columns
// with the whole reduction just outside it.
#include "compiler/kernels/conv_strided_1x1.h"

#include <algorithm>

#include "compiler/kernels/conv_schedule.h"
#include "compiler/kernels/gpu_schedule.h"

namespace cnnc::kernels::detail {

using namespace Halide;

namespace {

// The register tile: channel vectors by columns that divide the row (none
// recomputed), the accumulators, the weight vectors and a broadcast within
// the vector registers. Cost as in choose_conv_tile.
ConvTile choose_row_tile(int64_t channels, int64_t width, const Target& t) {
  const int natural = std::max(t.natural_vector_size<float>(), 8);
  const int lanes = channels >= natural ? natural : channels >= 8 ? 8 : 0;
  const int registers = t.has_feature(Target::AVX512) ? 32 : 16;
  auto waste = [](int64_t extent, int64_t tile) {
    return static_cast<double>((extent + tile - 1) / tile * tile) / static_cast<double>(extent);
  };
  ConvTile best;
  double best_cost = 1e30;
  for (int cv = 1; lanes > 0 && cv <= 4 && cv * lanes <= channels; ++cv) {
    for (int tx = 1; tx <= 14 && tx <= width; ++tx) {
      if (width % tx != 0 || cv * tx + cv + 1 > registers) continue;
      const double loads = static_cast<double>(cv + tx) / (cv * tx);
      const double latency = cv * tx < 12 ? 12.0 / (cv * tx) : 1.0;
      const double cost = waste(channels, cv * lanes) * std::max(1.0 + 0.5 * loads, latency);
      if (cost < best_cost - 1e-9) best_cost = cost, best = ConvTile{lanes, cv, tx};
    }
  }
  return best;
}

}  // namespace

bool strided_1x1(const KernelSpec& s, const Target& t) {
  if (is_gpu(t) || autoscheduled(s) || s.schedule.is_set()) return false;
  if (s.kernel_w != 1 || s.kernel_h != 1 || s.stride_w * s.stride_h == 1 || s.pad_left != 0 ||
      s.pad_top != 0) {
    return false;
  }
  // A pair of data gradients has no other kernel: any channel count.
  const int64_t channels = s.kind == Kind::Conv2DBackwardData ? s.in_c : s.out_c;
  return channels >= 16 || s.pair_out_c > 0;
}

std::string schedule_strided_1x1_forward(Func out, Func acc, const std::vector<RVar>& rvars,
                                         const KernelSpec& s, const Target& t) {
  const ConvTile tile = choose_row_tile(s.out_c, s.out_w, t);
  const int tile_c = tile.vectors * tile.lanes;
  std::vector<Var> a = out.args();
  Var c = a[0], x = a[1], y = a[2], n = a[3];
  Var co("co"), ci("ci"), xo("xo"), xi("xi"), yn("yn"), block("row_block"), row("row");
  out.split(c, co, ci, tile_c, TailStrategy::ShiftInwards)
      .split(x, xo, xi, tile.columns, TailStrategy::ShiftInwards)
      .vectorize(ci, tile.lanes)
      .unroll(ci)
      .unroll(xi)
      .fuse(y, n, yn);
  // Tasks of blocks of rows (at least kMinTaskFlops), each row computing
  // every channel tile: the row's input pixels stay in L1 across the tiles.
  // The weights are read in place (a copy per channel tile, with the channel
  // tiles outermost, measured 10-50% slower on resnet_mini's projections).
  const int rows = units_per_task_flops(2 * s.out_w * s.in_c * s.out_c);
  out.split(yn, block, row, rows, TailStrategy::GuardWithIf)
      .reorder(ci, xi, xo, co, row, block)
      .parallel(block);
  acc.compute_at(out, xo).vectorize(c, tile.lanes).unroll(c).unroll(x);
  std::vector<VarOrRVar> order = {c, x};
  for (const RVar& r : rvars) order.push_back(r);
  order.push_back(y);
  order.push_back(n);
  acc.update().reorder(order).vectorize(c, tile.lanes).unroll(c).unroll(x);
  return "strided pixel gemm " + describe(tile) + ", blocks of " + std::to_string(rows) + " rows";
}

BuiltKernel build_strided_1x1_backward_data(const KernelSpec& s, const Target& t) {
  // The gradients, each with its weights transposed (in_c first, the vector
  // axis); with a pair, the second follows the first.
  std::vector<ImageParam> inputs;
  std::vector<Func> transposed;
  std::vector<int64_t> out_cs = {s.out_c};
  if (s.pair_out_c > 0) out_cs.push_back(s.pair_out_c);
  Var c("c"), x("x"), y("y"), n("n"), co("co");
  for (size_t k = 0; k < out_cs.size(); ++k) {
    const std::string suffix = k == 0 ? "" : "2";
    inputs.push_back(make_input("d_output" + suffix, {out_cs[k], s.out_w, s.out_h}, true));
    ImageParam weights = make_input("weights" + suffix, {out_cs[k], s.in_c, 1, 1}, false);
    inputs.push_back(weights);
    Func w("weights_t" + suffix);
    w(c, co) = weights(co, c, 0, 0);
    transposed.push_back(w);
  }
  // product: a 1x1 convolution from out_c to in_c channels over the output
  // pixels; with a pair, the sum of two, each summed on its own first: the
  // same sums, and so the same rounding, as two kernels whose results the
  // input's activation gradient adds (pair_strided_1x1 on or off).
  Func product("conv_bwd_data_product"), d_input("d_input");
  std::vector<Func> accs;
  std::vector<RDom> rs;
  Expr sum;
  for (size_t k = 0; k < out_cs.size(); ++k) {
    Func acc("conv_bwd_data_acc" + std::to_string(k));
    RDom r(0, static_cast<int>(out_cs[k]), "r" + std::to_string(k));
    acc(c, x, y, n) = 0.0f;
    acc(c, x, y, n) += transposed[k](c, r) * inputs[2 * k](r, x, y, n);
    sum = k == 0 ? acc(c, x, y, n) : sum + acc(c, x, y, n);
    accs.push_back(acc);
    rs.push_back(r);
  }
  product(c, x, y, n) = sum;
  const int sw = static_cast<int>(s.stride_w), sh = static_cast<int>(s.stride_h);
  const int last_x = static_cast<int>(s.out_w) - 1, last_y = static_cast<int>(s.out_h) - 1;
  d_input(c, x, y, n) = select(x % sw == 0 && y % sh == 0,
                               product(c, min(x / sw, last_x), min(y / sh, last_y), n), 0.0f);
  constrain_output(d_input, {s.in_c, s.in_w, s.in_h}, true);

  ConvTile tile = choose_row_tile(s.in_c, s.out_w, t);
  if (tile.lanes == 0) tile = ConvTile{1, 1, 1};  // fewer than 8 channels: scalars
  const int tile_c = tile.vectors * tile.lanes;
  for (Func w : transposed) {
    w.compute_root().vectorize(c, tile.lanes, TailStrategy::GuardWithIf);
  }
  // d_input a row of the product at a time: the product's row (in L1), then
  // the stride's rows of d_input, each element written once; with the
  // strides' loops unrolled, which pixels are zero is known when compiled.
  Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), yn("yn"), block("row_block"), row("row");
  const int rows = units_per_task_flops(2 * s.out_w * s.in_c * (s.out_c + s.pair_out_c));
  d_input.split(y, yo, yi, sh, TailStrategy::GuardWithIf)
      .split(x, xo, xi, sw, TailStrategy::GuardWithIf)
      .reorder(c, xi, xo, yi, yo, n)
      .fuse(yo, n, yn)
      .split(yn, block, row, rows, TailStrategy::GuardWithIf)
      .parallel(block)
      .vectorize(c, tile.lanes, TailStrategy::GuardWithIf)
      .unroll(xi)
      .unroll(yi);
  Var ci("ci"), xt("xt"), xc("xc");
  product.compute_at(d_input, row)
      .split(c, co, ci, tile_c, TailStrategy::ShiftInwards)
      .split(x, xt, xc, tile.columns, TailStrategy::ShiftInwards)
      .reorder(ci, xc, co, xt)
      .vectorize(ci, tile.lanes)
      .unroll(ci)
      .unroll(xc);
  for (size_t k = 0; k < accs.size(); ++k) {
    accs[k].compute_at(product, co).vectorize(c, tile.lanes).unroll(c).unroll(x);
    accs[k].update().reorder(c, x, rs[k], y, n).vectorize(c, tile.lanes).unroll(c).unroll(x);
  }
  BuiltKernel built = finish_kernel(inputs, {d_input});
  built.schedule = "strided pixel gemm " + describe(tile) + ", blocks of " + std::to_string(rows) +
                   " rows, scattered" + (s.pair_out_c > 0 ? ", a pair summed" : "");
  return built;
}

// Parallel tasks a filter gradient's images are split into: each sums its
// images into a partial gradient of its own, the partials are added at the
// end in a fixed order (the result does not depend on the thread count).
constexpr int kGradientTasks = 8;

// d_weights(o, i) sums, over every output pixel, d_output(o) times the input
// read there, in chunks of a few output rows of one image: for each chunk,
// every register tile of o vectors by i values sums the chunk's pixels, then
// adds itself to its task's partial; the chunk stays in cache across the
// tiles, so each pixel is read from memory once. With a bias, the input
// gains a column of ones (its gradient is the bias's) and zeros up to a
// whole tile: one pass over d_output for both.
BuiltKernel build_strided_1x1_backward_filter(const KernelSpec& s, const Target& t) {
  ImageParam input = make_input("input", {s.in_c, s.in_w, s.in_h}, true);
  ImageParam d_output = make_input("d_output", {s.out_c, s.out_w, s.out_h}, true);
  Expr batch = d_output.dim(3).extent();
  const int lanes = s.out_c % 16 == 0 && t.natural_vector_size<float>() >= 16 ? 16 : 8;
  const int max_accumulators = t.natural_vector_size<float>() >= 16 ? 24 : 12;
  // The most o vectors that divide out_c (4 by 6 i: 10 loads for 24 FMAs,
  // measured 2-8% faster than 2 by 8 on resnet_mini's projections, on a
  // loaded machine); i in guarded tiles (the bias's column of ones adds one
  // anyway).
  int vectors = 1;
  for (int vv : {4, 3, 2}) {
    if (s.out_c % (vv * lanes) == 0 && vectors == 1) vectors = vv;
  }
  const int in_c = static_cast<int>(s.in_c);
  const int tile_i = static_cast<int>(std::min<int64_t>({8, max_accumulators / vectors, s.in_c}));
  // Chunks of about 64 pixels: whole output rows, a divisor of out_h of them.
  const int rows = divisor_at_most(s.out_h, std::max<int64_t>(1, 64 / s.out_w));
  const int chunks = static_cast<int>(s.out_h) / rows;
  const int sw = static_cast<int>(s.stride_w), sh = static_cast<int>(s.stride_h);
  Expr per_task = max(1, (batch + kGradientTasks - 1) / kGradientTasks);
  Expr tasks = (batch + per_task - 1) / per_task;

  Var o("o"), i("i"), x("x"), y("y"), n("n"), cy("cy"), cn("cn"), task("task");
  Func in("strided_input");
  if (s.use_bias) {
    in(i, x, y, n) = select(i < in_c, input(clamp(i, 0, in_c - 1), x * sw, y * sh, n),
                            select(i == in_c, 1.0f, 0.0f));
  } else {
    // Clamped: the last i tile may pass in_c (those sums are not kept).
    in(i, x, y, n) = input(min(i, in_c - 1), x * sw, y * sh, n);
  }
  Func chunk("conv_bwd_filter_chunk"), partial("conv_bwd_filter_partial");
  Func acc("conv_bwd_filter_acc");
  RDom rc(0, static_cast<int>(s.out_w), 0, rows, "rc");
  Expr oy = cy * rows + rc.y;
  chunk(o, i, cy, cn) = 0.0f;
  chunk(o, i, cy, cn) += d_output(o, rc.x, oy, cn) * in(i, rc.x, oy, cn);
  RDom rp(0, chunks, 0, per_task, "rp");
  rp.where(task * per_task + rp.y < batch);
  partial(o, i, task) = 0.0f;
  // Clamped for the bounds only: `where` skips the images past the batch.
  partial(o, i, task) += chunk(o, i, rp.x, min(task * per_task + rp.y, batch - 1));
  sum_task_partials(acc, partial, tasks, s.out_c, kGradientTasks, lanes);
  Var kx("kx"), ky("ky");
  Func d_weights("d_weights"), d_bias;
  d_weights(o, i, kx, ky) = acc(o, i);

  Var ii("ii"), oo("oo"), oi("oi"), io("io");
  d_weights.vectorize(o, lanes);
  partial.update()
      .split(o, oo, oi, vectors * lanes)
      .split(i, io, ii, tile_i)
      .reorder(oi, ii, oo, io, rp.x, rp.y, task)
      .vectorize(oi, lanes)
      .unroll(ii)
      .parallel(task);
  chunk.compute_at(partial, oo).vectorize(o, lanes).unroll(i);
  chunk.update().reorder(o, i, rc.x, rc.y, cy, cn).vectorize(o, lanes).unroll(i);
  if (s.use_bias) {
    d_bias = Func("d_bias");
    d_bias(o) = acc(o, in_c);
    d_bias.vectorize(o, lanes);
    // Each chunk's input pixels, the ones and zeros copied once (the tiles
    // then read it from L1 without a select).
    in.compute_at(partial, rp.x).vectorize(i, 8, TailStrategy::GuardWithIf);
  }
  return finish_weight_gradient(
      input, d_output, d_weights, d_bias, {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, s.out_c,
      "strided, chunks of " + std::to_string(rows) + " rows, " + std::to_string(vectors * lanes) +
          "o x " + std::to_string(tile_i) + "i");
}

}  // namespace cnnc::kernels::detail
