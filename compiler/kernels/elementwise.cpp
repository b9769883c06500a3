// Activation, its gradient, softmax over rows, and the sum of two tensors.
// Buffers (elems, n).
#include <algorithm>

#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;

namespace {

int64_t elems_of(const KernelSpec& s) { return s.in_h * s.in_w * s.in_c; }

}  // namespace

BuiltKernel build_activation(const KernelSpec& s, const Target& t) {
  const int64_t elems = elems_of(s);
  ImageParam input = make_input("input", {elems}, true);
  Var e("e"), n("n");
  Func output("output");
  output(e, n) = detail::apply_act(input(e, n), s.act);
  constrain_output(output, {elems}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(output);
  } else {
    detail::schedule_pointwise(output, elems, t, false);
  }
  return detail::finish_kernel({input}, {output});
}

// The derivative is written in terms of the forward output y. With residual,
// dy is the sum d_output + d_residual of two contributions (summed here
// rather than in an Add of its own: one pass over memory fewer).
BuiltKernel build_activation_backward(const KernelSpec& s, const Target& t) {
  const int64_t elems = elems_of(s);
  ImageParam output = make_input("output", {elems}, true);
  ImageParam d_output = make_input("d_output", {elems}, true);
  std::vector<ImageParam> inputs = {output, d_output};
  Var e("e"), n("n");
  Expr dy = d_output(e, n);
  if (s.residual) {
    inputs.push_back(make_input("d_residual", {elems}, true));
    dy = dy + inputs.back()(e, n);
  }
  Func d_input("d_input");
  d_input(e, n) = detail::act_grad(output(e, n), dy, s.act);
  constrain_output(d_input, {elems}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(d_input);
  } else {
    detail::schedule_pointwise(d_input, elems, t, false);
  }
  return detail::finish_kernel(inputs, {d_input});
}

// Per row: max, exp(x - max), their sum; one row's stages are computed
// together (a row is small: the classes of one image), blocks of rows of at
// least kMinTaskFloats in parallel.
BuiltKernel build_softmax(const KernelSpec& s, const Target& t) {
  const int classes = static_cast<int>(s.in_c);
  ImageParam input = make_input("input", {s.in_c}, true);
  Var c("c"), row("row");
  RDom k(0, classes, "k");
  Func row_max("row_max"), exps("exps"), row_sum("row_sum"), output("output");
  row_max(row) = maximum(input(k, row));
  exps(c, row) = exp(input(c, row) - row_max(row));
  row_sum(row) = sum(exps(k, row));
  output(c, row) = exps(c, row) / row_sum(row);
  constrain_output(output, {s.in_c}, true);
  if (detail::is_gpu(t)) {
    // A thread per row (the classes of one image), exps recomputed inline.
    Var ro("ro"), ri("ri");
    output.split(row, ro, ri, 64, TailStrategy::GuardWithIf).reorder(c, ri, ro);
    detail::gpu_loops(output, {ro}, {ri});
    row_max.compute_at(output, ri);
    row_sum.compute_at(output, ri);
    return detail::finish_kernel({input}, {output});
  }
  const int lanes = channel_lanes(classes, t);
  Var rows("rows"), one("one_row");
  const int per_task = detail::units_per_task(classes);
  output.split(row, rows, one, per_task, TailStrategy::GuardWithIf).parallel(rows);
  row_max.compute_at(output, one);
  exps.compute_at(output, one);
  row_sum.compute_at(output, one);
  if (lanes > 0) {
    exps.vectorize(c, lanes, TailStrategy::ShiftInwards);
    output.vectorize(c, lanes, TailStrategy::ShiftInwards);
  }
  return detail::finish_kernel({input}, {output});
}

// output = act(a + b). Also the gradient accumulation a += b: output may
// alias a (or b), so the schedule never computes an element twice.
BuiltKernel build_add(const KernelSpec& s, const Target& t) {
  const int64_t elems = elems_of(s);
  ImageParam a = make_input("a", {elems}, true);
  ImageParam b = make_input("b", {elems}, true);
  Var e("e"), n("n");
  Func output("output");
  output(e, n) = detail::apply_act(a(e, n) + b(e, n), s.act);
  constrain_output(output, {elems}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(output);
  } else {
    detail::schedule_pointwise(output, elems, t, true);
  }
  return detail::finish_kernel({a, b}, {output});
}

}  // namespace cnnc::kernels
