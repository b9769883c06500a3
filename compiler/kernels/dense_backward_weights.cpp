// Dense's weight gradient on flat rows: input (in, rows), d_output (out,
// rows), d_weights (out, in); rows is the free outermost extent. (Dense and
// its data gradient: dense.cpp.)
#include <algorithm>
#include <string>

#include "compiler/kernels/conv_schedule.h"
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::divisor_at_most;
using detail::make_input;

namespace {

// out(o, i) = acc(o, i), reduced over rows (a classifier's few images): a
// register tile of up to 3 vectors of o by up to 8 values of i (as many
// accumulators as the vector registers hold besides the operands), each row
// adding an outer product of vectors of d_output and broadcasts of the
// input; tasks of 16 tiles of i (one tile is too little work for a task).
void schedule_outer_product_sum(Func out, Func acc, const RVar& row, int64_t out_extent,
                                int64_t in_extent, const Target& t) {
  Var o = out.args()[0], i = out.args()[1], oo("oo"), oi("oi"), io("io"), ii("ii");
  const int lanes = channel_lanes(out_extent, t);
  if (lanes > 0) {
    const int vectors = static_cast<int>(std::min<int64_t>(out_extent / lanes, 3));
    const int registers = t.has_feature(Target::AVX512) ? 32 : 16;
    const int tile_i = static_cast<int>(
        std::min<int64_t>({in_extent, 8, (registers - vectors - 1) / vectors - 1}));
    const int task_i = static_cast<int>(std::min<int64_t>(in_extent, 16 * tile_i));
    Var it("it"), ti("ti");
    out.split(i, it, ti, task_i, TailStrategy::ShiftInwards)
        .split(ti, io, ii, tile_i, TailStrategy::ShiftInwards)
        .split(o, oo, oi, vectors * lanes, TailStrategy::ShiftInwards)
        .reorder(oi, ii, oo, io, it)
        .vectorize(oi, lanes)
        .unroll(oi)
        .unroll(ii)
        .parallel(it);
    acc.compute_at(out, oo).vectorize(o, lanes).unroll(o).unroll(i);
    acc.update().reorder(o, i, row).vectorize(o, lanes).unroll(o).unroll(i);
  } else {
    const int tile_i = static_cast<int>(std::min<int64_t>(in_extent, 4));
    out.split(i, io, ii, tile_i, TailStrategy::ShiftInwards).reorder(o, ii, io);
    acc.compute_at(out, io);
    acc.update().reorder(o, i, row);
    out.parallel(io);
  }
}

// out(o) = acc(o), a sum over rows.
void schedule_column_sum(Func out, Func acc, const RVar& row, int64_t extent, const Target& t) {
  Var o = out.args()[0], oo("oo"), oi("oi");
  const int lanes = channel_lanes(extent, t);
  if (lanes > 0) {
    out.split(o, oo, oi, lanes, TailStrategy::ShiftInwards).vectorize(oi);
    acc.compute_at(out, oo).vectorize(o);
    acc.update().reorder(o, row).vectorize(o);
  } else {
    acc.compute_root();
  }
}

// A 1x1 convolution's weight gradient on a CPU: a sum over many rows (every
// pixel of the batch) into a small matrix. The rows are taken in chunks of
// whole images' rows (a divisor of rows_per_image, up to 64), each summed by
// every register tile of o vectors by i values, which then adds itself to
// its task's partial: the chunk stays in cache across the tiles, so each
// row is read from memory once. Tasks of whole chunks run in parallel. The
// bias gradient: one more input column, of ones.
bool chunked_weight_gradient(const KernelSpec& s, const Target& t) {
  return !detail::is_gpu(t) && s.rows_per_image > 1 && s.out_c % 8 == 0;
}

// Parallel tasks of a chunked weight gradient (each costs a partial sum).
constexpr int kGradientTasks = 8;

// The register tile of a chunked weight gradient: `vectors` vectors of o by
// `columns` values of i over `cols` columns (in_c, and the bias's column of
// ones), zero columns padding the last tile. The least padded work, times the
// loads per FMA and a latency term for under 16 accumulators (64o x 3i ran
// 5-10% slower than 32o x 11i): with a fixed 8 columns the bias column cost a
// whole tile of zeros, 50% more work for 16 inputs (17 columns), 25% for 32;
// now 17 = 3 x 6 (64o), 33 = 3 x 11 (32o), 65 = 5 x 13 (16o).
detail::ConvTile choose_gradient_tile(int64_t out_c, int64_t cols, int lanes, const Target& t) {
  const int registers = t.natural_vector_size<float>() >= 16 ? 32 : 16;
  detail::ConvTile best{lanes, 1, 1};
  double best_cost = 1e30;
  for (int v = 1; v <= 4; ++v) {
    if (out_c % (v * lanes) != 0) continue;
    // Accumulators and the o vectors; the broadcast is a memory operand.
    for (int c = 1; v * c + v < registers && c <= cols; ++c) {
      const double padded = static_cast<double>((cols + c - 1) / c * c);
      const double loads = static_cast<double>(v + c) / (v * c);
      const double latency = v * c < 16 ? 16.0 / (v * c) : 1.0;
      const double cost = padded * std::max(1.0 + 0.25 * loads, latency);
      if (cost < best_cost - 1e-9) best_cost = cost, best = detail::ConvTile{lanes, v, c};
    }
  }
  return best;
}

// Defines d_weights (and d_bias when defined) the chunked way; returns a
// description for profiles.
std::string cpu_chunked_weight_gradient(Func d_weights, Func d_bias, Var o, Var i, Func input,
                                        Func d_output, Expr rows, const KernelSpec& s,
                                        const Target& t) {
  const int lanes = s.out_c % 16 == 0 && t.natural_vector_size<float>() >= 16 ? 16 : 8;
  const int in_c = static_cast<int>(s.in_c), cols = in_c + (s.use_bias ? 1 : 0);
  const detail::ConvTile tile = choose_gradient_tile(s.out_c, cols, lanes, t);
  const int vectors = tile.vectors, tile_i = tile.columns;
  const bool padded = s.use_bias || cols % tile_i != 0;
  const int chunk_rows = divisor_at_most(s.rows_per_image, 64);
  Expr chunks = rows / chunk_rows;  // every call has whole images
  Expr per_task = max(1, (chunks + kGradientTasks - 1) / kGradientTasks);
  Expr tasks = (chunks + per_task - 1) / per_task;

  Var c("c"), task("task");
  Func chunk("dense_bwd_weights_chunk"), partial("dense_bwd_weights_partial");
  Func acc("dense_bwd_weights_acc");
  RDom rc(0, chunk_rows, "rc");
  Expr at = c * chunk_rows + rc;
  // With a bias, the input gains a column of ones (its gradient is the
  // bias's), and zeros up to a whole i tile: one pass over d_output for both.
  // (A pass of its own for the bias read d_output from memory twice: 0.85
  // ms, now 0.6, for resnet_mini's 16 -> 64 channels at 28x28, batch 32.)
  Var r("r");
  Func x("dense_bwd_weights_x");
  if (padded) {
    x(i, r) = select(i < in_c, input(clamp(i, 0, in_c - 1), r), select(i == in_c, 1.0f, 0.0f));
  } else {
    x(i, r) = input(i, r);
  }
  chunk(o, i, c) = 0.0f;
  chunk(o, i, c) += d_output(o, at) * x(i, at);
  RDom rp(0, per_task, "rp");
  rp.where(task * per_task + rp < chunks);
  partial(o, i, task) = 0.0f;
  // Clamped for the bounds only: `where` skips the chunks past the rows.
  partial(o, i, task) += chunk(o, i, min(task * per_task + rp, chunks - 1));
  detail::sum_task_partials(acc, partial, tasks, s.out_c, kGradientTasks, lanes);
  d_weights(o, i) = acc(o, i);

  Var oo("oo"), oi("oi"), io("io"), ii("ii");
  d_weights.vectorize(o, lanes);
  partial.update()
      .split(o, oo, oi, vectors * lanes)
      .split(i, io, ii, tile_i)
      .reorder(oi, ii, oo, io, rp, task)
      .vectorize(oi, lanes)
      .unroll(ii)
      .parallel(task);
  chunk.compute_at(partial, oo).vectorize(o, lanes).unroll(i);
  chunk.update().reorder(o, i, rc, c).vectorize(o, lanes).unroll(i);
  if (s.use_bias) {
    d_bias(o) = acc(o, in_c);
    d_bias.vectorize(o, lanes);
  }
  if (padded) {
    // Each chunk's rows of the input, the ones and zeros copied once (the
    // register tiles then read it from L1 without a select).
    x.compute_at(partial, rp).vectorize(i, 8);
  }
  return "chunks of " + std::to_string(chunk_rows) + " rows, " + std::to_string(vectors * lanes) +
         "o x " + std::to_string(tile_i) + "i";
}

}  // namespace

BuiltKernel build_dense_backward_weights(const KernelSpec& s, const Target& t) {
  ImageParam input = make_input("input", {s.in_c}, true);
  ImageParam d_output = make_input("d_output", {s.out_c}, true);
  Var o("o"), i("i");
  Expr rows = d_output.dim(1).extent();
  Func d_weights("d_weights"), d_bias;
  if (s.use_bias) d_bias = Func("d_bias");
  std::string how;
  if (chunked_weight_gradient(s, t)) {
    how = cpu_chunked_weight_gradient(d_weights, d_bias, o, i, input, d_output, rows, s, t);
  } else {
    RDom row(0, rows, "row");
    Func acc("dense_bwd_weights_acc");
    acc(o, i) = 0.0f;
    acc(o, i) += d_output(o, row) * input(i, row);
    d_weights(o, i) = acc(o, i);
    Func bias_acc("dense_bwd_bias_acc");
    RDom rb(0, rows, "rb");
    if (s.use_bias) {
      bias_acc(o) = 0.0f;
      bias_acc(o) += d_output(o, rb);
      d_bias(o) = bias_acc(o);
    }
    if (detail::is_gpu(t)) {
      detail::gpu_weight_gradient(d_weights, acc, {row}, s.out_c, s.in_c);
      if (s.use_bias) detail::gpu_pointwise(d_bias, {bias_acc});
    } else {
      schedule_outer_product_sum(d_weights, acc, row, s.out_c, s.in_c, t);
      if (s.use_bias) schedule_column_sum(d_bias, bias_acc, rb, s.out_c, t);
    }
  }
  return detail::finish_weight_gradient(input, d_output, d_weights, d_bias, {s.out_c, s.in_c},
                                        s.out_c, how);
}

}  // namespace cnnc::kernels
