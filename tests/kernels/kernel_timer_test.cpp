// The timer cnnc tune measures candidates with: it runs the kernel it is
// given on the shapes given, and its output check tells a wrong schedule
// from a reordered sum.
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/kernels/kernel_timer.h"
#include "tests/kernels/kernel_test_util.h"

namespace cnnc::testing {
namespace {

using kernels::KernelRun;
using kernels::time_kernel;

std::vector<std::vector<int64_t>> conv_shapes(const KernelSpec& s, int64_t batch) {
  return {{s.in_c, s.in_w, s.in_h, batch},
          {s.out_c, s.in_c, s.kernel_w, s.kernel_h},
          {s.out_c},
          {s.out_c, s.out_w, s.out_h, batch}};
}

TEST(KernelTimer, TunedScheduleAgreesAndAnotherComputationDoesNot) {
  KernelSpec s = conv_specs()[6];  // 5x5x8 -> 40 channels, biased
  ASSERT_TRUE(s.use_bias);
  s.act = Act::Linear;
  const KernelRun base = time_kernel(s, conv_shapes(s, 2), "host", 1);
  EXPECT_GT(base.median_ms, 0.0);
  ASSERT_EQ(base.outputs.size(), 1u);
  EXPECT_EQ(base.outputs[0].size(), size_t(s.out_c * s.out_w * s.out_h * 2));

  KernelSpec tiled = s;
  tiled.schedule.tile_vectors = 1;
  tiled.schedule.tile_columns = 2;
  EXPECT_TRUE(kernels::same_outputs(time_kernel(tiled, conv_shapes(s, 2), "host", 1), base));

  // Same inputs (same seed), another function: a schedule this wrong is refused.
  KernelSpec relu = s;
  relu.act = Act::Relu;
  EXPECT_FALSE(kernels::same_outputs(time_kernel(relu, conv_shapes(s, 2), "host", 1), base));
  // Other random inputs, too.
  EXPECT_FALSE(kernels::same_outputs(time_kernel(s, conv_shapes(s, 2), "host", 2), base));
}

// A Winograd convolution takes the direct one's shapes: its raw weights are
// transformed before the runs, so both compute the same outputs.
TEST(KernelTimer, WinogradTakesRawWeights) {
  KernelSpec s = window_spec(Kind::Conv2D, 9, 9, 16, 24, 3, 3, 1, 1, true);
  const KernelRun direct = time_kernel(s, conv_shapes(s, 2), "host", 1);
  for (kernels::ConvAlgo algo : {kernels::ConvAlgo::WinogradF2, kernels::ConvAlgo::WinogradF4}) {
    KernelSpec w = s;
    w.conv_algo = algo;
    EXPECT_TRUE(kernels::same_outputs(time_kernel(w, conv_shapes(s, 2), "host", 1), direct))
        << kernels::conv_algo_name(algo);
  }
}

TEST(KernelTimer, OutputCheckTolerance) {
  KernelRun a, b;
  b.outputs = {{100.0f, -3.0f, 0.0f}};
  a.outputs = {{100.0f, -3.0f, 0.005f}};  // 5e-5 of the largest value
  EXPECT_TRUE(kernels::same_outputs(a, b));
  a.outputs = {{100.0f, -3.0f, 0.05f}};
  EXPECT_FALSE(kernels::same_outputs(a, b));
  a.outputs = {{100.0f, -3.0f, std::nanf("")}};
  EXPECT_FALSE(kernels::same_outputs(a, b));
  a.outputs = {{100.0f, -3.0f}};
  EXPECT_FALSE(kernels::same_outputs(a, b));
}

TEST(KernelTimer, ShapesMustMatchTheArguments) {
  const KernelSpec s = conv_specs()[6];
  auto shapes = conv_shapes(s, 1);
  shapes.pop_back();
  EXPECT_THROW(time_kernel(s, shapes, "host", 1), std::invalid_argument);
}

}  // namespace
}  // namespace cnnc::testing
