// Dense and its data gradient on flat rows: input (in, rows), weights
// (out, in), output (out, rows); rows is the free outermost extent. (The
// weight gradient: dense_backward_weights.cpp.)
#include <algorithm>
#include <string>
#include <utility>

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

// The most rows a register tile spans.
constexpr int kTileRows = 6;

// out(o, row) = f(acc(o, row)), acc reduced over `k` reading a(o, k) as
// vectors and a broadcast b(k, row): a register tile of up to 4 vectors of o
// by a few rows (when the batch has that many), the reduction just outside.
// Parallel over tiles of o (GEMV at batch 1) and, when those are few, rows.
// `a_tile`, when defined, is a Func computed per o tile (the transposed
// weights' slice).
// Returns a description for profiles.
std::string schedule_row_matvec(Func out, Func acc, Func a_tile, const RVar& k, int64_t out_extent,
                                const ScheduleChoice& choice, const Target& t) {
  Var o = out.args()[0], row = out.args()[1], oo("oo"), oi("oi"), ro("ro"), ri("ri");
  const detail::ConvTile tile = detail::tuned_tile(
      detail::choose_conv_tile(out_extent, kTileRows, t), choice, out_extent, kTileRows);
  if (tile.lanes == 0) {
    acc.compute_at(out, row);
    out.parallel(row);
    return "scalar rows";
  }
  const int tile_o = tile.vectors * tile.lanes, tile_r = tile.columns;
  // Fewer rows than a tile (GEMV): blocks of o as wide as two tasks allow
  // (up to 2048), the reduction outermost, so the weights stream row by
  // row; read in o tiles, each k step would jump out_extent floats, a page.
  const int lanes = tile.lanes;
  const int block = a_tile.defined() ? tile_o
                                     : std::max(lanes, static_cast<int>(std::min<int64_t>(
                                                           out_extent / 2 / lanes * lanes, 2048)));
  Expr many = out.output_buffer().dim(1).extent() >= tile_r;
  // Row tiles run as tasks too only when the o tiles are few: one tile by
  // one row tile is too little work for a task (LeNet-5's fc1 data gradient,
  // 92 o tiles by 6 row tiles: 0.34 ms so, 0.31 ms with tasks of o tiles).
  Stage tiled = out.specialize(many)
                    .split(o, oo, oi, tile_o, TailStrategy::ShiftInwards)
                    .split(row, ro, ri, tile_r, TailStrategy::ShiftInwards)
                    .reorder(oi, ri, ro, oo)
                    .vectorize(oi, lanes)
                    .unroll(oi)
                    .unroll(ri)
                    .parallel(oo);
  if (out_extent < 8 * tile_o) tiled.parallel(ro);
  out.split(o, oo, oi, block, TailStrategy::ShiftInwards)
      .split(row, ro, ri, 1)
      .reorder(oi, ri, ro, oo)
      .vectorize(oi, lanes)
      .parallel(oo)
      .parallel(ro);
  if (a_tile.defined()) {
    a_tile.compute_at(out, oo).vectorize(a_tile.args()[0], lanes, TailStrategy::GuardWithIf);
  }
  acc.compute_at(out, ro);
  acc.specialize(many).vectorize(o, lanes).unroll(o).unroll(row);
  acc.vectorize(o, lanes);
  acc.update().specialize(many).reorder(o, row, k).vectorize(o, lanes).unroll(o).unroll(row);
  acc.update().reorder(o, row, k).vectorize(o, lanes);
  return "gemm " + std::to_string(tile_o) + "o x " + std::to_string(tile_r) + "r" +
         (a_tile.defined()
              ? ", weights copied per o tile"
              : ", gemv " + std::to_string(block) + "o below " + std::to_string(tile_r) + " rows");
}

// A long reduction (a classifier's input) splits into a fixed number of
// chunks whose partial products are summed after, in chunk order: so the
// result does not depend on the thread count. The smallest count (2 to 64)
// that divides in_c into chunks of at most 1024; 0 when none does or the
// reduction is short (<4096: one pass over the weights is cheap enough).
int reduction_chunks(const KernelSpec& s, const Target& t) {
  if (s.rows_per_image != 1 || s.in_c < 4096 || channel_lanes(s.out_c, t) == 0) return 0;
  for (int64_t c = 2; c <= 64; ++c) {
    if (s.in_c % c == 0 && s.in_c / c <= 1024) return static_cast<int>(c);
  }
  return 0;
}

// The register tile of a split reduction: up to 8 rows (training batches
// are multiples of 8; 48o x 8r took 0.21 ms for LeNet-5's fc1 at batch 32,
// 48o x 6r 0.25 ms).
detail::ConvTile split_reduction_tile(const KernelSpec& s, const Target& t) {
  constexpr int kRows = 8;
  return detail::tuned_tile(detail::choose_conv_tile(s.out_c, kRows, t), s.schedule, s.out_c,
                            kRows);
}

// part(o, row, c) = sum(c-th chunk of the reduction), then out = f(acc),
// acc summing the chunks in order. Each task is one chunk of one o tile.
// With `many` rows (a tile's or more), its slice of the weights (o tile x
// chunk, under 200 KB) is `w_tile`, copied contiguously first: read in
// place its rows lie out_c floats apart (16 KB for VGG's fc1), on so few
// cache sets that the slice streamed from memory again for every row tile.
// Below a tile's rows (GEMV) as schedule_row_matvec: blocks of o, the
// chunk's weights streamed row by row (a copy would double that).
std::string schedule_split_reduction(Func out, Func acc, Func part, Func chunk_acc, Func w_tile,
                                     const RVar& kk, Expr many, int chunks, const KernelSpec& s,
                                     const Target& t) {
  Var o = part.args()[0], row = part.args()[1], c = part.args()[2], oo("oo"), oi("oi"), ro("ro"),
      ri("ri");
  const int64_t out_extent = s.out_c;
  const detail::ConvTile tile = split_reduction_tile(s, t);
  const int lanes = tile.lanes, tile_o = tile.vectors * lanes, tile_r = tile.columns;
  const int block =
      std::max(lanes, static_cast<int>(std::min<int64_t>(out_extent / 2 / lanes * lanes, 2048)));
  part.compute_root();
  part.specialize(many)
      .split(o, oo, oi, tile_o, TailStrategy::ShiftInwards)
      .split(row, ro, ri, tile_r, TailStrategy::ShiftInwards)
      .reorder(oi, ri, ro, oo, c)
      .vectorize(oi, lanes)
      .unroll(oi)
      .unroll(ri)
      .parallel(oo)
      .parallel(c);
  part.split(o, oo, oi, block, TailStrategy::ShiftInwards)
      .split(row, ro, ri, 1)
      .reorder(oi, ri, ro, oo, c)
      .vectorize(oi, lanes)
      .parallel(oo)
      .parallel(c);
  w_tile.compute_at(part, oo).vectorize(w_tile.args()[0], lanes, TailStrategy::GuardWithIf);
  chunk_acc.compute_at(part, ro);
  chunk_acc.specialize(many).vectorize(o, lanes).unroll(o).unroll(row);
  chunk_acc.vectorize(o, lanes);
  chunk_acc.update().specialize(many).reorder(o, row, kk).vectorize(o, lanes).unroll(o).unroll(row);
  chunk_acc.update().reorder(o, row, kk).vectorize(o, lanes);
  // The sum of the chunks: a few adds per output, one pass.
  Var out_o = out.args()[0], vo("vo"), vi("vi");
  out.split(out_o, vo, vi, lanes, TailStrategy::ShiftInwards).vectorize(vi);
  acc.compute_at(out, vo).vectorize(acc.args()[0], lanes);
  acc.update().vectorize(acc.args()[0], lanes);
  return "gemm " + std::to_string(tile_o) + "o x " + std::to_string(tile_r) + "r, reduction in " +
         std::to_string(chunks) + " chunks, weights copied per task, gemv " +
         std::to_string(block) + "o below " + std::to_string(tile_r) + " rows";
}

// The register tile of a 1x1 convolution over pixels: channel vectors by
// rows, the accumulators, the weight vectors and a broadcast within the
// vector registers (64o x 7r spills one per step). With `exact`, only row
// counts that divide the image. Cost as in choose_conv_tile: work computed in
// vain (channels, rows recomputed at the end of an image), loads per FMA, too
// few accumulators to hide the FMA latency.
detail::ConvTile choose_pixel_tile(int64_t channels, int64_t image, bool exact, const Target& t) {
  const int natural = std::max(t.natural_vector_size<float>(), 8);
  const int lanes = channels >= natural ? natural : channels >= 8 ? 8 : 0;
  const int registers = t.has_feature(Target::AVX512) ? 32 : 16;
  auto waste = [](int64_t extent, int64_t tile) {
    return static_cast<double>((extent + tile - 1) / tile * tile) / static_cast<double>(extent);
  };
  detail::ConvTile best;
  double best_cost = 1e30;
  for (int cv = 1; lanes > 0 && cv <= 4 && cv * lanes <= channels; ++cv) {
    for (int tr = 1; tr <= 14 && tr <= image; ++tr) {
      if ((exact && image % tr != 0) || cv * tr + cv + 1 > registers) continue;
      const double loads = static_cast<double>(cv + tr) / (cv * tr);
      const double latency = cv * tr < 12 ? 12.0 / (cv * tr) : 1.0;
      const double cost =
          waste(channels, cv * lanes) * waste(image, tr) * std::max(1.0 + 0.5 * loads, latency);
      if (cost < best_cost - 1e-9) best_cost = cost, best = detail::ConvTile{lanes, cv, tr};
    }
  }
  return best;
}

// A 1x1 convolution over pixels: out(o, row) = f(acc(o, row)), each call a
// whole number of images of `rows_per_image` rows. A register tile of channel
// vectors by rows, the reduction over all of `k` just outside it; each o
// tile of the weights is copied contiguously first and re-read by the row
// tiles from L1/L2. Expanding products over many pixels run blocks of rows
// as tasks, each writing whole output rows (all its o tiles); the others copy
// each o tile once and run its row blocks as tasks (parallel o tiles too, so
// that 7x7 images keep both cores busy). With `in_place` (out may alias an
// input read at the same element) only tiles that divide the channels and the
// image, so no tail is shifted inwards and computed twice. `in` is the input
// (of s.in_c channels by rows). Returns "" when the channels are too few for
// vectors or no such tile fits.
std::string schedule_pixel_gemm(Func out, Func acc, Func w_tile, const RVar& k, ImageParam in,
                                const KernelSpec& s, const Target& t, bool in_place = false) {
  const int64_t image = s.rows_per_image;
  // Small images (14x14, 7x7) are blocks whole. Expanding products over
  // larger ones copy every o tile per block of rows, so blocks of about an
  // eighth of the image, of row tiles that divide it (none recomputed); the
  // others copy each o tile once, so blocks of about 32 rows, many tasks
  // that balance the cores under load. Other tails shift inwards.
  const bool whole = image <= 256;
  const bool expanding = !whole && s.out_c >= s.in_c && s.out_c <= image;
  const detail::ConvTile tile = detail::tuned_tile(
      choose_pixel_tile(s.out_c, image, expanding || in_place, t), s.schedule, s.out_c, image);
  if (tile.lanes == 0) return "";
  const int tile_o = tile.vectors * tile.lanes, tile_r = tile.columns;
  if (in_place && (s.out_c % tile_o != 0 || image % tile_r != 0)) return "";
  const int64_t tiles = image / tile_r;
  int64_t block = std::clamp<int64_t>(expanding ? tiles / 8 : 32 / tile_r, 1, tiles);
  while (tiles % block != 0) --block;
  block = whole ? image : block * tile_r;
  // Up to kMinTaskFlops a task: a divisor of the image in whole row tiles,
  // at most the image (blocks of several images, guarded, ran slower).
  const int64_t min_rows =
      detail::units_per_task_flops(2 * s.in_c * (expanding ? s.out_c : tile_o));
  if (block < min_rows) {
    int64_t fit = image;
    for (int64_t d = min_rows; d < image && fit == image; ++d) {
      if (image % d == 0 && d % tile_r == 0) fit = d;
    }
    block = fit;
  }
  Var o = out.args()[0], row = out.args()[1], oo("oo"), oi("oi"), rb("rb"), rr("rr"), ro("ro"),
      ri("ri");
  out.split(o, oo, oi, tile_o, TailStrategy::ShiftInwards)
      .split(row, rb, rr, static_cast<int>(block), TailStrategy::ShiftInwards)
      .split(rr, ro, ri, tile_r, TailStrategy::ShiftInwards);
  std::string how = "pixel gemm " + std::to_string(tile_o) + "o x " + std::to_string(tile_r) +
                    "r, blocks of " + std::to_string(block) + " rows";
  if (expanding) {
    // Each task writes whole output rows.
    out.reorder(oi, ri, ro, oo, rb).parallel(rb);
    how += ", all o tiles per block";
  } else {
    // Each o tile copied once, its row blocks run as parallel tasks.
    out.reorder(oi, ri, ro, rb, oo).parallel(oo).parallel(rb);
  }
  Var at = ro;
  if (tile.vectors == 1 && s.out_c == tile_o && s.in_c >= 64) {
    // One vector of o by many rows of 4 or more cache lines each: the tile
    // reads a line of every row per k step, an order the prefetchers follow
    // badly from memory. The input rows of a few tiles (up to 16 KB) are
    // copied first, in memory order. resnet_mini's 64 -> 16 channels at
    // 28x28, batch 32, when its input is not in cache: 1.0-1.25 ms so, 0.75-0.8
    // copied (one thread; 10% slower when the input is in L3, as at batch 1).
    const int tiles_per_copy =
        std::max<int>(1, static_cast<int>((16 << 10) / (4 * s.in_c * tile_r)));
    Var rc("rc");
    out.split(ro, rc, at, tiles_per_copy, TailStrategy::GuardWithIf);
    Func copy = in.in();
    copy.compute_at(out, rc).vectorize(copy.args()[0], tile.lanes, TailStrategy::GuardWithIf);
    how += ", input copied per " + std::to_string(tiles_per_copy * tile_r) + " rows";
  }
  out.vectorize(oi, tile.lanes).unroll(oi).unroll(ri);
  w_tile.compute_at(out, oo).vectorize(w_tile.args()[0], tile.lanes, TailStrategy::GuardWithIf);
  acc.compute_at(out, at).vectorize(o, tile.lanes).unroll(o).unroll(row);
  acc.update().reorder(o, row, k).vectorize(o, tile.lanes).unroll(o).unroll(row);
  return how;
}

}  // namespace

BuiltKernel build_dense(const KernelSpec& s, const Target& t) {
  detail::check_pixel_strides(s);
  ImageParam input = detail::make_strided_input("input", {s.in_c}, true, s.in_pixel_stride);
  ImageParam weights = make_input("weights", {s.out_c, s.in_c}, false);
  std::vector<ImageParam> inputs = {input, weights};
  Var o("o"), row("row");
  Func acc("dense_acc"), output("output");
  if (s.use_bias) {
    ImageParam bias = make_input("bias", {s.out_c}, false);
    inputs.push_back(bias);
    acc(o, row) = bias(o);
  } else {
    acc(o, row) = 0.0f;
  }
  Expr residual = 0.0f;
  if (s.residual) {
    ImageParam r = detail::make_strided_input("residual", {s.out_c}, true, s.residual_pixel_stride);
    inputs.push_back(r);
    residual = r(o, row);
  }
  RDom k(0, static_cast<int>(s.in_c), "k");
  const int chunks = detail::is_gpu(t) || detail::autoscheduled(s) ? 0 : reduction_chunks(s, t);
  Func part("dense_part"), chunk_acc("dense_chunk_acc");
  RDom kk(0, static_cast<int>(s.in_c / std::max(chunks, 1)), "kk");
  // Split reductions with a register tile's rows or more read a per-task copy
  // of the weights (schedule_split_reduction; the select goes away in each
  // specialization on `many`).
  Func w_tile("dense_w_tile");
  Expr many = chunks > 0 ? input.dim(1).extent() >= split_reduction_tile(s, t).columns : Expr();
  if (chunks > 0) {
    Var c("c");
    Expr at = c * kk.x.extent() + kk;
    Var i("i");
    w_tile(o, i) = weights(o, i);
    chunk_acc(o, row, c) = 0.0f;
    chunk_acc(o, row, c) += select(many, w_tile(o, at), weights(o, at)) * input(at, row);
    part(o, row, c) = chunk_acc(o, row, c);
    RDom rc(0, chunks, "rc");
    acc(o, row) += part(o, row, rc);
  } else {
    acc(o, row) += weights(o, k) * input(k, row);
  }
  output(o, row) = detail::apply_act(acc(o, row) + residual, s.act);
  constrain_output(output, {s.out_c}, true, s.out_pixel_stride);
  detail::require(s, s.schedule.algorithm.empty() || detail::autoscheduled(s),
                  "unknown schedule algorithm");
  std::string how = "autoscheduled " + s.schedule.algorithm;
  if (detail::is_gpu(t)) {
    detail::gpu_matvec(output, acc, k, s.out_c);
    how = "gpu matvec";
  } else if (chunks > 0) {
    how = schedule_split_reduction(output, acc, part, chunk_acc, w_tile, kk, many, chunks, s, t);
  } else if (!detail::autoscheduled(s)) {
    // Rows that fill register tiles (a 1x1 convolution): each o tile's
    // weights copied contiguously once, then reused by every row tile. Read
    // in place, a tile's rows lie out_c floats apart, a power of two that
    // maps them onto few cache sets, so the tile would stream from memory for
    // each row tile. (Fewer rows, GEMV, read every weight once: a copy would
    // double that.)
    Func w_tile = s.rows_per_image >= kTileRows ? Func(weights.in()) : Func();
    if (w_tile.defined()) how = schedule_pixel_gemm(output, acc, w_tile, k, input, s, t);
    if (!w_tile.defined() || how.empty()) {
      how = schedule_row_matvec(output, acc, w_tile, k, s.out_c, s.schedule, t);
    }
  }
  BuiltKernel built = detail::finish_kernel(inputs, {output});
  built.schedule = how;
  return built;
}

namespace {

// out(i, row) = f(acc(i, row)) with out aliasing an input read at the same
// element (a gradient summed in): each element computed once, in parallel
// blocks of rows of at least kMinTaskFlops, vectors of i with a guarded tail.
std::string schedule_in_place_rows(Func out, Func acc, Func weights_t, int64_t in_c, int64_t out_c,
                                   const Target& t) {
  Var i = out.args()[0], row = out.args()[1], rb("rb"), rr("rr");
  weights_t.compute_root();
  out.split(row, rb, rr, detail::units_per_task_flops(2 * in_c * out_c), TailStrategy::GuardWithIf)
      .parallel(rb);
  acc.compute_at(out, rr);
  const int lanes = channel_lanes(in_c, t);
  if (lanes > 0) {
    out.vectorize(i, lanes, TailStrategy::GuardWithIf);
    acc.vectorize(i, lanes);
    acc.update().vectorize(i, lanes);
  }
  return "in place rows";
}

}  // namespace

BuiltKernel build_dense_backward_data(const KernelSpec& s, const Target& t) {
  ImageParam d_output = make_input("d_output", {s.out_c}, true);
  ImageParam weights = make_input("weights", {s.out_c, s.in_c}, false);
  std::vector<ImageParam> inputs = {d_output, weights};
  Var i("i"), o("o"), row("row");
  // Transposed once to (in, out) so `in` is the vector axis.
  Func weights_t("weights_t"), acc("dense_bwd_data_acc"), d_input("d_input");
  weights_t(i, o) = weights(o, i);
  RDom k(0, static_cast<int>(s.out_c), "k");
  acc(i, row) = 0.0f;
  acc(i, row) += weights_t(i, k) * d_output(k, row);
  if (s.residual) {
    // A second gradient summed in, as the Add it replaces (a + b).
    ImageParam d_residual = make_input("d_residual", {s.in_c}, true);
    inputs.push_back(d_residual);
    d_input(i, row) = d_residual(i, row) + acc(i, row);
  } else {
    d_input(i, row) = acc(i, row);
  }
  constrain_output(d_input, {s.in_c}, true);
  std::string how = "gpu matvec";
  if (detail::is_gpu(t)) {
    detail::gpu_root(weights_t);
    if (s.residual) {
      detail::gpu_pointwise(d_input, {acc});  // in place: no element twice
      how = "gpu pointwise";
    } else {
      detail::gpu_matvec(d_input, acc, k, s.in_c);
    }
  } else {
    // A 1x1 convolution's (whole images of rows): the forward's pixel GEMM,
    // with in and out swapped and the transposed weights as its o tiles.
    how = "";
    if (s.rows_per_image >= kTileRows) {
      KernelSpec swapped = s;
      std::swap(swapped.in_c, swapped.out_c);
      swapped.schedule = {};
      how = schedule_pixel_gemm(d_input, acc, weights_t, k, d_output, swapped, t, s.residual);
    }
    if (how.empty()) {
      how = s.residual ? schedule_in_place_rows(d_input, acc, weights_t, s.in_c, s.out_c, t)
                       : schedule_row_matvec(d_input, acc, weights_t, k, s.in_c, {}, t);
    }
  }
  BuiltKernel built = detail::finish_kernel(inputs, {d_input});
  built.schedule = how;
  return built;
}

}  // namespace cnnc::kernels
