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
//   Conv2D                input, weights, [bias], [residual] -> output        act applied
//                         after the residual (same layout as output) is added
//       (with a Winograd conv_algo, weights is the 1-D output of WinogradWeights)
//   WinogradWeights       weights(out_c,in_c,kw,kh)        -> transformed(winograd_weight_floats)
//       the Conv2D spec's weights transformed for its Winograd algorithm, once at load time
//   Conv2DBackwardData    d_output, weights, [d_output2, weights2] -> d_input
//                         with pair_out_c: the second convolution's, summed in
//   Conv2DBackwardFilter  input, d_output                  -> d_weights, [d_bias]
//   Dense                 input(in,rows), weights, [bias], [residual(out,rows)]
//                         -> output(out,rows) act applied after the residual is added
//   DenseBackwardData     d_output, weights, [d_residual]  -> d_input   with residual:
//                         d_input = d_residual + the product (a gradient's second part
//                         summed in); d_input may alias d_residual
//   DenseBackwardWeights  input, d_output                  -> d_weights, [d_bias]
//       (Dense on an image tensor [H,W,C] applies to the last axis: rows = n*H*W,
//        i.e. the buffers are (in_c, rows) and (out_c, rows))
//   Conv2D and Dense read their input as a channel slice of a wider tensor when
//   in_pixel_stride > 0: that many floats from one pixel (row) to the next;
//   likewise they write their output into one when out_pixel_stride > 0, and
//   read the residual from one when residual_pixel_stride > 0.
//   Activation* use elems = in_h * in_w * in_c; Softmax and SoftmaxCrossEntropy
//   use in_c classes; SgdUpdate ignores the shapes (its size is given at run time).
//   Pool2D                input                            -> output   (max or avg)
//   Pool2DBackward        input, d_output                  -> d_input
//   Activation            input(elems,n)                   -> output   relu/tanh/sigmoid
//   ActivationBackward    output(elems,n), d_output, [d_residual] -> d_input  dx = dy * f'(y),
//                         dy = d_output (+ d_residual when residual)
//   Softmax               input(c, rows)                   -> output
//   SoftmaxCrossEntropy   logits(k,n), labels(n, int32)    -> probs(k,n), d_logits(k,n),
//                         loss(n): per-image -log softmax(z)[label]; d_logits = (p - onehot) / n
//   SgdUpdate             weights(size), grad(size), velocity(size),
//                         scalars lr, momentum, l2, nesterov (float, float, float, int32)
//                         -> new_weights(size), new_velocity(size)   (may alias the inputs)
//                         g' = g + 2*l2*w; v' = m*v - lr*g'; w' = w + v' (nesterov: w + m*v' -
//                         lr*g')
//
// Per-channel kernels (BatchNorm*) see a tensor as (c, rows): rows = n*H*W for
// image tensors, n for flat ones; in_c is c and in_h * in_w the rows per image,
// so the batch extent given at run time is n * in_h * in_w. gamma is absent
// when !scale, beta when !center (and d_gamma / d_beta likewise).
//   BatchNormInference    input(c,rows), [gamma], [beta], moving_mean(c),
//                         moving_variance(c) -> output(c,rows)
//                         y = gamma * (x - mean) / sqrt(var + epsilon) + beta
//   BatchNormTraining     input(c,rows), [gamma], [beta], moving_mean(c),
//                         moving_variance(c) -> output(c,rows), batch_mean(c),
//                         batch_inv_std(c), batch_affine(c,2), new_moving_mean(c),
//                         new_moving_variance(c)
//                         batch_inv_std = 1/sqrt(biased var + epsilon); batch_affine:
//                         what y was computed with besides batch_mean and beta (the
//                         mean's low part, the scale), for BatchNormBackward; moving =
//                         momentum*moving + (1-momentum)*stat, with the unbiased
//                         variance (rows/(rows-1) times the biased; rows = 1 uses the
//                         biased). new_moving_* may alias moving_*.
//                         act (not Linear): output = act(y), in the same kernel; with
//                         residual, a residual(c,rows) input after moving_variance:
//                         output = act(y + residual). With residual_bn the residual
//                         is a BatchNorm's input, normalised here as BatchNormTraining
//                         did (its stats_only call), from residual_beta(c),
//                         residual_mean(c) and residual_affine(c,2) after it. With
//                         stats_only there is no output (its reader normalises).
//   BatchNormBackward     input(c,rows), d_output(c,rows), [output(c,rows)], [gamma],
//                         [beta], batch_mean(c), batch_inv_std(c), [batch_affine(c,2)] ->
//                         d_input(c,rows), [d_gamma(c)], [d_beta(c)]; act (not Linear):
//                         d_output is that of act's output. Tanh and sigmoid read it
//                         (output); ReLU computes it again from input as BatchNormTraining
//                         did, bit for bit (its decisions are the forward's), from beta
//                         and batch_affine (present with ReLU only).
//                         With given_sums (act Linear):
//                         grad_means(c,2) is an input after batch_inv_std, the means of
//                         dy and dy * xhat a BatchNormGradSums step made, and d_input
//                         the only output.
//   BatchNormGradSums     output(c,rows), d_output(c,rows), [d_residual(c,rows)],
//                         input(c,rows), batch_mean(c), batch_inv_std(c), [input2,
//                         batch_mean2, batch_inv_std2] -> d_input(c,rows), d_gamma(c),
//                         d_beta(c), grad_means(c,2), [d_gamma2, d_beta2, grad_means2]:
//                         the backward of a BatchNorm's fused residual and act, d_input =
//                         dy * act'(output), dy = d_output (+ d_residual when residual),
//                         and for each of batch_norms (1 or 2) BatchNorms whose output
//                         gradient that is, d_beta = sum d_input, d_gamma = sum d_input
//                         * xhat, grad_means = (d_beta, d_gamma) / rows (for the
//                         BatchNormBackward given_sums). in_c is c, in_h * in_w the rows
//                         per image. Needs scale and center.
//   Dropout               input(elems,n), scalars seed, step (uint64_t, uint64_t)
//                         -> output(elems,n)       elems = in_h*in_w*in_c; mask from
//                         dropout_hash.h of (seed, step, n index, element index)
//   DropoutBackward       d_output(elems,n), scalars seed, step -> d_input(elems,n)
//   LRN                   input(c,w,h,n) -> output(c,w,h,n)
//                         b_c = a_c / (lrn_bias + lrn_alpha * sum_{|j-c| <= size/2} a_j^2)^lrn_beta
//   LRNBackward           input, output, d_output (each (c,w,h,n)) -> d_input
//   ZeroPad               input(c,in_w,in_h,n) -> output(c,out_w,out_h,n)
//                         pad_top / pad_left before; the rest of out_h/out_w after
//   ZeroPadBackward       d_output(c,out_w,out_h,n) -> d_input(c,in_w,in_h,n) (the crop)
//   ChannelCopy           input(channels,w,h,n) -> output(channels,w,h,n) act applied, w = in_w,
//                         h = in_h. Host pointers point at the first copied channel
//                         (min 0 everywhere); strides are constant: input (1, in_c,
//                         in_c*w, in_c*w*h), output (1, out_c, out_c*w, out_c*w*h).
//                         Concatenate and its gradient; flat tensors use w = h = 1.
//   Add                   a(elems,n), b(elems,n) -> output(elems,n)   act applied;
//                         output may alias a (gradient accumulation: a += b)
// In place: the outputs of Add, Dropout*, and the (c,rows) outputs of
// BatchNorm* may alias the input read at the same element (BatchNormBackward:
// d_output); every element is computed once, after the statistics.
// Not in place: LRN*, ZeroPad*, ChannelCopy.
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
  BatchNormInference,
  BatchNormTraining,
  BatchNormBackward,
  BatchNormGradSums,
  Dropout,
  DropoutBackward,
  LRN,
  LRNBackward,
  ZeroPad,
  ZeroPadBackward,
  ChannelCopy,
  Add,
  WinogradWeights,
};
const char* kind_name(Kind k);

enum class Act { Linear, Relu, Tanh, Sigmoid };
enum class PoolKind { Max, Avg };

// How a Conv2D is computed. Winograd F(m x m, 3 x 3) (conv_winograd.cpp) needs
// a 3x3 kernel with stride 1; F(4x4) does fewer multiplications than F(2x2)
// but rounds a little more (see the kernel tests). DirectPacked is the direct
// convolution reading its weights packed at load time into blocks of
// channels, in the order its loops read them (conv.cpp).
enum class ConvAlgo { Direct, WinogradF2, WinogradF4, DirectPacked };
// "direct", "winograd_f2", "winograd_f4", "direct_packed"
const char* conv_algo_name(ConvAlgo a);
// False for an unknown name (a tuning file is user input).
bool parse_conv_algo(const std::string& name, ConvAlgo* out);

// A schedule chosen for one kernel instead of the builder's own (`cnnc tune`
// picks these; Conv2D and Dense read them). Every field unset is the default
// schedule, and only set fields enter the key: untuned kernels keep their
// cache entries.
struct ScheduleChoice {
  // "" the builder's schedule; "autoschedule": Halide's Adams2019 autoscheduler, with buffer
  // estimates of `estimate_batch` in the outermost (batch) dimension. Its tiles may need that
  // extent at run time: give the smallest (one image's: 1, or Dense's rows per image).
  std::string algorithm;
  // The register tile: channel vectors by output columns (Dense: rows); 0 keeps
  // the cost model's choice.
  int tile_vectors = 0, tile_columns = 0;
  int estimate_batch = 0;

  bool is_set() const {
    return !algorithm.empty() || tile_vectors > 0 || tile_columns > 0 || estimate_batch > 0;
  }
  std::string key() const;  // " schedule=..." or "" when unset
};

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
  // Conv2D, Dense: a residual input added before the activation.
  // DenseBackwardData: a gradient summed into d_input (ActivationBackward,
  // BatchNormTraining: see the layouts above).
  bool residual = false;
  // Conv2D, Dense: floats from one input pixel (row) to the next; 0 means in_c
  // (dense). Larger when the input is a channel slice of a wider tensor.
  int64_t in_pixel_stride = 0;
  // Conv2D, Dense: the same for the output (a Concatenate's channel slice)
  // and the residual (a merged convolution's part).
  int64_t out_pixel_stride = 0, residual_pixel_stride = 0;
  PoolKind pool = PoolKind::Max;
  // BatchNorm*: Keras' BatchNormalization arguments. center/scale false drop
  // beta/gamma (and their gradients) from the arguments.
  double epsilon = 1e-3, momentum = 0.99;
  bool center = true, scale = true;
  // BatchNormTraining: the residual is a BatchNorm's input, normalised in the
  // kernel (residual_bn); only the statistics, no output (stats_only).
  bool residual_bn = false, stats_only = false;
  // BatchNormBackward: the means of dy and dy * xhat are an input (a
  // BatchNormGradSums step made them).
  bool given_sums = false;
  // BatchNormGradSums: how many BatchNorms' sums it makes (1 or 2).
  int64_t batch_norms = 1;
  // Dropout*: the probability of zeroing an element, in [0, 1).
  double rate = 0.0;
  // LRN*: the window (odd or even: it spans c - size/2 .. c + size/2) and
  // the formula's constants (alpha is not divided by size).
  int64_t lrn_size = 5;
  double lrn_alpha = 1e-4, lrn_beta = 0.75, lrn_bias = 2.0;
  // ChannelCopy: how many channels are copied.
  int64_t channels = 1;
  // Conv2D: the algorithm; the lowering sets default_conv_algo, a tuner may
  // set any algorithm that winograd_applies allows.
  ConvAlgo conv_algo = ConvAlgo::Direct;
  // Conv2D, Dense: a tuned schedule (unset: the default one).
  ScheduleChoice schedule;
  // Dense, DenseBackward*: the rows of one image (H*W for a 1x1
  // convolution, else 1); every call has a whole multiple of them, which the
  // schedule may rely on.
  int64_t rows_per_image = 1;
  // Conv2DBackwardData of a strided 1x1 convolution without padding: when
  // positive, a second such convolution (same input, stride and output
  // pixels) of pair_out_c output channels, whose data gradient is added (a
  // projection block's first 1x1 and its shortcut): every pixel written once.
  int64_t pair_out_c = 0;

  // Canonical one-line description; equal specs give equal keys. The cache
  // hashes it with the schedule version and the target.
  std::string key() const;
};

// How to call a compiled kernel: its C symbol and its arguments in order.
struct ArgDesc {
  std::string name;  // "input", "weights", "lr", "d_bias", ...
  bool is_buffer = true;
  bool is_output = false;
  std::string scalar_type;  // "float", "int32_t" or "uint64_t" for scalars
  int dims = 0;             // buffers: number of dimensions
  bool is_int32 = false;    // buffers: int32 elements (labels) instead of float
};

struct KernelSignature {
  std::string function;  // C symbol, e.g. "cnnc_conv2d_3f2a..."
  std::vector<ArgDesc> args;
  std::string schedule;  // the builder's description of its schedule (BuiltKernel::schedule)
};

// The arguments of a kernel of this spec, in call order (inputs, scalars,
// outputs), as listed above. Needs no Halide; the builders follow it.
std::vector<ArgDesc> kernel_args(const KernelSpec& spec);

// Whether a Conv2D spec can run as Winograd: a 3x3 kernel with stride 1.
bool winograd_applies(const KernelSpec& spec);
// The algorithm a Conv2D spec runs with unless tuned (the rule and the
// measurements behind it are in kernel_spec.cpp).
ConvAlgo default_conv_algo(const KernelSpec& spec);
// Floats of a Conv2D's transformed weights (the WinogradWeights output) when
// its algorithm is not Direct. Winograd: alpha^2 * in_c points for the output
// channels rounded up to the kernel's channel tile, which depends on the
// target; this bounds it for all. DirectPacked: the weights with the output
// channels rounded up to 16.
int64_t winograd_weight_floats(const KernelSpec& spec);

}  // namespace cnnc::kernels
