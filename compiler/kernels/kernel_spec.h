// What a kernel computes, without Halide: the key the code generator asks for,
// the cache hashes, and the kernel builders (halide_kernels.h) turn into a
// Halide pipeline. Shapes are per image (no batch) and constant; the batch is
// the extent of the outermost dimension of the buffers, given at run time.
//
// Buffer layouts (Halide dimension order, innermost first):
//   image tensors   (c, w, h, n)    i.e. NHWC in memory
//   flat tensors    (k, n)
//   conv weights    (out_c, in_c, kw, kh)   == Keras [kh, kw, c_in, c_out]
//   dense weights   (out, in)               == Keras [in, out]
//   vectors         (c)
//
// Arguments of each kind, in call order (inputs, then scalars, then outputs):
//   Conv2D                input, weights, [bias]           -> output          act applied
//   Conv2DBackwardData    d_output, weights                -> d_input
//   Conv2DBackwardFilter  input, d_output                  -> d_weights, [d_bias]
//   Dense                 input(in,rows), weights, [bias]  -> output(out,rows) act applied
//   DenseBackwardData     d_output, weights                -> d_input
//   DenseBackwardWeights  input, d_output                  -> d_weights, [d_bias]
//       (Dense on an image tensor [H,W,C] applies to the last axis: rows = n*H*W,
//        i.e. the buffers are (in_c, rows) and (out_c, rows))
//   Activation* use elems = in_h * in_w * in_c; Softmax and SoftmaxCrossEntropy
//   use in_c classes; SgdUpdate ignores the shapes (its size is given at run time).
//   Pool2D                input                            -> output   (max or avg)
//   Pool2DBackward        input, d_output                  -> d_input
//   Activation            input(elems,n)                   -> output   relu/tanh/sigmoid
//   ActivationBackward    output(elems,n), d_output        -> d_input  dx = dy * f'(y)
//   Softmax               input(c, rows)                   -> output
//   SoftmaxCrossEntropy   logits(k,n), labels(n, int32)    -> probs(k,n), d_logits(k,n),
//                         loss(n): per-image -log softmax(z)[label]; d_logits = (p - onehot) / n
//   SgdUpdate             weights(size), grad(size), velocity(size),
//                         scalars lr, momentum, l2, nesterov (float, float, float, int32)
//                         -> new_weights(size), new_velocity(size)   (may alias the inputs)
//                         g' = g + 2*l2*w; v' = m*v - lr*g'; w' = w + v' (nesterov: w + m*v' -
//                         lr*g')
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::kernels {

enum class Kind {
  Conv2D,
  Conv2DBackwardData,
  Conv2DBackwardFilter,
  Dense,
  DenseBackwardData,
  DenseBackwardWeights,
  Pool2D,
  Pool2DBackward,
  Activation,
  ActivationBackward,
  Softmax,
  SoftmaxCrossEntropy,
  SgdUpdate,
};
const char* kind_name(Kind k);

enum class Act { Linear, Relu, Tanh, Sigmoid };
enum class PoolKind { Max, Avg };

struct KernelSpec {
  Kind kind = Kind::Conv2D;
  // Per-image shapes. Flat tensors use in_c / out_c with h = w = 1.
  int64_t in_h = 1, in_w = 1, in_c = 1;
  int64_t out_h = 1, out_w = 1, out_c = 1;
  // Windows (Conv2D*, Pool2D*): size, stride and the padding before the first
  // row/column; the padding after follows from the output size.
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  Act act = Act::Linear;
  bool use_bias = true;
  PoolKind pool = PoolKind::Max;

  // Canonical one-line description; equal specs give equal keys. The cache
  // hashes it with the schedule version and the target.
  std::string key() const;
};

// How to call a compiled kernel: its C symbol and its arguments in order.
struct ArgDesc {
  std::string name;  // "input", "weights", "lr", "d_bias", ...
  bool is_buffer = true;
  bool is_output = false;
  std::string scalar_type;  // "float" or "int32_t" for scalars
  int dims = 0;             // buffers: number of dimensions
  bool is_int32 = false;    // buffers: int32 elements (labels) instead of float
};

struct KernelSignature {
  std::string function;  // C symbol, e.g. "cnnc_conv2d_3f2a..."
  std::vector<ArgDesc> args;
};

// The arguments of a kernel of this spec, in call order (inputs, scalars,
// outputs), as listed above. Needs no Halide; the builders follow it.
std::vector<ArgDesc> kernel_args(const KernelSpec& spec);

}  // namespace cnnc::kernels
