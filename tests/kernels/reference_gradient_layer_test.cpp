// The reference gradients of BatchNorm (training mode), LRN, Dropout (a
// fixed mask) and ZeroPad against central finite differences of their
// forward passes, as in reference_gradient_test.cpp: L = <forward(x), R>.
// Also BatchNorm's statistics and moving averages worked by hand.
#include <gtest/gtest.h>

#include "tests/kernels/kernel_test_util.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-6;
constexpr int64_t kBatch = 2;

// The batch statistics depend on the input: the gradient goes through them.
// With a fused ReLU too (training only): the gradient of relu(BatchNorm(x)).
TEST(ReferenceGradients, BatchNormTraining) {
  std::vector<KernelSpec> specs = batch_norm_specs(Kind::BatchNormTraining);
  for (KernelSpec relu : {specs[0], specs[1]}) {
    relu.act = Act::Relu;
    specs.push_back(relu);
  }
  for (const KernelSpec& s : specs) {
    for (int64_t rows : {30, 4}) {  // a 3x5 image at batch 2, a flat tensor
      SCOPED_TRACE(::testing::Message() << s.key() << " rows " << rows);
      const Vec x = random_vec(rows * s.in_c, 1), r = random_vec(rows * s.in_c, 2);
      Vec gamma = s.scale ? random_vec(s.in_c, 3) : Vec();
      Vec beta = s.center ? random_vec(s.in_c, 4) : Vec();
      const Vec moving_mean(s.in_c, 0.0), moving_variance(s.in_c, 1.0);
      auto loss = [&](const Vec& in, const Vec& g, const Vec& b) {
        return dot(
            reference::batch_norm_training(s, rows, in, g, b, moving_mean, moving_variance).output,
            r);
      };
      const reference::BatchNormTrainingResult forward =
          reference::batch_norm_training(s, rows, x, gamma, beta, moving_mean, moving_variance);
      Vec d_input, d_gamma, d_beta;
      reference::batch_norm_backward(s, rows, x, r, forward.output, gamma, forward.batch_mean,
                                     forward.batch_inv_std, &d_input, &d_gamma, &d_beta);
      EXPECT_LE(relative_error(d_input, numeric_gradient(
                                            x, [&](const Vec& v) { return loss(v, gamma, beta); })),
                kTolerance);
      if (s.scale) {
        auto loss_gamma = [&](const Vec& v) { return loss(x, v, beta); };
        EXPECT_LE(relative_error(d_gamma, numeric_gradient(gamma, loss_gamma)), kTolerance);
      }
      // d_beta is the gradient of the shift even when beta is absent (center
      // false): check it against a beta of zeros.
      const Vec beta_at = s.center ? beta : Vec(s.in_c, 0.0);
      KernelSpec centred = s;
      centred.center = true;
      auto loss_beta = [&](const Vec& v) {
        return dot(
            reference::batch_norm_training(centred, rows, x, gamma, v, moving_mean, moving_variance)
                .output,
            r);
      };
      EXPECT_LE(relative_error(d_beta, numeric_gradient(beta_at, loss_beta)), kTolerance);
    }
  }
}

TEST(ReferenceGradients, Lrn) {
  for (const KernelSpec& s : lrn_specs()) {
    SCOPED_TRACE(s.key());
    Vec x = random_vec(in_size(s, kBatch), 5);
    for (double& v : x) v *= 3.0;
    const Vec r = random_vec(in_size(s, kBatch), 6);
    auto loss = [&](const Vec& v) { return dot(reference::lrn(s, kBatch, v), r); };
    EXPECT_LE(relative_error(reference::lrn_backward(s, kBatch, x, r), numeric_gradient(x, loss)),
              kTolerance);
  }
}

// The mask is a function of (seed, step, image, element) only: fixed here.
TEST(ReferenceGradients, DropoutWithAFixedMask) {
  const int64_t elems = 3 * 5 * 7;
  const uint64_t seed = 99, step = 4;
  const double rate = 0.4;
  const Vec x = random_vec(elems * kBatch, 7), r = random_vec(elems * kBatch, 8);
  auto loss = [&](const Vec& v) {
    return dot(reference::dropout(elems, kBatch, seed, step, rate, v), r);
  };
  // The backward pass is the forward one applied to d_output.
  EXPECT_LE(relative_error(reference::dropout(elems, kBatch, seed, step, rate, r),
                           numeric_gradient(x, loss)),
            kTolerance);
}

TEST(ReferenceGradients, ZeroPad) {
  for (const KernelSpec& s : zero_pad_specs()) {
    SCOPED_TRACE(s.key());
    const Vec x = random_vec(in_size(s, kBatch), 9), r = random_vec(out_size(s, kBatch), 10);
    auto loss = [&](const Vec& v) { return dot(reference::zero_pad(s, kBatch, v), r); };
    EXPECT_LE(relative_error(reference::zero_pad_backward(s, kBatch, r), numeric_gradient(x, loss)),
              kTolerance);
  }
}

// x = 1, 2, 3, 4 in one channel: mean 2.5, biased variance 1.25, unbiased
// 5/3; momentum 0.9 from moving (0, 1).
TEST(ReferenceOps, BatchNormTrainingStatisticsByHand) {
  KernelSpec s = batch_norm_spec(Kind::BatchNormTraining, 1, false, false);
  s.epsilon = 0.01;
  const reference::BatchNormTrainingResult res =
      reference::batch_norm_training(s, 4, {1, 2, 3, 4}, {}, {}, {0.0}, {1.0});
  EXPECT_NEAR(res.batch_mean[0], 2.5, 1e-12);
  EXPECT_NEAR(res.batch_inv_std[0], 1.0 / std::sqrt(1.25 + 0.01), 1e-12);
  EXPECT_NEAR(res.new_moving_mean[0], 0.25, 1e-12);
  EXPECT_NEAR(res.new_moving_variance[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-12);
  EXPECT_NEAR(res.output[0], -1.5 / std::sqrt(1.26), 1e-12);
  // One row: the unbiased variance is undefined, the biased one (0) is used.
  const reference::BatchNormTrainingResult one =
      reference::batch_norm_training(s, 1, {7.0}, {}, {}, {0.0}, {1.0});
  EXPECT_NEAR(one.new_moving_variance[0], 0.9, 1e-12);
  EXPECT_NEAR(one.new_moving_mean[0], 0.7, 1e-12);
}

// Inference uses the moving statistics, written out for one value.
TEST(ReferenceOps, BatchNormInferenceByHand) {
  KernelSpec s = batch_norm_spec(Kind::BatchNormInference, 1, true, true);
  s.epsilon = 0.0;
  const Vec y = reference::batch_norm_inference(s, 1, {3.0}, {2.0}, {0.5}, {1.0}, {4.0});
  EXPECT_NEAR(y[0], 2.0 * (3.0 - 1.0) / 2.0 + 0.5, 1e-12);
}

// LRN's alpha is not divided by size: b = a / (bias + alpha * sum a^2)^beta.
TEST(ReferenceOps, LrnByHand) {
  KernelSpec s = lrn_spec(1, 1, 3, 3, 0.5, 1.0, 1.0);
  const Vec b = reference::lrn(s, 1, {1.0, 2.0, 3.0});
  EXPECT_NEAR(b[0], 1.0 / (1.0 + 0.5 * 5.0), 1e-12);   // channels 0, 1
  EXPECT_NEAR(b[1], 2.0 / (1.0 + 0.5 * 14.0), 1e-12);  // 0, 1, 2
  EXPECT_NEAR(b[2], 3.0 / (1.0 + 0.5 * 13.0), 1e-12);  // 1, 2
}

}  // namespace
}  // namespace cnnc::testing
