// Softmax cross-entropy over logits (k, n) with int32 labels (n).
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;

// loss(n) = log(sum exp(z - m)) + m - z[label]   (log-sum-exp, stable)
// probs = exp(z - m) / sum;  d_logits = (probs - onehot(label)) / batch.
// A label outside [0, k) is clamped: the runtime validates labels first.
BuiltKernel build_softmax_cross_entropy(const KernelSpec& s, const Target& t) {
  const int classes = static_cast<int>(s.in_c);
  ImageParam logits = make_input("logits", {s.in_c}, true);
  ImageParam labels = make_input("labels", {}, true, Int(32));
  Var c("c"), n("n");
  RDom k(0, classes, "k");
  Expr batch = cast<float>(logits.dim(1).extent());
  Expr label = clamp(labels(n), 0, classes - 1);
  Func row_max("row_max"), row_sum("row_sum"), probs("probs"), d_logits("d_logits"), loss("loss");
  row_max(n) = maximum(logits(k, n));
  row_sum(n) = sum(exp(logits(k, n) - row_max(n)));
  probs(c, n) = exp(logits(c, n) - row_max(n)) / row_sum(n);
  d_logits(c, n) = (probs(c, n) - select(c == label, 1.0f, 0.0f)) / batch;
  loss(n) = log(row_sum(n)) + row_max(n) - logits(label, n);
  constrain_output(probs, {s.in_c}, true);
  constrain_output(d_logits, {s.in_c}, true);
  constrain_output(loss, {}, true);
  // Schedule: the per-image statistics once, the outputs vectorised.
  if (detail::is_gpu(t)) {
    detail::gpu_root(row_max);
    detail::gpu_root(row_sum);
    for (Func f : {probs, d_logits, loss}) detail::gpu_pointwise(f);
    return detail::finish_kernel({logits, labels}, {probs, d_logits, loss});
  }
  row_max.compute_root();
  row_sum.compute_root();
  const int lanes = channel_lanes(classes, t);
  if (lanes > 0) {
    probs.vectorize(c, lanes, TailStrategy::ShiftInwards);
    d_logits.vectorize(c, lanes, TailStrategy::ShiftInwards);
  }
  return detail::finish_kernel({logits, labels}, {probs, d_logits, loss});
}

}  // namespace cnnc::kernels
