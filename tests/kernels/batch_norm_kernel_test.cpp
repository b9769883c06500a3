// BatchNormInference, BatchNormTraining, BatchNormBackward and BatchNormGradSums against the
// reference, on images (rows = n*H*W) and flat tensors (rows = n), with every
// gamma/beta combination; the moving statistics updated in place.
#include <algorithm>

#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-5;

// Rows of a 7x9 image at batch 1 and 3, a flat tensor at batch 1 and 3, and
// 3 x 31 x 37 (several parallel blocks of rows).
const int64_t kRowCounts[] = {63, 189, 1, 3, 3441};

// Uniform in [lo, hi).
Vec random_in(int64_t size, uint32_t seed, double lo, double hi) {
  Vec v = random_vec(size, seed);
  for (double& x : v) x = lo + (x + 1.0) * 0.5 * (hi - lo);
  return v;
}

// The specs of batch_norm_specs, and some with a fused ReLU (training and
// its gradient only): about half the outputs are then exact zeros. Training
// also with a residual added (before the ReLU, and without one).
std::vector<KernelSpec> specs_with_relu(Kind kind) {
  std::vector<KernelSpec> specs = batch_norm_specs(kind);
  for (int i : {0, 1, 4}) {
    KernelSpec relu = specs[i];
    relu.act = Act::Relu;
    specs.push_back(relu);
  }
  if (kind == Kind::BatchNormTraining) {
    for (int i : {0, 3}) {
      KernelSpec sum = specs[i];
      sum.residual = true;
      sum.act = i == 0 ? Act::Relu : Act::Linear;
      specs.push_back(sum);
    }
  }
  return specs;
}

std::vector<int> sizes(int64_t c, int64_t rows) {
  return {static_cast<int>(c), static_cast<int>(rows)};
}

struct BatchNormData {
  Vec input, gamma, beta, moving_mean, moving_variance, residual;
  BatchNormData(const KernelSpec& s, int64_t rows, double offset = 0.0)
      : input(as_floats(random_in(rows * s.in_c, 1, offset - 2.0, offset + 2.0))),
        gamma(s.scale ? as_floats(random_in(s.in_c, 2, 0.5, 1.5)) : Vec()),
        beta(s.center ? as_floats(random_vec(s.in_c, 3)) : Vec()),
        moving_mean(as_floats(random_vec(s.in_c, 4))),
        moving_variance(as_floats(random_in(s.in_c, 5, 0.5, 1.5))),
        residual(s.residual ? as_floats(random_vec(rows * s.in_c, 7)) : Vec()) {}

  // input, [gamma], [beta], moving_mean, moving_variance, [residual]: the call order.
  std::vector<Halide::Buffer<>> buffers(const KernelSpec& s, int64_t rows) const {
    std::vector<Halide::Buffer<>> b = {to_buffer(input, sizes(s.in_c, rows))};
    if (s.scale) b.push_back(to_buffer(gamma, {static_cast<int>(s.in_c)}));
    if (s.center) b.push_back(to_buffer(beta, {static_cast<int>(s.in_c)}));
    b.push_back(to_buffer(moving_mean, {static_cast<int>(s.in_c)}));
    b.push_back(to_buffer(moving_variance, {static_cast<int>(s.in_c)}));
    if (s.residual) b.push_back(to_buffer(residual, sizes(s.in_c, rows)));
    return b;
  }
};

TEST(BatchNormInferenceKernel, MatchesReference) {
  for (const KernelSpec& s : batch_norm_specs(Kind::BatchNormInference)) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t rows : kRowCounts) {
      SCOPED_TRACE(rows);
      const BatchNormData d(s, rows);
      const Vec got = k.run(d.buffers(s, rows), {sizes(s.in_c, rows)})[0];
      const Vec want = reference::batch_norm_inference(s, rows, d.input, d.gamma, d.beta,
                                                       d.moving_mean, d.moving_variance);
      EXPECT_LE(relative_error(got, want), kTolerance);
      // In place: output over input.
      std::vector<Halide::Buffer<>> inputs = d.buffers(s, rows);
      std::vector<Halide::Buffer<>> outputs = {inputs[0]};
      k.run_into(inputs, outputs);
      EXPECT_LE(relative_error(from_buffer(Halide::Buffer<float>(inputs[0])), want), kTolerance);
    }
  }
}

// The moving statistics are written over the inputs, as the generated code
// does, and the output over the input; a large mean must not cost precision.
TEST(BatchNormTrainingKernel, MatchesReferenceWithMovingStatisticsInPlace) {
  for (const KernelSpec& s : specs_with_relu(Kind::BatchNormTraining)) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t rows : kRowCounts) {
      for (double offset : {0.0, 1000.0}) {
        SCOPED_TRACE(::testing::Message() << "rows " << rows << " offset " << offset);
        const BatchNormData d(s, rows, offset);
        std::vector<Halide::Buffer<>> inputs = d.buffers(s, rows);
        const int c = static_cast<int>(s.in_c);
        const size_t moving = inputs.size() - (s.residual ? 3 : 2);
        std::vector<Halide::Buffer<>> outputs = {inputs[0],
                                                 Halide::Buffer<float>(c),
                                                 Halide::Buffer<float>(c),
                                                 Halide::Buffer<float>(c, 2),
                                                 inputs[moving],
                                                 inputs[moving + 1]};
        k.run_into(inputs, outputs);
        const reference::BatchNormTrainingResult want = reference::batch_norm_training(
            s, rows, d.input, d.gamma, d.beta, d.moving_mean, d.moving_variance, d.residual);
        const Vec wanted[] = {want.output, want.batch_mean,      want.batch_inv_std,
                              Vec(),       want.new_moving_mean, want.new_moving_variance};
        for (size_t i = 0; i < outputs.size(); ++i) {
          if (i == 3) continue;  // batch_affine, below
          EXPECT_LE(relative_error(from_buffer(Halide::Buffer<float>(outputs[i])), wanted[i]),
                    kTolerance)
              << "output " << i;
        }
        // batch_affine: the mean's low part (batch_mean + it is the mean to
        // double precision, 1000 included) and the scale gamma * inv_std.
        const Halide::Buffer<float> mean(outputs[1]), affine(outputs[3]);
        for (int ch = 0; ch < c; ++ch) {
          const double m = want.batch_mean[ch];
          EXPECT_NEAR(double(mean(ch)) + double(affine(ch, 0)), m, 1e-9 * (1.0 + std::abs(m)));
          const double scale = (s.scale ? d.gamma[ch] : 1.0) * want.batch_inv_std[ch];
          EXPECT_NEAR(affine(ch, 1), scale, kTolerance * std::abs(scale));
        }
      }
    }
  }
}

// ResNet's projection shortcut: the residual BatchNorm's stats_only call,
// then the reader normalising its input itself (residual_bn) gives exactly
// what the sum of the two outputs gives (the residual written, then read),
// bit for bit, and the reference's output.
TEST(BatchNormTrainingKernel, StatsOnlyAndResidualNormalisedByItsReader) {
  for (int64_t c : {13, 64}) {
    const KernelSpec plain = batch_norm_spec(Kind::BatchNormTraining, c, true, true);
    KernelSpec stats = plain, summed = plain;
    stats.stats_only = true;
    summed.residual = true, summed.act = Act::Relu;
    KernelSpec fused = summed;
    fused.residual_bn = true;
    SCOPED_TRACE(fused.key());
    JitKernel plain_k(plain), stats_k(stats), summed_k(summed), fused_k(fused);
    const int ci = static_cast<int>(c);
    for (int64_t rows : kRowCounts) {
      SCOPED_TRACE(rows);
      const BatchNormData d(summed, rows), r(plain, rows, 3.0);
      const Vec x = as_floats(random_in(rows * c, 12, -2.0, 1.0));  // the residual BatchNorm's
      std::vector<Halide::Buffer<>> r_inputs = r.buffers(plain, rows);
      r_inputs[0] = to_buffer(x, sizes(c, rows));
      const std::vector<Vec> y_r =
          plain_k.run(r_inputs, {sizes(c, rows), {ci}, {ci}, {ci, 2}, {ci}, {ci}});
      const std::vector<Vec> s_r = stats_k.run(r_inputs, {{ci}, {ci}, {ci, 2}, {ci}, {ci}});
      for (int i = 0; i < 5; ++i) EXPECT_EQ(s_r[i], y_r[i + 1]) << "statistic " << i;
      std::vector<Halide::Buffer<>> inputs = d.buffers(summed, rows);
      inputs.back() = to_buffer(y_r[0], sizes(c, rows));  // the residual as written
      const std::vector<std::vector<int>> out_sizes = {sizes(c, rows), {ci}, {ci},
                                                       {ci, 2},        {ci}, {ci}};
      const std::vector<Vec> want = summed_k.run(inputs, out_sizes);
      inputs.back() = to_buffer(x, sizes(c, rows));  // its input, normalised in the kernel
      inputs.push_back(to_buffer(r.beta, {ci}));
      inputs.push_back(to_buffer(s_r[0], {ci}));
      inputs.push_back(to_buffer(s_r[2], {ci, 2}));
      const std::vector<Vec> got = fused_k.run(inputs, out_sizes);
      EXPECT_EQ(got[0], want[0]);
      const reference::BatchNormTrainingResult ref_r = reference::batch_norm_training(
          plain, rows, x, r.gamma, r.beta, r.moving_mean, r.moving_variance);
      const reference::BatchNormTrainingResult ref = reference::batch_norm_training(
          summed, rows, d.input, d.gamma, d.beta, d.moving_mean, d.moving_variance, ref_r.output);
      EXPECT_LE(relative_error(got[0], ref.output), kTolerance);
    }
  }
}

// The statistics come from the training kernel. With a fused ReLU the
// kernel computes the forward's output again from the input and masks the
// (signed) d_output with it: the reference masks with the training kernel's
// output (exact zeros where the ReLU cut), so every decision must be the
// forward's. d_input is also written over d_output, as the generated code may.
TEST(BatchNormBackwardKernel, MatchesReference) {
  std::vector<KernelSpec> specs = specs_with_relu(Kind::BatchNormBackward);
  specs.push_back(specs[3]);
  specs.back().act = Act::Tanh;  // reads the forward's output instead
  for (const KernelSpec& s : specs) {
    SCOPED_TRACE(s.key());
    JitKernel k(s), training(with_kind(s, Kind::BatchNormTraining));
    for (int64_t rows : kRowCounts) {
      SCOPED_TRACE(rows);
      const BatchNormData d(s, rows);
      const Vec d_output = as_floats(random_vec(rows * s.in_c, 6));
      const int c = static_cast<int>(s.in_c);
      const std::vector<Vec> forward =
          training.run(d.buffers(s, rows), {sizes(s.in_c, rows), {c}, {c}, {c, 2}, {c}, {c}});
      const Vec &mean = forward[1], &inv_std = forward[2];
      const bool relu = s.act == Act::Relu, tanh = s.act == Act::Tanh;
      const Vec output = relu || tanh ? forward[0] : Vec();
      if (relu && rows > 3) {
        const auto zeros = std::count(output.begin(), output.end(), 0.0);
        EXPECT_GT(zeros, 0);
        EXPECT_LT(zeros, static_cast<long>(output.size()));
      }
      std::vector<Halide::Buffer<>> inputs = {to_buffer(d.input, sizes(s.in_c, rows)),
                                              to_buffer(d_output, sizes(s.in_c, rows))};
      if (tanh) inputs.push_back(to_buffer(output, sizes(s.in_c, rows)));
      if (s.scale) inputs.push_back(to_buffer(d.gamma, {c}));
      if (relu && s.center) inputs.push_back(to_buffer(d.beta, {c}));
      inputs.push_back(to_buffer(mean, {c}));
      inputs.push_back(to_buffer(inv_std, {c}));
      if (relu) inputs.push_back(to_buffer(forward[3], {c, 2}));
      std::vector<std::vector<int>> output_sizes = {sizes(s.in_c, rows)};
      if (s.scale) output_sizes.push_back({c});
      if (s.center) output_sizes.push_back({c});
      const std::vector<Vec> got = k.run(inputs, output_sizes);
      Vec d_input, d_gamma, d_beta;
      reference::batch_norm_backward(s, rows, d.input, d_output, output, d.gamma, mean, inv_std,
                                     &d_input, &d_gamma, &d_beta);
      EXPECT_LE(relative_error(got[0], d_input), kTolerance);
      // In place: d_input over d_output.
      std::vector<Halide::Buffer<>> outputs = {inputs[1]};
      for (size_t i = 1; i < got.size(); ++i) outputs.push_back(Halide::Buffer<float>(c));
      k.run_into(inputs, outputs);
      EXPECT_LE(relative_error(from_buffer(Halide::Buffer<float>(inputs[1])), d_input), kTolerance);
      if (s.scale) {
        EXPECT_LE(relative_error(got[1], d_gamma), kTolerance);
      }
      if (s.center) {
        EXPECT_LE(relative_error(got.back(), d_beta), kTolerance);
      }
    }
  }
}

// BatchNormGradSums, then BatchNormBackward with given_sums for each of its
// BatchNorms: dz = act'(y) * (d_output [+ d_residual]) and every gradient as
// the reference's BatchNormBackward of dz. 64 channels: blocks of 512 rows,
// 3441 rows in 7 (the last short), dz written in the sums' blocks.
TEST(BatchNormGradSumsKernel, MatchesReferenceAndFeedsGivenSums) {
  for (int64_t c : {3, 13, 16, 64}) {
    for (int norms : {1, 2}) {
      for (bool residual : {false, true}) {
        KernelSpec s = batch_norm_spec(Kind::BatchNormGradSums, c, true, true);
        s.batch_norms = norms, s.residual = residual;
        s.act = c == 13 ? Act::Tanh : Act::Relu;
        KernelSpec bn = batch_norm_spec(Kind::BatchNormBackward, c, true, true);
        KernelSpec apply = bn;
        apply.given_sums = true;
        SCOPED_TRACE(s.key());
        JitKernel sums_kernel(s), apply_kernel(apply);
        const int ci = static_cast<int>(c);
        for (int64_t rows : kRowCounts) {
          SCOPED_TRACE(rows);
          const BatchNormData d(bn, rows);
          Vec y = as_floats(random_vec(rows * c, 8));
          if (s.act == Act::Relu) {
            for (double& v : y) v = std::max(v, 0.0);  // half exact zeros
          }
          const Vec d_output = as_floats(random_vec(rows * c, 9));
          const Vec d_residual = as_floats(random_vec(rows * c, 10));
          Vec dz(y.size());
          for (size_t i = 0; i < y.size(); ++i) {
            const double dy = d_output[i] + (residual ? d_residual[i] : 0.0);
            dz[i] = s.act == Act::Relu ? (y[i] > 0 ? dy : 0.0) : dy * (1.0 - y[i] * y[i]);
          }
          std::vector<Halide::Buffer<>> inputs = {to_buffer(y, sizes(c, rows)),
                                                  to_buffer(d_output, sizes(c, rows))};
          if (residual) inputs.push_back(to_buffer(d_residual, sizes(c, rows)));
          std::vector<Vec> xs, means, inv_stds;
          std::vector<std::vector<int>> output_sizes = {sizes(c, rows)};
          for (int k = 0; k < norms; ++k) {
            xs.push_back(k == 0 ? d.input : as_floats(random_in(rows * c, 11, -1.0, 3.0)));
            const reference::BatchNormTrainingResult forward = reference::batch_norm_training(
                bn, rows, xs[k], d.gamma, d.beta, d.moving_mean, d.moving_variance);
            means.push_back(as_floats(forward.batch_mean));
            inv_stds.push_back(as_floats(forward.batch_inv_std));
            inputs.push_back(to_buffer(xs[k], sizes(c, rows)));
            inputs.push_back(to_buffer(means[k], {ci}));
            inputs.push_back(to_buffer(inv_stds[k], {ci}));
            output_sizes.push_back({ci});
            output_sizes.push_back({ci});
            output_sizes.push_back({ci, 2});
          }
          const std::vector<Vec> got = sums_kernel.run(inputs, output_sizes);
          EXPECT_LE(relative_error(got[0], dz), kTolerance);
          for (int k = 0; k < norms; ++k) {
            SCOPED_TRACE(k);
            Vec d_input, d_gamma, d_beta;
            reference::batch_norm_backward(bn, rows, xs[k], dz, Vec(), d.gamma, means[k],
                                           inv_stds[k], &d_input, &d_gamma, &d_beta);
            EXPECT_LE(relative_error(got[1 + 3 * k], d_gamma), kTolerance);
            EXPECT_LE(relative_error(got[2 + 3 * k], d_beta), kTolerance);
            Vec grad_means = d_beta;  // (c, 2): mean dz, then mean dz * xhat
            grad_means.insert(grad_means.end(), d_gamma.begin(), d_gamma.end());
            for (double& v : grad_means) v /= static_cast<double>(rows);
            EXPECT_LE(relative_error(got[3 + 3 * k], grad_means), kTolerance);
            const std::vector<Halide::Buffer<>> apply_inputs = {
                to_buffer(xs[k], sizes(c, rows)), to_buffer(got[0], sizes(c, rows)),
                to_buffer(d.gamma, {ci}),         to_buffer(means[k], {ci}),
                to_buffer(inv_stds[k], {ci}),     to_buffer(got[3 + 3 * k], {ci, 2})};
            const Vec dx = apply_kernel.run(apply_inputs, {sizes(c, rows)})[0];
            EXPECT_LE(relative_error(dx, d_input), kTolerance);
          }
        }
      }
    }
  }
}

TEST(BatchNormKernels, KeysSeparateEveryField) {
  const KernelSpec base = batch_norm_spec(Kind::BatchNormTraining, 16, true, true);
  KernelSpec eps = base, momentum = base, scale = base, center = base;
  eps.epsilon = 1e-5, momentum.momentum = 0.99, scale.scale = false, center.center = false;
  for (const KernelSpec& other : {eps, momentum, scale, center}) EXPECT_NE(base.key(), other.key());
  // Inference ignores the momentum; the backward pass the epsilon too.
  EXPECT_EQ(with_kind(base, Kind::BatchNormInference).key(),
            with_kind(momentum, Kind::BatchNormInference).key());
  EXPECT_EQ(with_kind(base, Kind::BatchNormBackward).key(),
            with_kind(eps, Kind::BatchNormBackward).key());
  KernelSpec relu = base;
  relu.act = Act::Relu;
  EXPECT_NE(base.key(), relu.key());
  EXPECT_NE(with_kind(base, Kind::BatchNormBackward).key(),
            with_kind(relu, Kind::BatchNormBackward).key());
  KernelSpec residual = base;
  residual.residual = true;
  EXPECT_NE(base.key(), residual.key());
  KernelSpec given = with_kind(base, Kind::BatchNormBackward);
  given.given_sums = true;
  EXPECT_NE(with_kind(base, Kind::BatchNormBackward).key(), given.key());
  KernelSpec sums = with_kind(relu, Kind::BatchNormGradSums), two = sums, summed = sums;
  two.batch_norms = 2, summed.residual = true;
  EXPECT_NE(sums.key(), two.key());
  EXPECT_NE(sums.key(), summed.key());
  EXPECT_NE(sums.key(), with_kind(base, Kind::BatchNormGradSums).key());
}

}  // namespace
}  // namespace cnnc::testing
