// LRN and LRNBackward against the reference.
#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-5;

TEST(LrnKernel, MatchesReference) {
  for (const KernelSpec& s : lrn_specs()) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      // Magnitudes up to 3: the window term is far from negligible.
      Vec input = random_vec(in_size(s, batch), 1);
      for (double& x : input) x *= 3.0;
      const std::vector<int> sizes = image_sizes(s.in_c, s.in_w, s.in_h, batch);
      const Vec got = k.run({to_buffer(input, sizes)}, {sizes})[0];
      EXPECT_LE(relative_error(got, reference::lrn(s, batch, input)), kTolerance);
    }
  }
}

TEST(LrnBackwardKernel, MatchesReference) {
  for (const KernelSpec& forward : lrn_specs()) {
    const KernelSpec s = with_kind(forward, Kind::LRNBackward);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      Vec input = random_vec(in_size(s, batch), 2);
      for (double& x : input) x *= 3.0;
      const Vec output = reference::lrn(s, batch, input);
      const Vec d_output = random_vec(in_size(s, batch), 3);
      const std::vector<int> sizes = image_sizes(s.in_c, s.in_w, s.in_h, batch);
      const Vec got =
          k.run({to_buffer(input, sizes), to_buffer(output, sizes), to_buffer(d_output, sizes)},
                {sizes})[0];
      EXPECT_LE(relative_error(got, reference::lrn_backward(s, batch, input, d_output)),
                kTolerance);
    }
  }
}

TEST(LrnKernel, KeyHasEveryConstant) {
  const KernelSpec base = lrn_specs()[0];
  KernelSpec size = base, alpha = base, beta = base, bias = base;
  size.lrn_size = 3, alpha.lrn_alpha = 0.3, beta.lrn_beta = 0.5, bias.lrn_bias = 1.0;
  for (const KernelSpec& other : {size, alpha, beta, bias}) EXPECT_NE(base.key(), other.key());
}

}  // namespace
}  // namespace cnnc::testing
