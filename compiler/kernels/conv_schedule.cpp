// Schedules of the convolution kernels: apps/conv_layer's register tile of
// channel vectors by output columns, the reduction just outside it.
#include "compiler/kernels/conv_schedule.h"

#include <algorithm>
#include <cmath>

namespace cnnc::kernels::detail {

using namespace Halide;

namespace {

// Accumulator registers a tile may use (32 vector registers: the rest hold
// the weight vectors and the broadcast input).
constexpr int kMaxAccumulators = 24;

double waste(int64_t extent, int64_t tile) {
  return static_cast<double>((extent + tile - 1) / tile * tile) / static_cast<double>(extent);
}

}  // namespace

ConvTile choose_conv_tile(int64_t channels, int64_t width, const Target& t) {
  ConvTile best;
  const int natural = std::max(t.natural_vector_size<float>(), 8);
  // 8-lane vectors when they fit the channels exactly and wider ones do not:
  // two 256-bit FMA pipes do as much work as one 512-bit.
  int lanes = natural;
  if (channels % natural != 0 && channels % 8 == 0) lanes = 8;
  if (channels < lanes) lanes = channels >= 8 ? 8 : 0;
  if (lanes == 0) return best;
  double best_cost = 1e30;
  for (int cv = 1; cv <= 4 && cv * lanes <= channels; ++cv) {
    for (int tx = 1; tx <= std::min<int64_t>(width, 12) && cv * tx <= kMaxAccumulators; ++tx) {
      // Work done, counting recomputed overlap (ShiftInwards tails), times
      // the loads per FMA of the inner step and a latency term for tiles
      // with too few independent accumulators.
      const double loads = static_cast<double>(cv + tx) / (cv * tx);
      const double latency = cv * tx < 12 ? 12.0 / (cv * tx) : 1.0;
      const double cost = waste(channels, cv * lanes) * waste(width, tx) *
                          std::max(1.0 + 0.5 * loads, latency);
      if (cost < best_cost - 1e-9) best_cost = cost, best = ConvTile{lanes, cv, tx};
    }
  }
  return best;
}

void schedule_conv_forward(Func out, Func acc, Func padded, bool padded_is_copy,
                           const std::vector<RVar>& rvars, const KernelSpec& s, const Target& t) {
  std::vector<Var> v = out.args();
  Var c = v[0], x = v[1], y = v[2], n = v[3];
  Var co("co"), ci("ci"), xo("xo"), xi("xi"), task("task");
  const ConvTile tile = choose_conv_tile(s.out_c, s.out_w, t);
  // Padding: a zero-bordered copy of the input, so the inner loop has no
  // selects; the whole image when small, else the rows each task reads.
  const int64_t padded_bytes = 4 * s.in_c * (s.in_w + s.kernel_w) * (s.in_h + s.kernel_h);
  const bool padded_at_root = padded_bytes <= (1 << 20);
  if (padded_is_copy) {
    Var pc = padded.args()[0], px = padded.args()[1], py = padded.args()[2];
    const int in_lanes = channel_lanes(s.in_c, t);
    if (in_lanes > 0) padded.vectorize(pc, in_lanes, TailStrategy::GuardWithIf);
    if (padded_at_root) padded.compute_root().parallel(py);
    (void)px;
  }
  if (tile.lanes > 0) {
    const int tile_c = tile.vectors * tile.lanes;
    out.split(c, co, ci, tile_c, TailStrategy::ShiftInwards)
        .split(x, xo, xi, tile.columns, TailStrategy::ShiftInwards)
        .reorder(ci, xi, xo, y, co, n)
        .vectorize(ci, tile.lanes)
        .unroll(ci)
        .unroll(xi);
    acc.compute_at(out, xo).vectorize(c, tile.lanes).unroll(c).unroll(x);
    std::vector<VarOrRVar> order = {c, x};
    for (const RVar& r : rvars) order.push_back(r);
    order.push_back(y);
    order.push_back(n);
    acc.update().reorder(order).vectorize(c, tile.lanes).unroll(c).unroll(x);
    // Consecutive tasks share a channel tile: its weights stay in cache.
    out.fuse(y, co, task).fuse(task, n, task).parallel(task);
  } else {
    // Few output channels: output columns are the vector axis.
    const int lanes = s.out_w >= 16 ? 16 : 8;
    if (s.out_w >= 8) {
      out.split(x, xo, xi, lanes, TailStrategy::ShiftInwards)
          .reorder(xi, c, xo, y, n)
          .vectorize(xi);
      acc.compute_at(out, c).vectorize(x);
      std::vector<VarOrRVar> order = {x};
      for (const RVar& r : rvars) order.push_back(r);
      order.push_back(c);
      order.push_back(y);
      order.push_back(n);
      acc.update().reorder(order).vectorize(x);
    } else {
      acc.compute_at(out, x);
    }
    out.fuse(y, n, task).parallel(task);
  }
  if (padded_is_copy && !padded_at_root) padded.compute_at(out, task);
}

}  // namespace cnnc::kernels::detail
