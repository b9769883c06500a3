// Dropout and its gradient over (elems, n): the mask is dropout_hash.h of
// (seed, step, image, element), recomputed, never stored. The outputs may
// alias their inputs (in-place dropout).
#include <stdexcept>

#include "compiler/kernels/dropout_hash.h"
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::constrain_output;
using detail::make_input;

namespace {

struct DropoutScalars {
  Param<uint64_t> seed{"seed"}, step{"step"};
};

int64_t elems_of(const KernelSpec& s) {
  detail::require(s, s.rate >= 0.0 && s.rate < 1.0, "rate must be in [0, 1)");
  return s.in_h * s.in_w * s.in_c;
}

Expr low32(Expr v) { return cast<uint32_t>(v); }
Expr high32(Expr v) { return cast<uint32_t>(v >> Expr(uint64_t{32})); }

// value(e, n) scaled by 1 / (1 - rate) where the mask keeps it, else 0.
Expr masked(Expr value, Var e, Var n, const DropoutScalars& p, const KernelSpec& s) {
  Expr stream = dropout_stream<Expr>(low32(p.seed), high32(p.seed), low32(p.step), high32(p.step));
  Expr bits = dropout_bits<Expr>(dropout_row<Expr>(stream, cast<uint32_t>(n)), cast<uint32_t>(e));
  Expr keep =
      (bits >> Expr(uint32_t{32 - kDropoutThresholdBits})) < Expr(dropout_keep_threshold(s.rate));
  return select(keep, value * static_cast<float>(1.0 / (1.0 - s.rate)), 0.0f);
}

BuiltKernel build(const KernelSpec& s, const Target& t, const char* in_name, const char* out_name) {
  const int64_t elems = elems_of(s);
  ImageParam input = make_input(in_name, {elems}, true);
  DropoutScalars p;
  Var e("e"), n("n");
  Func output(out_name);
  output(e, n) = masked(input(e, n), e, n, p, s);
  constrain_output(output, {elems}, true);
  if (detail::is_gpu(t)) {
    detail::gpu_pointwise(output);
  } else {
    detail::schedule_pointwise(output, elems, t, true);
  }
  BuiltKernel k = detail::finish_kernel({input}, {output}, {p.seed, p.step});
  k.u64_scalars = {{"seed", p.seed}, {"step", p.step}};
  return k;
}

}  // namespace

BuiltKernel build_dropout(const KernelSpec& s, const Target& t) {
  return build(s, t, "input", "output");
}

// The same mask applied to the gradient.
BuiltKernel build_dropout_backward(const KernelSpec& s, const Target& t) {
  return build(s, t, "d_output", "d_input");
}

}  // namespace cnnc::kernels
