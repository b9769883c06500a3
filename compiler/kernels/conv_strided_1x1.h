// Strided 1x1 convolutions without padding (ResNet's projections), on a CPU:
// matrix products over the pixels the stride reads (private to
// compiler/kernels; conv_strided_1x1.cpp).
#pragma once

#include <string>
#include <vector>

#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels::detail {

// True for a 1x1 convolution with a stride above 1 and no padding, whose
// output channels (forward, filter gradient) or input channels (data
// gradient) fill vectors, on a CPU: the kernels below apply.
bool strided_1x1(const KernelSpec& spec, const Halide::Target& target);

// out(c, x, y, n) = f(acc(c, x, y, n)), acc's one update reducing over
// `rvars` (input channel, then the two kernel taps of extent 1) and reading
// the input at (x * stride_w, y * stride_h) and the weights in place.
// Returns a description for profiles.
std::string schedule_strided_1x1_forward(Halide::Func out, Halide::Func acc,
                                         const std::vector<Halide::RVar>& rvars,
                                         const KernelSpec& spec, const Halide::Target& target);

// The data gradient: d_input is the product of the transposed weights and
// d_output at the pixels the forward read, else 0; with pair_out_c, the sum
// of two such products (kernel_spec.h).
BuiltKernel build_strided_1x1_backward_data(const KernelSpec& spec, const Halide::Target& target);

// The filter (and bias) gradient, a sum over the pixels the forward read.
BuiltKernel build_strided_1x1_backward_filter(const KernelSpec& spec, const Halide::Target& target);

}  // namespace cnnc::kernels::detail
