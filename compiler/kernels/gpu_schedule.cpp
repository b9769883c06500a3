#include "compiler/kernels/gpu_schedule.h"

#include <algorithm>
#include <string>

namespace cnnc::kernels::detail {

using namespace Halide;

namespace {

// Threads per block of the pointwise kernels.
constexpr int kBlockThreads = 256;

// The pure dimensions of a stage fused into one, innermost first.
VarOrRVar fuse_all(Stage s, const std::vector<Var>& dims) {
  Var all = dims[0];
  for (size_t i = 1; i < dims.size(); ++i) {
    Var fused(all.name() + "_" + dims[i].name());
    s.fuse(all, dims[i], fused);
    all = fused;
  }
  return all;
}

// Consecutive elements one thread computes along a channel-like axis (a
// float4 when the extent allows), and the threads across it (a warp at most):
// the tile threads * per_thread never exceeds the extent, so a ShiftInwards
// split of it is always legal.
struct ThreadTile {
  int per_thread = 1, threads = 1;
  int tile() const { return per_thread * threads; }
};
ThreadTile thread_tile(int64_t extent) {
  ThreadTile t;
  t.per_thread = extent % 4 == 0 ? 4 : 1;
  t.threads = static_cast<int>(std::min<int64_t>(32, extent / t.per_thread));
  return t;
}

// Threads over a second axis of `tiles` tiles that bring a block of
// `threads` threads up to 128 at most (a power of two).
int second_threads(int threads, int64_t tiles) {
  int k = 1;
  while (k * 2 * threads <= 128 && k * 2 <= tiles) k *= 2;
  return k;
}

bool parallel_instead = false;

}  // namespace

void run_gpu_schedules_on_cpu(bool on) { parallel_instead = on; }

void gpu_loops(Stage s, const std::vector<VarOrRVar>& blocks,
               const std::vector<VarOrRVar>& threads) {
  if (parallel_instead) {
    for (const VarOrRVar& v : threads) s.parallel(v);
    for (const VarOrRVar& v : blocks) s.parallel(v);
    return;
  }
  if (threads.size() == 1) s.gpu_threads(threads[0]);
  if (threads.size() == 2) s.gpu_threads(threads[0], threads[1]);
  if (blocks.size() == 1) s.gpu_blocks(blocks[0]);
  if (blocks.size() == 2) s.gpu_blocks(blocks[0], blocks[1]);
  if (blocks.size() == 3) s.gpu_blocks(blocks[0], blocks[1], blocks[2]);
}

void gpu_pointwise(Func out, const std::vector<Func>& per_thread) {
  VarOrRVar all = fuse_all(out, out.args());
  Var block("block"), thread("thread");
  out.split(all, block, thread, kBlockThreads, TailStrategy::GuardWithIf);
  gpu_loops(out, {block}, {thread});
  for (Func f : per_thread) f.compute_at(out, thread);
}

void gpu_root(Func f) {
  f.compute_root();
  std::vector<Stage> stages = {f};
  for (int i = 0; i < f.num_update_definitions(); ++i) stages.push_back(f.update(i));
  for (Stage s : stages) {
    VarOrRVar all = fuse_all(s, f.args());
    Var block("block"), thread("thread");
    s.split(all, block, thread, kBlockThreads, TailStrategy::GuardWithIf);
    gpu_loops(s, {block}, {thread});
  }
}

void gpu_conv_forward(Func out, Func acc, const std::vector<RVar>& rvars, const KernelSpec& s) {
  std::vector<Var> v = out.args();
  Var c = v[0], x = v[1], y = v[2], n = v[3];
  Var co("co"), cin("cin"), ci("ci"), cu("cu"), xo("xo"), xi("xi"), yo("yo"), yi("yi");
  Var xoo("xoo"), xoi("xoi"), task("task");
  const ThreadTile tc = thread_tile(s.out_c);
  const int tx = static_cast<int>(std::min<int64_t>(s.out_w, 4));
  const int ty = static_cast<int>(std::min<int64_t>(s.out_h, 2));
  // Up to 128 threads a block: the channel threads by threads over column
  // tiles (fewer than 128 channels give fewer than 32 channel threads).
  const int column_threads = second_threads(tc.threads, (s.out_w + tx - 1) / tx);
  // Each thread: per_thread channels (one vector load of weights) by tx * ty
  // pixels (inputs read by a warp's channel threads at once: a broadcast).
  out.split(c, co, cin, tc.tile(), TailStrategy::ShiftInwards)
      .split(cin, ci, cu, tc.per_thread)
      .split(x, xo, xi, tx, TailStrategy::ShiftInwards)
      .split(xo, xoo, xoi, column_threads, TailStrategy::GuardWithIf)
      .split(y, yo, yi, ty, TailStrategy::ShiftInwards)
      .reorder(cu, xi, yi, ci, xoi, xoo, yo, co, n)
      .unroll(xi)
      .unroll(yi)
      .fuse(co, n, task);
  gpu_loops(out, {xoo, yo, task}, {ci, xoi});
  acc.compute_at(out, ci).unroll(x).unroll(y);
  std::vector<VarOrRVar> order = {c, x, y};
  order.insert(order.end(), rvars.begin(), rvars.end());
  acc.update().reorder(order).unroll(x).unroll(y);
  if (tc.per_thread > 1) {
    out.vectorize(cu);
    acc.vectorize(c, tc.per_thread);
    acc.update().vectorize(c, tc.per_thread);
  }
}

void gpu_matvec(Func out, Func acc, const RVar& k, int64_t out_extent) {
  Var o = out.args()[0], row = out.args()[1];
  Var oo("oo"), oin("oin"), oi("oi"), ou("ou"), ro("ro"), ri("ri"), roo("roo"), roi("roi");
  const ThreadTile to = thread_tile(out_extent);
  // Rows are a multiple of the batch, known only at run time: guarded. Each
  // thread: 4 rows; threads over the outputs by threads over row tiles.
  out.split(o, oo, oin, to.tile(), TailStrategy::ShiftInwards)
      .split(oin, oi, ou, to.per_thread)
      .split(row, ro, ri, 4, TailStrategy::GuardWithIf)
      .split(ro, roo, roi, second_threads(to.threads, 128), TailStrategy::GuardWithIf)
      .reorder(ou, ri, oi, roi, oo, roo)
      .unroll(ri);
  gpu_loops(out, {oo, roo}, {oi, roi});
  acc.compute_at(out, oi).unroll(row);
  acc.update().reorder(o, row, k).unroll(row);
  if (to.per_thread > 1) {
    out.vectorize(ou);
    acc.vectorize(o, to.per_thread);
    acc.update().vectorize(o, to.per_thread);
  }
}

void gpu_weight_gradient(Func out, Func acc, const std::vector<RVar>& rvars, int64_t a_extent,
                         int64_t b_extent) {
  std::vector<Var> v = out.args();
  Var a = v[0], b = v[1], ao("ao"), ain("ain"), at("at"), au("au"), bo("bo"), bi("bi");
  Var boo("boo"), boi("boi");
  const ThreadTile ta = thread_tile(a_extent);
  const int tb = static_cast<int>(std::min<int64_t>(b_extent, 4));
  const int b_threads = second_threads(ta.threads, (b_extent + tb - 1) / tb);
  out.split(a, ao, ain, ta.tile(), TailStrategy::ShiftInwards)
      .split(ain, at, au, ta.per_thread)
      .split(b, bo, bi, tb, TailStrategy::ShiftInwards)
      .split(bo, boo, boi, b_threads, TailStrategy::GuardWithIf)
      .reorder(au, bi, at, boi, ao, boo)
      .unroll(bi);
  // The remaining dimensions (kernel taps) join the b tiles in the grid.
  std::vector<Var> grid = {boo};
  grid.insert(grid.end(), v.begin() + 2, v.end());
  VarOrRVar task = fuse_all(out, grid);
  gpu_loops(out, {ao, task}, {at, boi});
  acc.compute_at(out, at).unroll(b);
  std::vector<VarOrRVar> order = {a, b};
  order.insert(order.end(), rvars.begin(), rvars.end());
  acc.update().reorder(order).unroll(b);
  if (ta.per_thread > 1) {
    out.vectorize(au);
    acc.vectorize(a, ta.per_thread);
    acc.update().vectorize(a, ta.per_thread);
  }
}

}  // namespace cnnc::kernels::detail
