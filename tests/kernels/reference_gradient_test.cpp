// The reference backward passes against central finite differences of the
// reference forward passes, in double, on the same shapes as the kernel
// tests: since the kernels match the reference, every kernel gradient is
// checked by finite differences transitively. L = <forward(x), R> for a
// random R, so dL/dx is the backward pass applied to d_output = R.
#include <gtest/gtest.h>

#include "tests/kernels/kernel_test_util.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-6;
constexpr int64_t kBatch = 2;

TEST(ReferenceGradients, Conv2D) {
  for (KernelSpec s : conv_specs()) {
    s.act = Act::Linear;  // the backward kernels see the pre-activation gradient
    SCOPED_TRACE(s.key());
    const Vec x = random_vec(in_size(s, kBatch), 1);
    const Vec w = random_vec(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 2);
    const Vec b = random_vec(s.out_c, 3);
    const Vec r = random_vec(out_size(s, kBatch), 4);
    Vec d_w, d_b;
    reference::conv2d_backward_filter(s, kBatch, x, r, &d_w, &d_b);
    auto loss_x = [&](const Vec& v) { return dot(reference::conv2d(s, kBatch, v, w, b), r); };
    auto loss_w = [&](const Vec& v) { return dot(reference::conv2d(s, kBatch, x, v, b), r); };
    auto loss_b = [&](const Vec& v) { return dot(reference::conv2d(s, kBatch, x, w, v), r); };
    EXPECT_LE(relative_error(reference::conv2d_backward_data(s, kBatch, r, w),
                             numeric_gradient(x, loss_x)),
              kTolerance);
    EXPECT_LE(relative_error(d_w, numeric_gradient(w, loss_w)), kTolerance);
    EXPECT_LE(relative_error(d_b, numeric_gradient(b, loss_b)), kTolerance);
  }
}

TEST(ReferenceGradients, Dense) {
  for (KernelSpec s : dense_specs()) {
    s.act = Act::Linear;
    SCOPED_TRACE(s.key());
    const int64_t rows = 3;
    const Vec x = random_vec(rows * s.in_c, 1), w = random_vec(s.in_c * s.out_c, 2);
    const Vec b = random_vec(s.out_c, 3), r = random_vec(rows * s.out_c, 4);
    Vec d_w, d_b;
    reference::dense_backward_weights(s, rows, x, r, &d_w, &d_b);
    auto loss_x = [&](const Vec& v) { return dot(reference::dense(s, rows, v, w, b), r); };
    auto loss_w = [&](const Vec& v) { return dot(reference::dense(s, rows, x, v, b), r); };
    auto loss_b = [&](const Vec& v) { return dot(reference::dense(s, rows, x, w, v), r); };
    EXPECT_LE(
        relative_error(reference::dense_backward_data(s, rows, r, w), numeric_gradient(x, loss_x)),
        kTolerance);
    EXPECT_LE(relative_error(d_w, numeric_gradient(w, loss_w)), kTolerance);
    EXPECT_LE(relative_error(d_b, numeric_gradient(b, loss_b)), kTolerance);
  }
}

TEST(ReferenceGradients, Pool2D) {
  for (const KernelSpec& s : pool_specs()) {
    SCOPED_TRACE(s.key());
    const Vec x = random_vec(in_size(s, kBatch), 5), r = random_vec(out_size(s, kBatch), 6);
    auto loss = [&](const Vec& v) { return dot(reference::pool2d(s, kBatch, v), r); };
    EXPECT_LE(
        relative_error(reference::pool2d_backward(s, kBatch, x, r), numeric_gradient(x, loss)),
        kTolerance);
  }
}

TEST(ReferenceGradients, Activation) {
  for (Act act : {Act::Relu, Act::Tanh, Act::Sigmoid, Act::Linear}) {
    Vec x = random_vec(200, 7);
    for (double& v : x) v = 3 * v + (v >= 0 ? 0.01 : -0.01);  // keep relu's kink away
    const Vec r = random_vec(200, 8);
    auto loss = [&](const Vec& v) { return dot(reference::activation(act, v), r); };
    const Vec analytic = reference::activation_backward(act, reference::activation(act, x), r);
    EXPECT_LE(relative_error(analytic, numeric_gradient(x, loss)), kTolerance)
        << "act " << static_cast<int>(act);
  }
}

TEST(ReferenceGradients, SoftmaxCrossEntropy) {
  const int64_t classes = 7, batch = 3;
  const Vec z = random_vec(classes * batch, 9);
  const std::vector<int32_t> labels = {0, 6, 3};
  Vec probs, d_logits, loss;
  reference::softmax_cross_entropy(classes, batch, z, labels, &probs, &d_logits, &loss);
  // The batch loss is the mean of the per-image losses.
  auto mean_loss = [&](const Vec& v) {
    Vec p, d, l;
    reference::softmax_cross_entropy(classes, batch, v, labels, &p, &d, &l);
    return (l[0] + l[1] + l[2]) / batch;
  };
  EXPECT_LE(relative_error(d_logits, numeric_gradient(z, mean_loss)), kTolerance);
  // loss = -log(probs[label]); rows of probs sum to one.
  for (int64_t n = 0; n < batch; ++n) {
    EXPECT_NEAR(loss[n], -std::log(probs[n * classes + labels[n]]), 1e-12);
    double total = 0;
    for (int64_t k = 0; k < classes; ++k) total += probs[n * classes + k];
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
}

TEST(ReferenceOps, SameWindowPutsTheSmallerHalfBefore) {
  const reference::AxisWindow a = reference::same_window(7, 4, 2);  // out 4, total 3
  EXPECT_EQ(a.out, 4);
  EXPECT_EQ(a.pad_before, 1);
  EXPECT_EQ(a.pad_after, 2);
  EXPECT_EQ(reference::valid_window(9, 4, 4).out, 2);
}

TEST(ReferenceOps, SgdUpdateByHand) {
  Vec w, v;
  // g' = 1 + 2 * 0.5 * 2 = 3; v' = 0.9 * 1 - 0.1 * 3 = 0.6; w' = 2.6
  reference::sgd_update({2.0}, {1.0}, {1.0}, 0.1, 0.9, 0.5, false, &w, &v);
  EXPECT_NEAR(v[0], 0.6, 1e-12);
  EXPECT_NEAR(w[0], 2.6, 1e-12);
  // Nesterov: w' = 2 + 0.9 * 0.6 - 0.1 * 3 = 2.24
  reference::sgd_update({2.0}, {1.0}, {1.0}, 0.1, 0.9, 0.5, true, &w, &v);
  EXPECT_NEAR(w[0], 2.24, 1e-12);
}

}  // namespace
}  // namespace cnnc::testing
