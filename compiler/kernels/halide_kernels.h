// Builds the Halide pipeline of a kernel spec. Includes Halide.h: only the
// kernel builders, the cache and the tests include this header; the code
// generator works from kernel_spec.h and kernel_cache.h.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "Halide.h"
#include "compiler/kernels/kernel_spec.h"

namespace cnnc::kernels {

struct BuiltKernel {
  Halide::Pipeline pipeline;
  // Inputs and scalars in the order of kernel_spec.h; Halide appends the
  // outputs (named after their Funcs) in the pipeline's output order.
  std::vector<Halide::Argument> args;
  std::vector<Halide::ImageParam> inputs;  // the buffer inputs, in order
  std::vector<Halide::Func> outputs;       // in order
  std::map<std::string, Halide::Param<float>> float_scalars;
  std::map<std::string, Halide::Param<int32_t>> int_scalars;
  std::map<std::string, Halide::Param<uint64_t>> u64_scalars;
  // The schedule in a few words ("direct 48c x 8w", "gemv"), for profiles;
  // builders that leave it empty get the kind's name.
  std::string schedule;
};

// Throws std::invalid_argument on a spec that no kernel can implement.
BuiltKernel build_kernel(const KernelSpec& spec, const Halide::Target& target);

// One builder per family (conv.cpp, conv_winograd.cpp, dense.cpp, pool.cpp, elementwise.cpp,
// loss.cpp, sgd.cpp, batch_norm.cpp, lrn.cpp, dropout.cpp, layout.cpp);
// build_kernel dispatches on the kind.
BuiltKernel build_conv2d(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_conv2d_winograd(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_winograd_weights(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_packed_conv_weights(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_conv2d_backward_data(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_conv2d_backward_filter(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_dense(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_dense_backward_data(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_dense_backward_weights(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_pool2d(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_pool2d_backward(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_activation(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_activation_backward(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_softmax(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_softmax_cross_entropy(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_sgd_update(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_batch_norm_inference(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_batch_norm_training(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_batch_norm_backward(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_batch_norm_grad_sums(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_dropout(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_dropout_backward(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_lrn(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_lrn_backward(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_zero_pad(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_zero_pad_backward(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_channel_copy(const KernelSpec& spec, const Halide::Target& target);
BuiltKernel build_add(const KernelSpec& spec, const Halide::Target& target);

}  // namespace cnnc::kernels
