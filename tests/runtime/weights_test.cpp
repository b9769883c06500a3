// save_weights / load_weights: round trip, and refusals that name every problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/src/checkpoint.h"
#include "runtime/src/safetensors.h"
#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using ::testing::HasSubstr;

TEST(Weights, RoundTripAndNoTemporaryLeft) {
  TempDir dir;
  FakeNet a, b;
  initialize(a, 1);
  a.params_.back() = 0.5f;  // a moving statistic travels too
  save_weights(a, dir.path("w.safetensors"));
  EXPECT_FALSE(file_exists(dir.path("w.safetensors.tmp")));
  load_weights(b, dir.path("w.safetensors"));
  EXPECT_EQ(a.params_, b.params_);
  detail::SafetensorsFile file = detail::read_safetensors(dir.path("w.safetensors"));
  EXPECT_EQ(file.tensors.at("dense.kernel").shape, (std::vector<int64_t>{16, 3}));
  EXPECT_EQ(file.tensors.size(), 3u);
}

TEST(Weights, RefusesMissingExtraAndMisShapedTensorsChangingNothing) {
  TempDir dir;
  std::vector<float> kernel(16 * 3, 1.0f), wrong(4, 1.0f), extra(2, 1.0f);
  detail::write_safetensors(dir.path("bad.safetensors"),
                            {{"dense.kernel", {16, 3}, kernel.data(), kernel.size()},
                             {"dense.bias", {4}, wrong.data(), wrong.size()},
                             {"conv9.bias", {2}, extra.data(), extra.size()}},
                            {});
  FakeNet net;
  initialize(net, 3);
  std::vector<float> before = net.params_;
  std::string message = error_of([&] { load_weights(net, dir.path("bad.safetensors")); });
  EXPECT_THAT(message, HasSubstr("bad.safetensors"));
  EXPECT_THAT(message, HasSubstr("missing tensor 'stats.moving_mean' [3]"));
  EXPECT_THAT(message, HasSubstr("tensor 'dense.bias' has shape [4], the model needs [3]"));
  EXPECT_THAT(message, HasSubstr("extra tensor 'conv9.bias' [2]"));
  EXPECT_EQ(net.params_, before);
}

TEST(Weights, AcceptsACheckpoint) {
  TempDir dir;
  FakeNet a, b;
  initialize(a, 1);
  a.velocity_[0] = 0.25f;
  detail::TrainingProgress progress;
  detail::write_checkpoint(a, dir.path("c.safetensors"), progress);
  load_weights(b, dir.path("c.safetensors"));
  EXPECT_EQ(a.params_, b.params_);
  EXPECT_EQ(b.velocity_[0], 0.0f);  // load_weights leaves the optimiser alone
}

}  // namespace
}  // namespace cnnc::testing
