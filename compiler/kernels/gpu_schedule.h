// GPU schedules of the kernels (private to compiler/kernels). A builder calls
// these instead of its CPU schedule when the target has a GPU feature (CUDA).
// Every stage of a GPU pipeline runs on the device: the generated code gives
// the kernels device buffers only (no host memory), so a stage left on the
// host would need a copy back to a host buffer that does not exist.
#pragma once

#include <vector>

#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels::detail {

inline bool is_gpu(const Halide::Target& t) { return t.has_gpu_feature(); }

// Marks the loops of a stage as GPU blocks (outermost, up to 3) and threads
// (up to 2). The other functions here mark their loops through it.
void gpu_loops(Halide::Stage s, const std::vector<Halide::VarOrRVar>& blocks,
               const std::vector<Halide::VarOrRVar>& threads);

// For tests on a machine without a GPU: gpu_loops marks parallel CPU loops
// instead (Halide 14 refuses GPU loops on a CPU target), so that a GPU
// schedule's tiles, tails and in-place outputs run against the reference.
void run_gpu_schedules_on_cpu(bool on);

// One GPU thread per element of `out`: every pure dimension fused, blocks of
// 256 threads, the tail guarded (no element twice, so out may alias an input
// read at the same element). `per_thread` Funcs are computed inside each
// thread (e.g. a small reduction that feeds one element).
void gpu_pointwise(Halide::Func out, const std::vector<Halide::Func>& per_thread = {});

// f computed once, before its consumers, each of its stages a GPU kernel with
// one thread per element (reductions serial inside the thread).
void gpu_root(Halide::Func f);

// out(c, x, y, n) = act(acc(c, x, y, n)), acc reducing over `rvars` (input
// channel, kx, ky) as in schedule_conv_forward (the spec is the forward
// convolution computed). Threads over output channels, each with a register
// tile of 4 consecutive channels by a few columns and rows; blocks over
// channel tiles, column and row tiles, images.
void gpu_conv_forward(Halide::Func out, Halide::Func acc, const std::vector<Halide::RVar>& rvars,
                      const KernelSpec& spec);

// out(o, row) = f(acc(o, row)), acc reducing over an RDom of inputs:
// threads over o (4 consecutive outputs each) by a few rows.
void gpu_matvec(Halide::Func out, Halide::Func acc, const Halide::RVar& k, int64_t out_extent);

// out(a, b, ...) = acc(a, b, ...) reducing over many rows (a weight gradient):
// threads over a (4 consecutive each) by 4 of b, the reduction serial.
void gpu_weight_gradient(Halide::Func out, Halide::Func acc, const std::vector<Halide::RVar>& rvars,
                         int64_t a_extent, int64_t b_extent);

}  // namespace cnnc::kernels::detail
