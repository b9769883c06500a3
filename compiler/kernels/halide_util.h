// Helpers shared by the kernel builders (private to compiler/kernels).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "Halide.h"
#include "compiler/kernels/halide_kernels.h"
#include "compiler/kernels/kernel_spec.h"

namespace cnnc::kernels::detail {

// A float (or int32) buffer input with constant, min-0 extents and dense
// strides (innermost first). With `batched`, one more outermost dimension of
// free extent (min 0) follows.
Halide::ImageParam make_input(const std::string& name, const std::vector<int64_t>& extents,
                              bool batched, Halide::Type type = Halide::Float(32));
// The same, but the second dimension (pixels, rows) is `pixel_stride` floats
// apart, when positive: a channel slice of a wider tensor.
Halide::ImageParam make_strided_input(const std::string& name, const std::vector<int64_t>& extents,
                                      bool batched, int64_t pixel_stride);

// The same constraints on an output Func's buffer; with a positive
// `pixel_stride`, the second dimension is that many floats apart (a channel
// slice of a wider tensor, as make_strided_input).
void constrain_output(Halide::Func f, const std::vector<int64_t>& extents, bool batched,
                      int64_t pixel_stride = 0);

Halide::Expr apply_act(Halide::Expr x, Act act);

// d(loss)/d(x) from dy and the activation's output y = act(x).
Halide::Expr act_grad(Halide::Expr y, Halide::Expr dy, Act act);

// in(c, x, y, n) with zeros outside [0, width) x [0, height).
Halide::Expr zero_padded(const Halide::ImageParam& in, Halide::Expr c, Halide::Expr x,
                         Halide::Expr y, Halide::Expr n, int64_t width, int64_t height);

// Lanes to vectorise a channel axis of this extent with: the target's natural
// float width when the extent allows, else 8, else 0 (do not vectorise).
int channel_lanes(int64_t extent, const Halide::Target& target);

// a / b rounded up, for positive extents.
inline int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

// The largest divisor of `n` that is at most `cap` (at least 1).
inline int divisor_at_most(int64_t n, int64_t cap) {
  int best = 1;
  for (int d = 1; d <= cap && d <= n; ++d) {
    if (n % d == 0) best = d;
  }
  return best;
}

// The least work, in floats read or written, that one task of a parallel
// loop gets where there is that much: Halide 14's thread pool hands out the
// tasks one at a time under a lock, so a task per row of a small image (a
// few hundred floats) cost more in handing out than in work. A fixed number,
// never the thread count: the partition, and every result, stays the same.
inline constexpr int64_t kMinTaskFloats = 8192;

// How many units (rows, images) of `floats_per_unit` floats make a task of
// at least kMinTaskFloats floats.
inline int units_per_task(int64_t floats_per_unit) {
  return static_cast<int>((kMinTaskFloats + floats_per_unit - 1) / floats_per_unit);
}

// The least arithmetic (multiply-adds times 2) that one task of a
// convolution's or matrix product's parallel loop gets: a task per output row
// of a small image (28x28, 16 channels: 0.13 MFLOP, under a microsecond)
// spent as long in the pool's lock as in its work, and two threads ran such a
// kernel hardly faster than one. Fixed, never the thread count.
inline constexpr int64_t kMinTaskFlops = int64_t{1} << 21;

// How many units (rows, pixel blocks) of `flops_per_unit` make a task of at
// least kMinTaskFlops.
inline int units_per_task_flops(int64_t flops_per_unit) {
  return static_cast<int>(
      std::max<int64_t>(1, (kMinTaskFlops + flops_per_unit - 1) / flops_per_unit));
}

// Fuses the loops over rows y and images n and runs blocks of rows of at
// least kMinTaskFloats floats (one row when a row has more) in parallel.
// Returns the loop over the rows of a block.
Halide::Var parallel_row_blocks(Halide::Func f, Halide::Var y, Halide::Var n,
                                int64_t floats_per_row);

// Schedules a pointwise out(e, n) over images of `elems` floats: vectors
// along e, in parallel tasks of at least kMinTaskFloats floats (several small
// images, or blocks of a large one). With `in_place`, out may alias an input
// read at the same (e, n): every element is computed once (guarded tails, no
// overlapping vectors), from values read in the same iteration.
void schedule_pointwise(Halide::Func out, int64_t elems, const Halide::Target& target,
                        bool in_place);

// Assembles a BuiltKernel: the pipeline of `outputs`, args = inputs then scalars.
BuiltKernel finish_kernel(const std::vector<Halide::ImageParam>& inputs,
                          const std::vector<Halide::Func>& outputs,
                          const std::vector<Halide::Argument>& scalar_args = {});

// Defines acc(o, i) as the sum of a weight gradient's per-task partial sums
// partial(o, i, task) over its `tasks` tasks, in task order, and schedules
// both at root: partial's zeroing in parallel over tasks, acc's zeroing and
// sum in parallel over blocks of i of at least kMinTaskFloats (serial, they
// took 15-20% of a 7x7 layer's gradient on two threads). o (of `out_c`, at
// most `max_tasks` tasks) in vectors of `lanes`; partial's update is the
// caller's to schedule.
void sum_task_partials(Halide::Func acc, Halide::Func partial, Halide::Expr tasks, int64_t out_c,
                       int max_tasks, int lanes);

// Assembles a weight gradient's kernel from (input, d_output): d_weights of
// `weight_extents` and, when `d_bias` is defined, d_bias of out_c.
BuiltKernel finish_weight_gradient(Halide::ImageParam input, Halide::ImageParam d_output,
                                   Halide::Func d_weights, Halide::Func d_bias,
                                   const std::vector<int64_t>& weight_extents, int64_t out_c,
                                   const std::string& schedule);

// Throws std::invalid_argument naming the spec, unless `ok`: a spec the
// builders cannot make (a compiler bug, never user input).
void require(const KernelSpec& spec, bool ok, const char* why);

// Throws std::invalid_argument unless every window of the spec lies within
// the padded input and holds at least one real cell.
void check_window(const KernelSpec& spec);

// Throws std::invalid_argument unless each pixel stride is 0 (dense) or wide
// enough for the channels read or written (a channel slice of a wider tensor).
void check_pixel_strides(const KernelSpec& spec);

}  // namespace cnnc::kernels::detail
