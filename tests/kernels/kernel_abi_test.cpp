// The helpers that generated models call around their kernels
// (runtime/include/cnnc_kernel_abi.h).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/include/cnnc_kernel_abi.h"

// The header installs its error handler in the Halide runtime that a model
// library links; this test links none, and calls no kernel.
extern "C" halide_error_handler_t halide_set_error_handler(halide_error_handler_t handler) {
  (void)handler;
  return nullptr;
}

namespace cnnc::testing {
namespace {

// Every non-finite value at every position of the vector body and the tail,
// and the largest finite values, which must pass.
TEST(KernelAbi, AllFiniteFindsEveryNonFiniteValue) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float big = std::numeric_limits<float>::max();
  const float tiny = std::numeric_limits<float>::denorm_min();
  for (size_t n : {0, 1, 7, 8, 9, 16, 23, 64, 100}) {  // tails, whole rounds of 16
    std::vector<float> v(n, -0.5f);
    EXPECT_TRUE(cnnc::abi::all_finite(v.data(), n)) << n;
    for (size_t at = 0; at < n; ++at) {
      for (float bad : {inf, -inf, nan, -nan}) {
        v[at] = bad;
        EXPECT_FALSE(cnnc::abi::all_finite(v.data(), n)) << bad << " at " << at << " of " << n;
      }
      for (float good : {big, -big, tiny, 0.0f, -0.0f}) {
        v[at] = good;
        EXPECT_TRUE(cnnc::abi::all_finite(v.data(), n)) << good << " at " << at << " of " << n;
      }
      v[at] = -0.5f;
    }
  }
}

// l2 * sum(w^2), every element counted once, in the eight sums' body and in
// the tail: against a plain sum (equal to rounding).
TEST(KernelAbi, L2PenaltySumsEveryWeight) {
  for (size_t n : {0, 1, 7, 8, 9, 23, 100}) {
    std::vector<float> w(n);
    double want = 0.0;
    for (size_t i = 0; i < n; ++i) {
      w[i] = 0.25f * float(i + 1) * (i % 2 ? -1.0f : 1.0f);
      want += double(w[i]) * w[i];
    }
    EXPECT_NEAR(cnnc::abi::l2_penalty(w.data(), n, 0.5), 0.5 * want, 1e-12 * want) << n;
  }
}

}  // namespace
}  // namespace cnnc::testing
