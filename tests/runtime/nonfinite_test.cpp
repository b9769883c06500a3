// The training loop's answer to non-finite losses and weights: stop with exit
// code 3 keeping the last good checkpoint, or (--skip-nonfinite) undo the
// batch's update and go on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/src/checkpoint.h"
#include "runtime/src/fit_support.h"
#include "runtime/src/nonfinite_guard.h"
#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using ::testing::HasSubstr;

// 20 images in batches of 4: five batches (steps) an epoch.
FitOptions options(int epochs, const std::string& checkpoint = "") {
  FitOptions o;
  o.recipe.epochs = epochs;
  o.recipe.batch_size = 4;
  o.recipe.learning_rate = 0.5;
  o.recipe.momentum = 0.9;
  o.recipe.seed = 5;
  o.checkpoint = checkpoint;
  o.verbose = false;
  return o;
}

bool finite(const std::vector<float>& values) {
  for (float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

Error error_from(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return Error("no error", 0);
}

TEST(NonfiniteLoss, StopsWithExitThreeKeepingTheLastGoodCheckpoint) {
  TempDir dir;
  const std::string ckpt = dir.path("run.safetensors");
  Dataset train = make_dataset(20, 4, 4, 1, 3, 1);
  FakeNet net;
  initialize(net, 5);
  net.poison_at_steps = {7};  // epoch 2, batch 3
  Error e = error_from([&] { fit(net, train, nullptr, options(3, ckpt)); });
  EXPECT_EQ(e.exit_code(), 3);
  EXPECT_THAT(e.what(), HasSubstr("training diverged at epoch 2, batch 3/5 (step 7): the loss is nan"));
  EXPECT_THAT(e.what(), HasSubstr("the last good checkpoint, " + ckpt + ", is kept"));
  EXPECT_THAT(e.what(), HasSubstr("--skip-nonfinite"));

  FakeNet restored;
  detail::TrainingProgress progress = detail::read_checkpoint(restored, ckpt);
  EXPECT_EQ(progress.epoch, 1);
  EXPECT_EQ(progress.global_step, 5u);
  EXPECT_TRUE(finite(restored.params_));
  EXPECT_TRUE(finite(restored.velocity_));
}

TEST(NonfiniteLoss, WithoutCheckpointSaysSo) {
  Dataset train = make_dataset(20, 4, 4, 1, 3, 1);
  FakeNet net;
  net.diverge = true;
  Error e = error_from([&] { fit(net, train, nullptr, options(1)); });
  EXPECT_EQ(e.exit_code(), 3);
  EXPECT_THAT(e.what(), HasSubstr("at epoch 1, batch 1/5 (step 0): the loss is nan"));
  EXPECT_THAT(e.what(), HasSubstr("no checkpoint was written"));
}

TEST(NonfiniteWeights, AreNeverCheckpointed) {
  TempDir dir;
  const std::string ckpt = dir.path("run.safetensors");
  Dataset train = make_dataset(20, 4, 4, 1, 3, 1);
  FakeNet net;
  initialize(net, 5);
  net.inf_weights_at_steps = {9};  // the last batch of epoch 2: its loss is finite
  Error e = error_from([&] { fit(net, train, nullptr, options(3, ckpt)); });
  EXPECT_EQ(e.exit_code(), 3);
  EXPECT_THAT(e.what(), HasSubstr("at epoch 2, batch 5/5 (step 9): the weights are not finite"));
  FakeNet restored;
  EXPECT_EQ(detail::read_checkpoint(restored, ckpt).epoch, 1);
  EXPECT_TRUE(finite(restored.params_));
}

TEST(SkipNonfinite, UndoesTheBatchesUpdateExactly) {
  Dataset train = make_dataset(20, 4, 4, 1, 3, 1);
  FakeNet skipping, reference;
  initialize(skipping, 5);
  initialize(reference, 5);
  skipping.poison_at_steps = {2, 6};
  skipping.inf_weights_at_steps = {9};
  reference.noop_at_steps = {2, 6, 9};
  detail::DivergenceOptions skip;
  skip.skip_nonfinite = true;
  std::vector<EpochRecord> history =
      detail::fit_guarded(skipping, train, nullptr, options(3), skip);
  fit(reference, train, nullptr, options(3));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_TRUE(std::isfinite(history[0].loss));
  EXPECT_TRUE(finite(skipping.params_));
  EXPECT_EQ(skipping.params_, reference.params_);
  EXPECT_EQ(skipping.velocity_, reference.velocity_);
}

TEST(DivergenceMessage, HasRoomForTheFirstNonfiniteLayer) {
  detail::DivergencePlace place;
  place.epoch = 4;
  place.batch = 2;
  place.batches = 10;
  place.step = 31;
  place.layer = "layer 'conv3' (backward)";
  EXPECT_EQ(detail::divergence_message(place, "the loss is inf"),
            "training diverged at epoch 4, batch 2/10 (step 31): the loss is inf (first "
            "non-finite values in layer 'conv3' (backward)); no checkpoint was written; lower the learning "
            "rate, or pass --skip-nonfinite to skip such batches");
}

TEST(AllFinite, FindsNanAndInfinity) {
  std::vector<float> v(1000, 1.5f);
  EXPECT_TRUE(detail::all_finite(v.data(), v.size()));
  v[999] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(detail::all_finite(v.data(), v.size()));
  v[999] = -std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(detail::all_finite(v.data(), v.size()));
  EXPECT_TRUE(detail::all_finite(v.data(), 0));
}

}  // namespace
}  // namespace cnnc::testing
