// BatchNormalization and local response normalisation, written from
// model-format.md, in double.
#include <algorithm>
#include <cmath>

#include "compiler/reference/reference_ops.h"

namespace cnnc::reference {
namespace {

double gamma_of(const Vec& gamma, int64_t c) { return gamma.empty() ? 1.0 : gamma[c]; }
double beta_of(const Vec& beta, int64_t c) { return beta.empty() ? 0.0 : beta[c]; }

// Sum of a_j^2 over the channel window of c at one pixel (channels at `a`).
double window_squares(const KernelSpec& s, const double* a, int64_t c) {
  const int64_t half = s.lrn_size / 2;
  double total = 0.0;
  for (int64_t j = std::max<int64_t>(0, c - half); j <= std::min(s.in_c - 1, c + half); ++j)
    total += a[j] * a[j];
  return total;
}

}  // namespace

Vec batch_norm_inference(const KernelSpec& s, int64_t rows, const Vec& input, const Vec& gamma,
                         const Vec& beta, const Vec& moving_mean, const Vec& moving_variance) {
  const int64_t C = s.in_c;
  Vec out(rows * C);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c)
      out[r * C + c] = gamma_of(gamma, c) * (input[r * C + c] - moving_mean[c]) /
                           std::sqrt(moving_variance[c] + s.epsilon) +
                       beta_of(beta, c);
  return out;
}

BatchNormTrainingResult batch_norm_training(const KernelSpec& s, int64_t rows, const Vec& input,
                                            const Vec& gamma, const Vec& beta,
                                            const Vec& moving_mean, const Vec& moving_variance,
                                            const Vec& residual) {
  const int64_t C = s.in_c;
  BatchNormTrainingResult res;
  res.output.resize(rows * C);
  for (int64_t c = 0; c < C; ++c) {
    double total = 0.0;
    for (int64_t r = 0; r < rows; ++r) total += input[r * C + c];
    const double mean = total / rows;
    double squares = 0.0;
    for (int64_t r = 0; r < rows; ++r) squares += std::pow(input[r * C + c] - mean, 2);
    const double variance = squares / rows;  // biased
    const double inv_std = 1.0 / std::sqrt(variance + s.epsilon);
    for (int64_t r = 0; r < rows; ++r)
      res.output[r * C + c] =
          activate(gamma_of(gamma, c) * (input[r * C + c] - mean) * inv_std + beta_of(beta, c) +
                       (s.residual ? residual[r * C + c] : 0.0),
                   s.act);
    const double unbiased = rows > 1 ? variance * rows / (rows - 1) : variance;
    res.batch_mean.push_back(mean);
    res.batch_inv_std.push_back(inv_std);
    res.new_moving_mean.push_back(s.momentum * moving_mean[c] + (1 - s.momentum) * mean);
    res.new_moving_variance.push_back(s.momentum * moving_variance[c] +
                                      (1 - s.momentum) * unbiased);
  }
  return res;
}

// With xhat = (x - mean) * inv_std, y = gamma * xhat + beta, N rows:
// dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)).
void batch_norm_backward(const KernelSpec& s, int64_t rows, const Vec& input, const Vec& dy,
                         const Vec& output, const Vec& gamma, const Vec& batch_mean,
                         const Vec& batch_inv_std, Vec* d_input, Vec* d_gamma, Vec* d_beta) {
  const int64_t C = s.in_c;
  // d(loss)/d(the normalised value), through the activation when there is one.
  const Vec d_output = s.act == Act::Linear ? dy : activation_backward(s.act, output, dy);
  d_input->assign(rows * C, 0.0);
  d_gamma->assign(C, 0.0);
  d_beta->assign(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    auto xhat = [&](int64_t r) { return (input[r * C + c] - batch_mean[c]) * batch_inv_std[c]; };
    for (int64_t r = 0; r < rows; ++r) {
      (*d_beta)[c] += d_output[r * C + c];
      (*d_gamma)[c] += d_output[r * C + c] * xhat(r);
    }
    const double k = gamma_of(gamma, c) * batch_inv_std[c];
    for (int64_t r = 0; r < rows; ++r)
      (*d_input)[r * C + c] =
          k * (d_output[r * C + c] - (*d_beta)[c] / rows - xhat(r) * (*d_gamma)[c] / rows);
  }
}

Vec lrn(const KernelSpec& s, int64_t batch, const Vec& input) {
  const int64_t C = s.in_c, pixels = batch * s.in_h * s.in_w;
  Vec out(pixels * C);
  for (int64_t p = 0; p < pixels; ++p) {
    const double* a = &input[p * C];
    for (int64_t c = 0; c < C; ++c) {
      const double d = s.lrn_bias + s.lrn_alpha * window_squares(s, a, c);
      out[p * C + c] = a[c] / std::pow(d, s.lrn_beta);
    }
  }
  return out;
}

// The chain rule, scattered: b_c = a_c * d_c^-beta depends on a_c directly
// and on every a_j of its window through d_c (dd_c/da_j = 2 alpha a_j).
Vec lrn_backward(const KernelSpec& s, int64_t batch, const Vec& input, const Vec& d_output) {
  const int64_t C = s.in_c, pixels = batch * s.in_h * s.in_w, half = s.lrn_size / 2;
  Vec d_input(pixels * C, 0.0);
  for (int64_t p = 0; p < pixels; ++p) {
    const double* a = &input[p * C];
    for (int64_t c = 0; c < C; ++c) {
      const double g = d_output[p * C + c];
      const double d = s.lrn_bias + s.lrn_alpha * window_squares(s, a, c);
      d_input[p * C + c] += g * std::pow(d, -s.lrn_beta);
      const double d_d = g * -s.lrn_beta * a[c] * std::pow(d, -s.lrn_beta - 1);
      for (int64_t j = std::max<int64_t>(0, c - half); j <= std::min(C - 1, c + half); ++j)
        d_input[p * C + j] += d_d * 2 * s.lrn_alpha * a[j];
    }
  }
  return d_input;
}

}  // namespace cnnc::reference
