// Conv2D, Conv2DBackwardData and Conv2DBackwardFilter against the reference.
#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-5;

std::vector<int> weight_sizes(const KernelSpec& s) {
  return {static_cast<int>(s.out_c), static_cast<int>(s.in_c), static_cast<int>(s.kernel_w),
          static_cast<int>(s.kernel_h)};
}

TEST(Conv2DKernel, MatchesReference) {
  for (const KernelSpec& s : conv_specs()) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      const Vec input = random_vec(in_size(s, batch), 1);
      const Vec weights = random_vec(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 2);
      const Vec bias = s.use_bias ? random_vec(s.out_c, 3) : Vec();
      std::vector<Halide::Buffer<>> inputs = {
          to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch)),
          to_buffer(weights, weight_sizes(s))};
      if (s.use_bias) inputs.push_back(to_buffer(bias, {static_cast<int>(s.out_c)}));
      const Vec got = k.run(inputs, {image_sizes(s.out_c, s.out_w, s.out_h, batch)})[0];
      const Vec want = reference::conv2d(s, batch, input, weights, bias);
      EXPECT_LE(relative_error(got, want), kTolerance) << "batch " << batch;
    }
  }
}

TEST(Conv2DBackwardDataKernel, MatchesReference) {
  for (const KernelSpec& forward : conv_specs()) {
    const KernelSpec s = with_kind(forward, Kind::Conv2DBackwardData);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      const Vec d_output = random_vec(out_size(s, batch), 4);
      const Vec weights = random_vec(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 5);
      const Vec got = k.run({to_buffer(d_output, image_sizes(s.out_c, s.out_w, s.out_h, batch)),
                             to_buffer(weights, weight_sizes(s))},
                            {image_sizes(s.in_c, s.in_w, s.in_h, batch)})[0];
      const Vec want = reference::conv2d_backward_data(s, batch, d_output, weights);
      EXPECT_LE(relative_error(got, want), kTolerance) << "batch " << batch;
    }
  }
}

TEST(Conv2DBackwardFilterKernel, MatchesReference) {
  for (const KernelSpec& forward : conv_specs()) {
    const KernelSpec s = with_kind(forward, Kind::Conv2DBackwardFilter);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      const Vec input = random_vec(in_size(s, batch), 6);
      const Vec d_output = random_vec(out_size(s, batch), 7);
      std::vector<std::vector<int>> out_sizes = {weight_sizes(s)};
      if (s.use_bias) out_sizes.push_back({static_cast<int>(s.out_c)});
      const std::vector<Vec> got =
          k.run({to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch)),
                 to_buffer(d_output, image_sizes(s.out_c, s.out_w, s.out_h, batch))},
                out_sizes);
      Vec d_weights, d_bias;
      reference::conv2d_backward_filter(s, batch, input, d_output, &d_weights, &d_bias);
      EXPECT_LE(relative_error(got[0], d_weights), kTolerance) << "batch " << batch;
      if (s.use_bias) {
        EXPECT_LE(relative_error(got[1], d_bias), kTolerance) << "batch " << batch;
      }
    }
  }
}

}  // namespace
}  // namespace cnnc::testing
