// Naive double-precision reference of every kernel kind, forward and backward,
// written from model-format.md: the ground truth for the kernel tests and the
// compiler's tests. Tensors are flat std::vector<double> in the layouts of
// kernel_spec.h: images NHWC, conv weights [kh][kw][in_c][out_c], dense
// weights [in][out], flat tensors [rows][k]. `batch` is n (images or rows).
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/kernels/kernel_spec.h"

namespace cnnc::reference {

using Vec = std::vector<double>;
using kernels::Act;
using kernels::KernelSpec;

// Output size and padding before for one axis of a 'same' or 'valid' window
// (model-format.md: 'same' puts the smaller half of the padding before).
struct AxisWindow {
  int64_t out = 0, pad_before = 0, pad_after = 0;
};
AxisWindow same_window(int64_t in, int64_t kernel, int64_t stride);
AxisWindow valid_window(int64_t in, int64_t kernel, int64_t stride);

// Conv2D: out = act(bias + sum in * w + residual), zero padding; the
// residual (output-shaped) only when s.residual.
Vec conv2d(const KernelSpec& s, int64_t batch, const Vec& input, const Vec& weights,
           const Vec& bias /* empty when !use_bias */, const Vec& residual = Vec());
// Gradients of the linear convolution given d_output.
Vec conv2d_backward_data(const KernelSpec& s, int64_t batch, const Vec& d_output,
                         const Vec& weights);
void conv2d_backward_filter(const KernelSpec& s, int64_t batch, const Vec& input,
                            const Vec& d_output, Vec* d_weights, Vec* d_bias);

// Dense: out = act(bias + in * w + residual); the residual only when s.residual.
Vec dense(const KernelSpec& s, int64_t rows, const Vec& input, const Vec& weights, const Vec& bias,
          const Vec& residual = Vec());
Vec dense_backward_data(const KernelSpec& s, int64_t rows, const Vec& d_output, const Vec& weights);
void dense_backward_weights(const KernelSpec& s, int64_t rows, const Vec& input,
                            const Vec& d_output, Vec* d_weights, Vec* d_bias);

// Max ignores padded cells; average divides by the number of real cells.
Vec pool2d(const KernelSpec& s, int64_t batch, const Vec& input);
// Max: each window's gradient goes to its first maximal real cell in
// row-major (h, then w) order.
Vec pool2d_backward(const KernelSpec& s, int64_t batch, const Vec& input, const Vec& d_output);

double activate(double x, Act act);
Vec activation(Act act, const Vec& input);
// dx = dy * f'(x), written with the forward output y = f(x).
Vec activation_backward(Act act, const Vec& output, const Vec& d_output);

// Softmax over the last axis of [rows][classes].
Vec softmax(int64_t classes, int64_t rows, const Vec& input);
// loss[n] = -log softmax(z_n)[label_n]; d_logits = (p - onehot) / batch.
void softmax_cross_entropy(int64_t classes, int64_t batch, const Vec& logits,
                           const std::vector<int32_t>& labels, Vec* probs, Vec* d_logits,
                           Vec* loss);

// Keras SGD with L2: g' = g + 2 l2 w; v' = m v - lr g'; w' = w + v'
// (Nesterov: w' = w + m v' - lr g').
void sgd_update(const Vec& weights, const Vec& grad, const Vec& velocity, double lr,
                double momentum, double l2, bool nesterov, Vec* new_weights, Vec* new_velocity);

// BatchNormalization over (c, rows) = [rows][c] (reference_normalization.cpp).
// gamma / beta are empty when !s.scale / !s.center (then 1 and 0).
Vec batch_norm_inference(const KernelSpec& s, int64_t rows, const Vec& input, const Vec& gamma,
                         const Vec& beta, const Vec& moving_mean, const Vec& moving_variance);
struct BatchNormTrainingResult {
  Vec output, batch_mean, batch_inv_std, new_moving_mean, new_moving_variance;
};
// Batch mean and biased variance normalise; the moving variance gets the
// unbiased one (rows / (rows - 1) times; rows = 1 keeps the biased). The
// output is act(y + residual) (s.act; the residual only when s.residual).
BatchNormTrainingResult batch_norm_training(const KernelSpec& s, int64_t rows, const Vec& input,
                                            const Vec& gamma, const Vec& beta,
                                            const Vec& moving_mean, const Vec& moving_variance,
                                            const Vec& residual = {});
// The gradient of the training-mode output (the batch statistics depend on
// the input). d_gamma / d_beta are always filled. With s.act (training only)
// the output is act(y): d_output is the gradient of that, `output` its value
// (empty without an activation).
void batch_norm_backward(const KernelSpec& s, int64_t rows, const Vec& input, const Vec& d_output,
                         const Vec& output, const Vec& gamma, const Vec& batch_mean,
                         const Vec& batch_inv_std, Vec* d_input, Vec* d_gamma, Vec* d_beta);

// Local response normalisation across channels of NHWC images (alpha not
// divided by size); the backward pass is the exact gradient.
Vec lrn(const KernelSpec& s, int64_t batch, const Vec& input);
Vec lrn_backward(const KernelSpec& s, int64_t batch, const Vec& input, const Vec& d_output);

// Dropout over [n][elems] (reference_layout.cpp): the factor of each element,
// 0 or 1 / (1 - rate), from kernels/dropout_hash.h.
Vec dropout_mask(int64_t elems, int64_t batch, uint64_t seed, uint64_t step, double rate);
// input * mask; the backward pass is the same with d_output.
Vec dropout(int64_t elems, int64_t batch, uint64_t seed, uint64_t step, double rate,
            const Vec& input);

// Zero padding of NHWC images to [out_h][out_w] (pad_top, pad_left before),
// and its gradient, the crop.
Vec zero_pad(const KernelSpec& s, int64_t batch, const Vec& input);
Vec zero_pad_backward(const KernelSpec& s, int64_t batch, const Vec& d_output);

// Copies s.channels channels from `input` (NHWC, in_c channels) starting at
// channel in_first to `output` (NHWC, out_c channels) starting at out_first.
void channel_copy(const KernelSpec& s, int64_t batch, const Vec& input, int64_t in_first,
                  Vec* output, int64_t out_first);

// act(a + b), elementwise.
Vec add(Act act, const Vec& a, const Vec& b);

}  // namespace cnnc::reference
