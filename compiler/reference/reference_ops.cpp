#include "compiler/reference/reference_ops.h"

#include <algorithm>
#include <cmath>

namespace cnnc::reference {
namespace {

// Index of (n, h, w, c) in an NHWC tensor of per-image shape [H, W, C].
int64_t at(int64_t n, int64_t h, int64_t w, int64_t c, int64_t H, int64_t W, int64_t C) {
  return ((n * H + h) * W + w) * C + c;
}

// Index of [ky][kx][ci][co] in Keras conv weights.
int64_t conv_w(const KernelSpec& s, int64_t ky, int64_t kx, int64_t ci, int64_t co) {
  return ((ky * s.kernel_w + kx) * s.in_c + ci) * s.out_c + co;
}

// Input row/column read by output position `o` at kernel tap `k`.
int64_t in_row(const KernelSpec& s, int64_t oy, int64_t ky) {
  return oy * s.stride_h + ky - s.pad_top;
}
int64_t in_col(const KernelSpec& s, int64_t ox, int64_t kx) {
  return ox * s.stride_w + kx - s.pad_left;
}
bool real_cell(const KernelSpec& s, int64_t iy, int64_t ix) {
  return iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
}

int64_t real_cells(const KernelSpec& s, int64_t oy, int64_t ox) {
  int64_t count = 0;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky)
    for (int64_t kx = 0; kx < s.kernel_w; ++kx)
      if (real_cell(s, in_row(s, oy, ky), in_col(s, ox, kx))) ++count;
  return count;
}

}  // namespace

AxisWindow same_window(int64_t in, int64_t kernel, int64_t stride) {
  AxisWindow a;
  a.out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((a.out - 1) * stride + kernel - in, 0);
  a.pad_before = total / 2;
  a.pad_after = total - a.pad_before;
  return a;
}

AxisWindow valid_window(int64_t in, int64_t kernel, int64_t stride) {
  AxisWindow a;
  a.out = (in - kernel) / stride + 1;
  return a;
}

Vec conv2d(const KernelSpec& s, int64_t batch, const Vec& input, const Vec& weights,
           const Vec& bias, const Vec& residual) {
  Vec out(batch * s.out_h * s.out_w * s.out_c);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oy = 0; oy < s.out_h; ++oy)
      for (int64_t ox = 0; ox < s.out_w; ++ox)
        for (int64_t co = 0; co < s.out_c; ++co) {
          double acc = bias.empty() ? 0.0 : bias[co];
          for (int64_t ky = 0; ky < s.kernel_h; ++ky)
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t iy = in_row(s, oy, ky), ix = in_col(s, ox, kx);
              if (!real_cell(s, iy, ix)) continue;  // zero padding
              for (int64_t ci = 0; ci < s.in_c; ++ci)
                acc += input[at(n, iy, ix, ci, s.in_h, s.in_w, s.in_c)] *
                       weights[conv_w(s, ky, kx, ci, co)];
            }
          const int64_t o = at(n, oy, ox, co, s.out_h, s.out_w, s.out_c);
          if (s.residual) acc += residual.at(o);
          out[o] = activate(acc, s.act);
        }
  return out;
}

// The backward passes scatter each forward product's gradient to its two
// factors, the most direct reading of the chain rule.
Vec conv2d_backward_data(const KernelSpec& s, int64_t batch, const Vec& d_output,
                         const Vec& weights) {
  Vec d_input(batch * s.in_h * s.in_w * s.in_c, 0.0);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oy = 0; oy < s.out_h; ++oy)
      for (int64_t ox = 0; ox < s.out_w; ++ox)
        for (int64_t co = 0; co < s.out_c; ++co) {
          const double g = d_output[at(n, oy, ox, co, s.out_h, s.out_w, s.out_c)];
          for (int64_t ky = 0; ky < s.kernel_h; ++ky)
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t iy = in_row(s, oy, ky), ix = in_col(s, ox, kx);
              if (!real_cell(s, iy, ix)) continue;
              for (int64_t ci = 0; ci < s.in_c; ++ci)
                d_input[at(n, iy, ix, ci, s.in_h, s.in_w, s.in_c)] +=
                    g * weights[conv_w(s, ky, kx, ci, co)];
            }
        }
  return d_input;
}

void conv2d_backward_filter(const KernelSpec& s, int64_t batch, const Vec& input,
                            const Vec& d_output, Vec* d_weights, Vec* d_bias) {
  d_weights->assign(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 0.0);
  d_bias->assign(s.out_c, 0.0);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oy = 0; oy < s.out_h; ++oy)
      for (int64_t ox = 0; ox < s.out_w; ++ox)
        for (int64_t co = 0; co < s.out_c; ++co) {
          const double g = d_output[at(n, oy, ox, co, s.out_h, s.out_w, s.out_c)];
          (*d_bias)[co] += g;
          for (int64_t ky = 0; ky < s.kernel_h; ++ky)
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t iy = in_row(s, oy, ky), ix = in_col(s, ox, kx);
              if (!real_cell(s, iy, ix)) continue;
              for (int64_t ci = 0; ci < s.in_c; ++ci)
                (*d_weights)[conv_w(s, ky, kx, ci, co)] +=
                    g * input[at(n, iy, ix, ci, s.in_h, s.in_w, s.in_c)];
            }
        }
}

Vec dense(const KernelSpec& s, int64_t rows, const Vec& input, const Vec& weights, const Vec& bias,
          const Vec& residual) {
  Vec out(rows * s.out_c);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < s.out_c; ++o) {
      double acc = bias.empty() ? 0.0 : bias[o];
      for (int64_t i = 0; i < s.in_c; ++i) acc += input[r * s.in_c + i] * weights[i * s.out_c + o];
      if (s.residual) acc += residual.at(r * s.out_c + o);
      out[r * s.out_c + o] = activate(acc, s.act);
    }
  return out;
}

Vec dense_backward_data(const KernelSpec& s, int64_t rows, const Vec& d_output,
                        const Vec& weights) {
  Vec d_input(rows * s.in_c, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < s.out_c; ++o)
      for (int64_t i = 0; i < s.in_c; ++i)
        d_input[r * s.in_c + i] += d_output[r * s.out_c + o] * weights[i * s.out_c + o];
  return d_input;
}

void dense_backward_weights(const KernelSpec& s, int64_t rows, const Vec& input,
                            const Vec& d_output, Vec* d_weights, Vec* d_bias) {
  d_weights->assign(s.in_c * s.out_c, 0.0);
  d_bias->assign(s.out_c, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < s.out_c; ++o) {
      const double g = d_output[r * s.out_c + o];
      (*d_bias)[o] += g;
      for (int64_t i = 0; i < s.in_c; ++i)
        (*d_weights)[i * s.out_c + o] += g * input[r * s.in_c + i];
    }
}

Vec pool2d(const KernelSpec& s, int64_t batch, const Vec& input) {
  Vec out(batch * s.out_h * s.out_w * s.out_c);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oy = 0; oy < s.out_h; ++oy)
      for (int64_t ox = 0; ox < s.out_w; ++ox)
        for (int64_t c = 0; c < s.out_c; ++c) {
          double best = -INFINITY, total = 0.0;
          for (int64_t ky = 0; ky < s.kernel_h; ++ky)
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t iy = in_row(s, oy, ky), ix = in_col(s, ox, kx);
              if (!real_cell(s, iy, ix)) continue;  // padding never counts
              const double v = input[at(n, iy, ix, c, s.in_h, s.in_w, s.in_c)];
              best = std::max(best, v);
              total += v;
            }
          out[at(n, oy, ox, c, s.out_h, s.out_w, s.out_c)] =
              s.pool == kernels::PoolKind::Max ? best : total / real_cells(s, oy, ox);
        }
  return out;
}

Vec pool2d_backward(const KernelSpec& s, int64_t batch, const Vec& input, const Vec& d_output) {
  Vec d_input(batch * s.in_h * s.in_w * s.in_c, 0.0);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oy = 0; oy < s.out_h; ++oy)
      for (int64_t ox = 0; ox < s.out_w; ++ox)
        for (int64_t c = 0; c < s.out_c; ++c) {
          const double g = d_output[at(n, oy, ox, c, s.out_h, s.out_w, s.out_c)];
          const int64_t count = real_cells(s, oy, ox);
          int64_t best_at = -1;
          double best = -INFINITY;
          for (int64_t ky = 0; ky < s.kernel_h; ++ky)
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t iy = in_row(s, oy, ky), ix = in_col(s, ox, kx);
              if (!real_cell(s, iy, ix)) continue;
              const int64_t i = at(n, iy, ix, c, s.in_h, s.in_w, s.in_c);
              if (s.pool == kernels::PoolKind::Avg) {
                d_input[i] += g / count;
              } else if (input[i] > best) {  // strict: the first maximum wins
                best = input[i];
                best_at = i;
              }
            }
          if (s.pool == kernels::PoolKind::Max && best_at >= 0) d_input[best_at] += g;
        }
  return d_input;
}

double activate(double x, Act act) {
  switch (act) {
    case Act::Linear:
      return x;
    case Act::Relu:
      return x > 0 ? x : 0.0;
    case Act::Tanh:
      return std::tanh(x);
    case Act::Sigmoid:
      return 1.0 / (1.0 + std::exp(-x));
  }
  return x;
}

Vec activation(Act act, const Vec& input) {
  Vec out(input.size());
  for (size_t i = 0; i < input.size(); ++i) out[i] = activate(input[i], act);
  return out;
}

Vec activation_backward(Act act, const Vec& output, const Vec& d_output) {
  Vec d_input(output.size());
  for (size_t i = 0; i < output.size(); ++i) {
    const double y = output[i];
    double slope = 1.0;
    if (act == Act::Relu) slope = y > 0 ? 1.0 : 0.0;
    if (act == Act::Tanh) slope = 1.0 - y * y;
    if (act == Act::Sigmoid) slope = y * (1.0 - y);
    d_input[i] = d_output[i] * slope;
  }
  return d_input;
}

Vec softmax(int64_t classes, int64_t rows, const Vec& input) {
  Vec out(rows * classes);
  for (int64_t r = 0; r < rows; ++r) {
    const double* z = &input[r * classes];
    const double m = *std::max_element(z, z + classes);
    double total = 0.0;
    for (int64_t k = 0; k < classes; ++k) total += std::exp(z[k] - m);
    for (int64_t k = 0; k < classes; ++k) out[r * classes + k] = std::exp(z[k] - m) / total;
  }
  return out;
}

void softmax_cross_entropy(int64_t classes, int64_t batch, const Vec& logits,
                           const std::vector<int32_t>& labels, Vec* probs, Vec* d_logits,
                           Vec* loss) {
  *probs = softmax(classes, batch, logits);
  d_logits->assign(batch * classes, 0.0);
  loss->assign(batch, 0.0);
  for (int64_t n = 0; n < batch; ++n) {
    const double* z = &logits[n * classes];
    const double m = *std::max_element(z, z + classes);
    double total = 0.0;
    for (int64_t k = 0; k < classes; ++k) total += std::exp(z[k] - m);
    (*loss)[n] = std::log(total) + m - z[labels[n]];
    for (int64_t k = 0; k < classes; ++k) {
      const double onehot = k == labels[n] ? 1.0 : 0.0;
      (*d_logits)[n * classes + k] = ((*probs)[n * classes + k] - onehot) / batch;
    }
  }
}

void sgd_update(const Vec& weights, const Vec& grad, const Vec& velocity, double lr,
                double momentum, double l2, bool nesterov, Vec* new_weights, Vec* new_velocity) {
  new_weights->resize(weights.size());
  new_velocity->resize(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    const double g = grad[i] + 2.0 * l2 * weights[i];
    const double v = momentum * velocity[i] - lr * g;
    (*new_velocity)[i] = v;
    (*new_weights)[i] = nesterov ? weights[i] + momentum * v - lr * g : weights[i] + v;
  }
}

}  // namespace cnnc::reference
