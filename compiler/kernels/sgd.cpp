// The SGD (momentum, Nesterov, L2) update of one parameter tensor. The only
// kernel with a free size; new_weights / new_velocity may alias weights /
// velocity, so each vector of both outputs is computed from the inputs
// before either is stored, and no element is computed twice.
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::make_input;

BuiltKernel build_sgd_update(const KernelSpec&, const Target& t) {
  ImageParam weights(Float(32), 1, "weights"), grad(Float(32), 1, "grad"),
      velocity(Float(32), 1, "velocity");
  Param<float> lr("lr"), momentum("momentum"), l2("l2");
  Param<int32_t> nesterov("nesterov");
  for (ImageParam p : {weights, grad, velocity}) p.dim(0).set_min(0).set_stride(1);
  Var i("i"), block("block"), rest("rest"), io("io"), ii("ii");
  // Both results in one Tuple, computed per vector from the inputs only.
  Func step("sgd_step"), new_weights("new_weights"), new_velocity("new_velocity");
  Expr w = weights(i), g = grad(i) + 2.0f * l2 * weights(i);
  Expr v = momentum * velocity(i) - lr * g;
  Expr w_next = select(nesterov != 0, w + momentum * v - lr * g, w + v);
  step(i) = Tuple(w_next, v);
  new_weights(i) = step(i)[0];
  new_velocity(i) = step(i)[1];
  for (Func f : {new_weights, new_velocity}) {
    f.output_buffer().dim(0).set_min(0).set_stride(1);
  }
  // Same size everywhere: the outputs' extent must match the weights'.
  new_velocity.output_buffer().dim(0).set_extent(new_weights.output_buffer().dim(0).extent());
  // Schedule: fused loops, guarded tails (ShiftInwards would apply the update
  // twice to aliased elements), the step computed per vector.
  // On a GPU each output is a kernel of its own: the steps are all stored
  // first, so that neither output overwrites an input the other still reads.
  if (detail::is_gpu(t)) {
    detail::gpu_root(step);
    detail::gpu_pointwise(new_weights);
    detail::gpu_pointwise(new_velocity);
  }
  const int lanes = std::max(t.natural_vector_size<float>(), 8);
  for (Func f :
       detail::is_gpu(t) ? std::vector<Func>{} : std::vector<Func>{new_weights, new_velocity}) {
    f.split(i, block, rest, static_cast<int>(detail::kMinTaskFloats), TailStrategy::GuardWithIf)
        .split(rest, io, ii, lanes, TailStrategy::GuardWithIf)
        .vectorize(ii)
        .parallel(block);
  }
  if (!detail::is_gpu(t)) {
    new_velocity.compute_with(new_weights, io);
    step.compute_at(new_weights, io).vectorize(i, lanes, TailStrategy::GuardWithIf);
  }
  BuiltKernel k = detail::finish_kernel({weights, grad, velocity}, {new_weights, new_velocity},
                                        {lr, momentum, l2, nesterov});
  k.float_scalars = {{"lr", lr}, {"momentum", momentum}, {"l2", l2}};
  k.int_scalars = {{"nesterov", nesterov}};
  return k;
}

}  // namespace cnnc::kernels
