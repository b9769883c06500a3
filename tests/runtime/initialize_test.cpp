// initialize(): Keras's bounds and standard deviations, determinism by seed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

// A network that only holds variables, one per initialiser.
class VariablesOnly : public FakeNet {
 public:
  explicit VariablesOnly(int64_t first_size = 40000) {
    const int64_t fan_in = 300, fan_out = 100;
    const Init inits[] = {Init::GlorotUniform, Init::GlorotNormal, Init::HeUniform,
                          Init::HeNormal,      Init::Zeros,        Init::Ones};
    const char* names[] = {"gu", "gn", "hu", "hn", "zeros", "ones"};
    info_.params.clear();
    size_t offset = 0;
    for (int i = 0; i < 6; ++i) {
      size_t size = i == 0 ? static_cast<size_t>(first_size) : 40000;
      info_.params.push_back({names[i],
                              1,
                              {int64_t(size), 0, 0, 0},
                              offset,
                              size,
                              inits[i],
                              fan_in,
                              fan_out,
                              0,
                              true});
      offset += size;
    }
    info_.param_floats = offset;
    params_.assign(offset, 123.0f);
    velocity_.assign(offset, 5.0f);
  }
  const float* variable(int i) const { return params_.data() + info_.params[i].offset; }
  size_t size(int i) const { return info_.params[i].size; }
};

struct Stats {
  double mean = 0, stddev = 0, max_abs = 0;
};

Stats stats_of(const float* v, size_t n) {
  Stats s;
  for (size_t i = 0; i < n; ++i) s.mean += v[i] / n;
  for (size_t i = 0; i < n; ++i) {
    s.stddev += (v[i] - s.mean) * (v[i] - s.mean) / n;
    s.max_abs = std::max(s.max_abs, std::fabs(double(v[i])));
  }
  s.stddev = std::sqrt(s.stddev);
  return s;
}

TEST(Initialize, FollowsKerasBoundsAndDeviations) {
  VariablesOnly net;
  initialize(net, 42);
  const double glorot_limit = std::sqrt(6.0 / 400), he_limit = std::sqrt(6.0 / 300);
  const double glorot_std = std::sqrt(2.0 / 400), he_std = std::sqrt(2.0 / 300);
  Stats gu = stats_of(net.variable(0), net.size(0));
  EXPECT_LE(gu.max_abs, glorot_limit);
  EXPECT_GT(gu.max_abs, 0.99 * glorot_limit);
  EXPECT_NEAR(gu.stddev, glorot_limit / std::sqrt(3.0), 0.02 * gu.stddev);
  EXPECT_NEAR(gu.mean, 0, 0.01 * glorot_limit);
  // Truncated at two of the uncorrected deviations; the correction restores the wanted one.
  Stats gn = stats_of(net.variable(1), net.size(1));
  EXPECT_NEAR(gn.stddev, glorot_std, 0.02 * glorot_std);
  EXPECT_LE(gn.max_abs, 2 * glorot_std / 0.87962566103423978);
  EXPECT_GT(gn.max_abs, 1.9 * glorot_std / 0.87962566103423978);
  Stats hu = stats_of(net.variable(2), net.size(2));
  EXPECT_LE(hu.max_abs, he_limit);
  EXPECT_NEAR(hu.stddev, he_limit / std::sqrt(3.0), 0.02 * hu.stddev);
  Stats hn = stats_of(net.variable(3), net.size(3));
  EXPECT_NEAR(hn.stddev, he_std, 0.02 * he_std);
  EXPECT_LE(hn.max_abs, 2 * he_std / 0.87962566103423978);
  for (size_t i = 0; i < net.size(4); ++i) ASSERT_EQ(net.variable(4)[i], 0.0f);
  for (size_t i = 0; i < net.size(5); ++i) ASSERT_EQ(net.variable(5)[i], 1.0f);
  for (float v : net.velocity_) ASSERT_EQ(v, 0.0f);
}

TEST(Initialize, IsDeterministicPerSeedAndPerVariable) {
  VariablesOnly a, b, c, shorter_first(1000);
  initialize(a, 7);
  initialize(b, 7);
  initialize(c, 8);
  initialize(shorter_first, 7);
  EXPECT_EQ(0, std::memcmp(a.params(), b.params(), a.info().param_floats * sizeof(float)));
  EXPECT_NE(0, std::memcmp(a.params(), c.params(), a.info().param_floats * sizeof(float)));
  // Each variable has its own stream: the size of another one changes nothing.
  EXPECT_EQ(0, std::memcmp(a.variable(1), shorter_first.variable(1), a.size(1) * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(a.variable(0), shorter_first.variable(0), 1000 * sizeof(float)));
}

}  // namespace
}  // namespace cnnc::testing
