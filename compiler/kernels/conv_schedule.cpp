// Schedules of the convolution kernels: apps/conv_layer's register tile of
// channel vectors by output columns, the reduction just outside it.
#include "compiler/kernels/conv_schedule.h"

#include <algorithm>

#include "compiler/kernels/gpu_schedule.h"

namespace cnnc::kernels::detail {

using namespace Halide;

namespace {

// Accumulator registers a tile may use (32 vector registers: the rest hold
// the weight vectors and the broadcast input).
constexpr int kMaxAccumulators = 24;

double waste(int64_t extent, int64_t tile) {
  return static_cast<double>((extent + tile - 1) / tile * tile) / static_cast<double>(extent);
}

// A small image: one task per channel tile holds the accumulators of every
// output pixel in L1, and the reduction runs in chunks of input channels
// whose weights (copied contiguously per chunk) stay in L1 for all pixels:
// each weight is read from memory once. False when the image is too large or
// the channel tiles too few to keep both cores busy.
// With a null `how`, only says whether it would.
bool schedule_whole_image(std::string* how, Func out, Func acc, Func w,
                          const std::vector<RVar>& rvars, const KernelSpec& s, const Target& t) {
  const int natural = std::max(t.natural_vector_size<float>(), 8);
  const int64_t max_c = (26 << 10) / (4 * s.out_w * s.out_h) / natural * natural;
  // At least four channel tiles, so that both cores have work.
  const int64_t quarter = std::max<int64_t>(s.out_c / 4 / natural * natural, natural);
  if (max_c < natural || s.out_c < natural) return false;
  const ConvTile tile = choose_conv_tile(std::min({s.out_c, max_c, quarter}), s.out_w, t, true);
  const int tile_c = tile.vectors * tile.lanes;
  if (tile.lanes == 0 || (s.out_c + tile_c - 1) / tile_c < 4) return false;
  // Beyond 8x8 pixels a tile of few accumulators loses to the row schedule
  // (measured at 14x14: 2 vectors x 7 columns); 13x13 (2 x 13) wins. Below
  // 12 accumulators (too few for the FMA latency) it loses at any size
  // (7x7, one vector x 7 columns: 20% slower at batch 32, about even at
  // batch 1).
  const int accumulators = tile.vectors * tile.columns;
  if (accumulators < 12 || (s.out_w * s.out_h > 64 && accumulators < 20)) return false;
  int chunk = static_cast<int>(s.in_c);
  const int max_chunk = (8 << 10) / (4 * tile_c);
  if (chunk > max_chunk) {
    chunk = 0;
    for (int d = max_chunk; d >= 4 && !chunk; --d) {
      if (s.in_c % d == 0) chunk = d;
    }
    if (!chunk) return false;
  }
  if (!how) return true;
  std::vector<Var> v = out.args();
  Var c = v[0], x = v[1], y = v[2], n = v[3];
  Var co("co"), ci("ci"), xo("xo"), xi("xi"), task("task"), axo("axo"), axi("axi");
  RVar rco("rco"), rci("rci");
  // A task: one channel tile of as many images as make kMinTaskFlops.
  const int images =
      units_per_task_flops(2 * s.out_w * s.out_h * tile_c * s.in_c * s.kernel_w * s.kernel_h);
  Var no("no"), ni("ni");
  out.split(c, co, ci, tile_c, TailStrategy::ShiftInwards)
      .split(x, xo, xi, tile.columns, TailStrategy::ShiftInwards)
      .vectorize(ci, tile.lanes)
      .unroll(ci)
      .unroll(xi);
  if (images > 1) {
    out.split(n, no, ni, images, TailStrategy::GuardWithIf)
        .reorder(ci, xi, xo, y, ni, co, no)
        .fuse(co, no, task);
    acc.compute_at(out, ni);
  } else {
    out.reorder(ci, xi, xo, y, co, n).fuse(co, n, task);
    acc.compute_at(out, task);
  }
  out.parallel(task);
  acc.vectorize(c, tile.lanes);
  acc.update()
      .split(x, axo, axi, tile.columns, TailStrategy::GuardWithIf)
      .split(rvars[0], rco, rci, chunk, TailStrategy::GuardWithIf)
      .reorder(c, axi, rci, axo, y, rco, rvars[1], rvars[2], n)
      .vectorize(c, tile.lanes)
      .unroll(c)
      .unroll(axi);
  if (w.defined()) {
    w.compute_at(acc, rco).vectorize(w.args()[0], tile.lanes, TailStrategy::GuardWithIf);
  }
  *how = "whole-image " + describe(tile) + " chunk " + std::to_string(chunk) +
         (images > 1 ? ", " + std::to_string(images) + " images a task" : "");
  return true;
}

}  // namespace

Func parallel_rows(Func f, int64_t floats_per_row) {
  std::vector<Var> v = f.args();
  parallel_row_blocks(f, v[2], v[3], floats_per_row);
  return f;
}

std::string describe(const ConvTile& tile) {
  return std::to_string(tile.vectors * tile.lanes) + "c x " + std::to_string(tile.columns) + "w";
}

ConvTile choose_conv_tile(int64_t channels, int64_t width, const Target& t, bool exact) {
  ConvTile best;
  const int natural = std::max(t.natural_vector_size<float>(), 8);
  // The widest vectors, even with a ragged tail (recomputed): measured faster
  // than exact 8-lane ones here, e.g. for 120 channels.
  int lanes = natural;
  if (channels < lanes) lanes = channels >= 8 ? 8 : 0;
  if (lanes == 0) return best;
  double best_cost = 1e30;
  for (int cv = 1; cv <= 4 && cv * lanes <= channels; ++cv) {
    const int max_acc = exact ? kMaxAccumulators + 4 : kMaxAccumulators;
    // Up to 12 columns, or 14 when they divide the width.
    const int max_tx = static_cast<int>(std::min<int64_t>(width, 14));
    for (int tx = 1; tx <= max_tx && cv * tx <= max_acc; ++tx) {
      if ((exact || tx > 12) && width % tx != 0) continue;
      // Work done, counting recomputed overlap (ShiftInwards tails), times
      // the loads per FMA of the inner step and a latency term for tiles
      // with too few independent accumulators.
      const double loads = static_cast<double>(cv + tx) / (cv * tx);
      const double latency = cv * tx < 12 ? 12.0 / (cv * tx) : 1.0;
      const double cost =
          waste(channels, cv * lanes) * waste(width, tx) * std::max(1.0 + 0.5 * loads, latency);
      if (cost < best_cost - 1e-9) best_cost = cost, best = ConvTile{lanes, cv, tx};
    }
  }
  return best;
}

ConvTile tuned_tile(ConvTile chosen, const ScheduleChoice& choice, int64_t channels,
                    int64_t width) {
  if (chosen.lanes == 0) return chosen;
  const int64_t max_vectors = std::max<int64_t>(1, channels / chosen.lanes);
  if (choice.tile_vectors > 0) {
    chosen.vectors = static_cast<int>(std::min<int64_t>(choice.tile_vectors, max_vectors));
  }
  if (choice.tile_columns > 0) {
    chosen.columns = static_cast<int>(std::min<int64_t>(choice.tile_columns, width));
  }
  return chosen;
}

bool unrolls_kernel_columns(const KernelSpec& s, const Target& t) {
  const bool data = s.kind == Kind::Conv2DBackwardData;
  if ((s.kind != Kind::Conv2D && !data) || is_gpu(t) || autoscheduled(s) ||
      s.schedule.tile_vectors > 0 || s.schedule.tile_columns > 0 || s.stride_w != 1 ||
      s.pad_left == 0 || s.kernel_w > 7 ||
      4 * s.in_c * (s.in_w + s.kernel_w) * (s.in_h + s.kernel_h) > (4 << 20)) {
    return false;
  }
  const ConvTile tile = choose_conv_tile(s.out_c, s.out_w, t);
  // A data gradient's tile of few accumulators spans several images instead.
  if (data && tile.vectors * tile.columns < 12) return false;
  // A row of one tile; or of two, both unrolled, when the tile's weights
  // stay in L1 (48 KB here) without chunks of input channels: 28x28x16 20%
  // and 14x14x32 15% faster than with a zero-bordered copy (and chunks).
  const bool one_tile = tile.columns == s.out_w && s.out_w <= 14;
  const bool two_tiles =
      s.out_w == 2 * tile.columns &&
      4 * tile.vectors * tile.lanes * s.in_c * s.kernel_w * s.kernel_h <= (40 << 10);
  return tile.lanes > 0 && (one_tile || two_tiles) &&
         !schedule_whole_image(nullptr, Func(), Func(), Func(), {}, s, t);
}

std::string schedule_conv_forward(Func out, Func acc, Func padded, bool padded_is_copy, Func w,
                                  const std::vector<RVar>& rvars, const KernelSpec& s,
                                  const Target& t) {
  std::vector<Var> v = out.args();
  Var c = v[0], x = v[1], y = v[2], n = v[3];
  Var co("co"), ci("ci"), xo("xo"), xi("xi"), task("task");
  const ConvTile tile =
      tuned_tile(choose_conv_tile(s.out_c, s.out_w, t), s.schedule, s.out_c, s.out_w);
  // A tuned tile runs in the row schedule (the whole-image one picks its own).
  const bool tuned = s.schedule.tile_vectors > 0 || s.schedule.tile_columns > 0;
  // Padding: a zero-bordered copy of the input, so the inner loop has no
  // selects; the whole image unless it is large, then the rows each task reads.
  const int64_t padded_bytes = 4 * s.in_c * (s.in_w + s.kernel_w) * (s.in_h + s.kernel_h);
  const bool padded_at_root = !padded_is_copy || padded_bytes <= (4 << 20);
  if (padded_is_copy && tile.lanes > 0) {
    const int in_lanes = channel_lanes(s.in_c, t);
    if (in_lanes > 0) padded.vectorize(padded.args()[0], in_lanes, TailStrategy::GuardWithIf);
    if (padded_at_root) parallel_rows(padded.compute_root(), s.in_c * (s.in_w + s.kernel_w));
  }
  std::string how;
  if (tile.lanes > 0 && padded_at_root && !tuned &&
      schedule_whole_image(&how, out, acc, w, rvars, s, t)) {
    return how;
  }
  if (tile.lanes == 0) {
    // Few output channels: output columns are the vector axis, and the
    // padded input is stored with columns innermost so that they load as
    // vectors.
    // Rows narrower than 16 columns (9 to 15) still fill 16 lanes: the
    // accumulators are rounded up to 16 columns, read from the zero-bordered
    // copy, and only the columns that exist are stored.
    const bool round_up = s.out_w < 16 && s.out_w > 8 && padded_is_copy;
    const int lanes = s.out_w >= 16 || round_up ? 16 : 8;
    if (s.out_w >= 8) {
      std::vector<Var> p = padded.args();
      padded.compute_root().reorder_storage(p[1], p[0], p[2], p[3]);
      if (s.in_w >= lanes) padded.reorder(p[1], p[0], p[2], p[3]).vectorize(p[1], lanes);
      // The forward pass pads a small image per task (rows of one or two
      // vectors are too little work for a task each).
      if (s.kind == Kind::Conv2D) {
        padded.parallel(p[3]);
      } else {
        parallel_rows(padded, s.in_c * (s.in_w + s.kernel_w));
      }
      // Every channel (fewer than 8) of a few rows in registers: enough
      // independent accumulators to hide the FMA latency, and each weight
      // broadcast serves every row.
      const int rows = static_cast<int>(
          std::min<int64_t>({s.out_h, 8, std::max<int64_t>(1, kMaxAccumulators / s.out_c)}));
      Var yo("yo"), yi("yi");
      out.split(x, xo, xi, lanes, round_up ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards)
          .split(y, yo, yi, rows, TailStrategy::ShiftInwards)
          .reorder(xi, c, yi, xo, yo, n)
          .vectorize(xi);
      // The forward output's channels lie innermost: a tile row's channels
      // and columns stored as one dense vector (a transpose in registers)
      // rather than a scatter of stride out_c per channel.
      if (s.kind == Kind::Conv2D && s.out_pixel_stride <= s.out_c && !round_up) {
        out.bound(c, 0, static_cast<int>(s.out_c)).reorder(c, xi, yi, xo, yo, n).vectorize(c);
      }
      acc.compute_at(out, xo).reorder_storage(x, c, y, n).vectorize(x).unroll(c).unroll(y);
      if (round_up) acc.align_bounds(x, lanes);
      std::vector<VarOrRVar> order = {x, c, y};
      for (const RVar& r : rvars) order.push_back(r);
      order.push_back(n);
      acc.update().reorder(order).vectorize(x).unroll(c).unroll(y);
      out.fuse(yo, n, task).parallel(task);
    } else {
      acc.compute_at(out, x);
      out.fuse(y, n, task).parallel(task);
    }
    if (s.out_w < 8 && padded_is_copy) padded.compute_root();
    return s.out_w >= 8 ? "direct, columns as vectors" : "direct, scalar";
  }
  // When a tile's weights overflow L1 (32 KB, or 40 KB for a row unrolled
  // whole), the reduction over input channels is split into chunks whose
  // weights stay in L1 while every column tile of the row accumulates into a
  // row of accumulators (in L1 too).
  const int tile_c = tile.vectors * tile.lanes;
  const int64_t tile_weight_bytes = 4 * tile_c * s.in_c * s.kernel_w * s.kernel_h;
  int chunk = 0;
  if (tile_weight_bytes > (32 << 10) && s.out_w % tile.columns == 0 && s.out_w > tile.columns &&
      !unrolls_kernel_columns(s, t)) {
    const int max_chunk = (16 << 10) / (4 * tile_c);
    for (int d = std::min<int>(max_chunk, static_cast<int>(s.in_c)); d >= 8 && !chunk; --d) {
      if (s.in_c % d == 0) chunk = d;
    }
  }
  out.split(c, co, ci, tile_c, TailStrategy::ShiftInwards)
      .split(x, xo, xi, tile.columns, TailStrategy::ShiftInwards)
      .vectorize(ci, tile.lanes)
      .unroll(ci)
      .unroll(xi);
  // Too few accumulators for the FMA latency (one channel vector by a narrow
  // row, e.g. LeNet-5 conv3's data gradient, 16 channels x 7 columns): the
  // tile spans a few images too, each weight vector serving all of them
  // (measured 15% faster there with 4). Only for the data gradient, run on
  // training batches: a batch not a multiple of `images` runs its last
  // images in a slower guarded tail.
  const int accumulators = tile.vectors * tile.columns;
  const int max_accumulators = t.natural_vector_size<float>() >= 16 ? 28 : 12;
  const int images =
      s.kind == Kind::Conv2DBackwardData && chunk == 0 && padded_at_root && accumulators < 12
          ? std::min(4, max_accumulators / accumulators)
          : 1;
  Var no("no"), ni("ni");
  if (images > 1) {
    out.split(n, no, ni, images, TailStrategy::GuardWithIf).unroll(ni);
    out.fuse(y, no, task);
  } else {
    out.fuse(y, n, task);
  }
  // Rows (of `images` images) in blocks of at least kMinTaskFlops per task.
  const int64_t row_flops = 2 * images * s.out_w * s.out_c * s.in_c * s.kernel_w * s.kernel_h;
  const int rows = padded_at_root ? units_per_task_flops(row_flops) : 1;
  Var block("row_block"), row("row");
  const bool shares_taps = chunk == 0 && images == 1 && tile.vectors == 1 && s.stride_w == 1 &&
                           s.kernel_w > 1 && s.kernel_w <= 7;
  if (rows > 1) out.split(task, block, row, rows, TailStrategy::GuardWithIf);
  if (chunk > 0) {
    Var axo("axo"), axi("axi");
    RVar rco("rco"), rci("rci");
    acc.compute_at(out, padded_at_root ? (rows > 1 ? row : task) : co).vectorize(c, tile.lanes);
    acc.update()
        .split(x, axo, axi, tile.columns, TailStrategy::GuardWithIf)
        .split(rvars[0], rco, rci, chunk, TailStrategy::GuardWithIf)
        .reorder(c, axi, rci, axo, rco, rvars[1], rvars[2], y, n)
        .vectorize(c, tile.lanes)
        .unroll(c)
        .unroll(axi);
  } else if (unrolls_kernel_columns(s, t) || shares_taps) {
    // Kernel columns unrolled inside the input channel loop: with the row's
    // columns unrolled too, the taps on the zero border are known at compile
    // time and dropped (the builder's predicate). And neighbouring taps share
    // their inputs: with one channel vector each FMA needs a broadcast input
    // of its own otherwise (14 columns x 3 taps: 16 broadcasts for 42 FMAs,
    // not 42; 28x28x16: 15% faster).
    if (unrolls_kernel_columns(s, t)) out.unroll(xo);
    acc.compute_at(out, xo).vectorize(c, tile.lanes).unroll(c).unroll(x);
    acc.update()
        .reorder(c, x, rvars[1], rvars[0], rvars[2], y, n)
        .vectorize(c, tile.lanes)
        .unroll(c)
        .unroll(x)
        .unroll(rvars[1]);
  } else {
    acc.compute_at(out, xo).vectorize(c, tile.lanes).unroll(c).unroll(x);
    std::vector<VarOrRVar> order = {c, x};
    if (images > 1) {
      acc.reorder(c, x, n, y).unroll(n);
      order.push_back(n);
    }
    for (const RVar& r : rvars) order.push_back(r);
    order.push_back(y);
    if (images == 1) order.push_back(n);
    acc.update().reorder(order).vectorize(c, tile.lanes).unroll(c).unroll(x);
    if (images > 1) acc.update().unroll(n);
  }
  // The weights of a channel tile, copied contiguously: read in place, the
  // tile's rows lie out_c floats apart, a power of two that maps them onto
  // few cache sets and many pages.
  if (w.defined()) w.vectorize(w.args()[0], tile.lanes, TailStrategy::GuardWithIf);
  if (padded_at_root) {
    // Channel tiles outermost: each copies its weights once.
    std::vector<VarOrRVar> order = {ci, xi};
    if (images > 1) order.push_back(ni);
    order.push_back(xo);
    if (rows > 1) order.push_back(row);
    order.push_back(rows > 1 ? block : task);
    order.push_back(co);
    out.reorder(order).parallel(co).parallel(rows > 1 ? block : task);
    if (w.defined()) w.compute_at(out, co);
  } else {
    // A large image (few channels): rows outermost, each pads its rows.
    out.reorder(ci, xi, xo, co, task).parallel(task);
    if (w.defined()) w.compute_root();
    padded.compute_at(out, task);
  }
  return "direct " + describe(tile) + (images > 1 ? " x " + std::to_string(images) + "n" : "") +
         (chunk ? " chunk " + std::to_string(chunk) : "") + (padded_at_root ? "" : ", rows pad") +
         (chunk == 0 && images == 1 && unrolls_kernel_columns(s, t) ? ", border columns skipped"
          : shares_taps                                             ? ", kernel columns unrolled"
                                                                    : "");
}

}  // namespace cnnc::kernels::detail
