// Pool2D and Pool2DBackward (max and average) against the reference.
#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-5;

TEST(Pool2DKernel, MatchesReference) {
  for (const KernelSpec& s : pool_specs()) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      // Negative inputs too: a padded cell must never win a max.
      const Vec input = random_vec(in_size(s, batch), 1);
      const Vec got = k.run({to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch))},
                            {image_sizes(s.out_c, s.out_w, s.out_h, batch)})[0];
      EXPECT_LE(relative_error(got, reference::pool2d(s, batch, input)), kTolerance);
    }
  }
}

TEST(Pool2DBackwardKernel, MatchesReference) {
  for (const KernelSpec& forward : pool_specs()) {
    const KernelSpec s = with_kind(forward, Kind::Pool2DBackward);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      const Vec input = random_vec(in_size(s, batch), 2);
      const Vec d_output = random_vec(out_size(s, batch), 3);
      const Vec got = k.run({to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch)),
                             to_buffer(d_output, image_sizes(s.out_c, s.out_w, s.out_h, batch))},
                            {image_sizes(s.in_c, s.in_w, s.in_h, batch)})[0];
      EXPECT_LE(relative_error(got, reference::pool2d_backward(s, batch, input, d_output)),
                kTolerance);
    }
  }
}

// Ties: the first maximal cell in row-major order gets the whole gradient.
TEST(Pool2DBackwardKernel, TiesGoToFirstMaximum) {
  KernelSpec s = window_spec(Kind::Pool2DBackward, 2, 2, 1, 1, 2, 2, 2, 2, false);
  JitKernel k(s);
  const Vec input = {0.5, 1.0, 1.0, 1.0};  // (0,1), (1,0), (1,1) tie
  const Vec got =
      k.run({to_buffer(input, image_sizes(1, 2, 2, 1)), to_buffer({2.0}, image_sizes(1, 1, 1, 1))},
            {image_sizes(1, 2, 2, 1)})[0];
  EXPECT_EQ(got, (Vec{0.0, 2.0, 0.0, 0.0}));
  EXPECT_EQ(reference::pool2d_backward(s, 1, input, {2.0}), (Vec{0.0, 2.0, 0.0, 0.0}));
}

}  // namespace
}  // namespace cnnc::testing
