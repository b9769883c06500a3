// fit(): learning, schedules, resume bit-exactness, max_steps, checkpoints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using ::testing::HasSubstr;

FitOptions quiet_options(int epochs, int batch_size = 8) {
  FitOptions o;
  o.recipe.epochs = epochs;
  o.recipe.batch_size = batch_size;
  o.recipe.learning_rate = 0.5;
  o.recipe.seed = 11;
  o.verbose = false;
  return o;
}

// The learning rate each epoch used, read from the fake's calls (8 batches an epoch).
std::vector<float> lr_per_epoch(const FakeNet& net, int batches_per_epoch) {
  std::vector<float> lrs;
  for (size_t i = 0; i < net.calls.size(); i += batches_per_epoch) lrs.push_back(net.calls[i].lr);
  return lrs;
}

TEST(Fit, LearnsAndReportsKerasLikeHistory) {
  FakeNet net;
  initialize(net, 1);
  Dataset train = make_dataset(60, 4, 4, 1, 3, 1), val = make_dataset(30, 4, 4, 1, 3, 2);
  std::vector<EpochRecord> history = fit(net, train, &val, quiet_options(5));
  ASSERT_EQ(history.size(), 5u);
  EXPECT_LT(history[4].loss, history[0].loss);
  EXPECT_GT(history[4].val_accuracy, 0.9);
  EXPECT_TRUE(history[4].has_val);
  EXPECT_EQ(history[4].epoch, 5);
  EXPECT_EQ(net.calls.size(), 5u * 8);  // 60 images, batches of 8: the last has 4
  EXPECT_EQ(net.calls[7].n, 4);
  EXPECT_LE(net.infer_calls_max_n, 16);  // evaluate chunks by max_batch
  double loss, accuracy;
  evaluate(net, val, &loss, &accuracy);
  EXPECT_DOUBLE_EQ(loss, history[4].val_loss);
}

TEST(Fit, PiecewiseScheduleUsesExactValuesPerEpoch) {
  FakeNet net;
  initialize(net, 1);
  Dataset train = make_dataset(64, 4, 4, 1, 3, 1);
  FitOptions o = quiet_options(5);
  o.recipe.schedule.type = LrSchedule::Type::Piecewise;
  o.recipe.schedule.boundaries = {0, 2};
  o.recipe.schedule.values = {0.1, 0.05, 0.01};
  std::vector<EpochRecord> history = fit(net, train, nullptr, o);
  EXPECT_EQ(lr_per_epoch(net, 8), (std::vector<float>{0.1f, 0.05f, 0.05f, 0.01f, 0.01f}));
  EXPECT_EQ(history[2].lr, 0.05);
  o.recipe.schedule.values = {0.1};
  EXPECT_THAT(error_of([&] { fit(net, train, nullptr, o); }), HasSubstr("one more value"));
}

TEST(Fit, StepScheduleDecaysEveryNEpochs) {
  FakeNet net;
  initialize(net, 1);
  Dataset train = make_dataset(64, 4, 4, 1, 3, 1);
  FitOptions o = quiet_options(5);
  o.recipe.schedule.type = LrSchedule::Type::Step;
  o.recipe.schedule.initial = 0.1;
  o.recipe.schedule.factor = 0.5;
  o.recipe.schedule.every = 2;
  fit(net, train, nullptr, o);
  EXPECT_EQ(lr_per_epoch(net, 8), (std::vector<float>{0.1f, 0.1f, 0.05f, 0.05f, 0.025f}));
}

TEST(Fit, PlateauReducesAfterPatienceDownToMinimum) {
  FakeNet net;
  initialize(net, 1);
  net.frozen = true;  // the loss never improves after the first epoch
  Dataset train = make_dataset(64, 4, 4, 1, 3, 1);
  FitOptions o = quiet_options(7);
  o.recipe.shuffle = false;
  o.recipe.schedule.type = LrSchedule::Type::Plateau;
  o.recipe.schedule.initial = 0.1;
  o.recipe.schedule.factor = 0.5;
  o.recipe.schedule.patience = 2;
  o.recipe.schedule.min_lr = 0.03;
  o.recipe.schedule.monitor = "loss";
  fit(net, train, nullptr, o);
  EXPECT_EQ(lr_per_epoch(net, 8),
            (std::vector<float>{0.1f, 0.1f, 0.1f, 0.05f, 0.05f, 0.03f, 0.03f}));
}

void expect_same_state(FakeNet& a, FakeNet& b) {
  EXPECT_EQ(0, std::memcmp(a.params(), b.params(), a.info().param_floats * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(a.velocity(), b.velocity(), a.info().param_floats * sizeof(float)));
}

TEST(Fit, ResumeIsBitExact) {
  TempDir dir;
  Dataset train = make_dataset(60, 4, 4, 1, 3, 1), val = make_dataset(20, 4, 4, 1, 3, 2);
  FitOptions o = quiet_options(3);
  o.recipe.momentum = 0.9;
  o.recipe.nesterov = true;
  o.recipe.augmentation.horizontal_flip = true;
  o.recipe.augmentation.random_crop_padding = 1;
  o.recipe.schedule.type = LrSchedule::Type::Plateau;
  o.recipe.schedule.initial = 0.3;
  o.recipe.schedule.patience = 1;

  FakeNet whole;
  initialize(whole, 4);
  std::vector<EpochRecord> full = fit(whole, train, &val, o);

  FakeNet first;
  initialize(first, 4);
  FitOptions one = o;
  one.recipe.epochs = 1;
  one.checkpoint = dir.path("ck.safetensors");
  fit(first, train, &val, one);

  FakeNet resumed;
  initialize(resumed, 999);  // everything must come from the checkpoint
  FitOptions rest = o;
  rest.resume = dir.path("ck.safetensors");
  std::vector<EpochRecord> history = fit(resumed, train, &val, rest);
  expect_same_state(whole, resumed);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2].loss, full[2].loss);
  EXPECT_EQ(history[2].lr, full[2].lr);
  EXPECT_EQ(resumed.calls.front().step, 8u);

  // Stopped inside an epoch by max_steps, then resumed: still the same.
  FakeNet partial;
  initialize(partial, 4);
  FitOptions steps = o;
  steps.max_steps = 11;
  steps.checkpoint = dir.path("mid.safetensors");
  std::vector<EpochRecord> cut = fit(partial, train, &val, steps);
  EXPECT_EQ(partial.calls.size(), 11u);
  ASSERT_EQ(cut.size(), 2u);
  FakeNet finished;
  FitOptions more = o;
  more.resume = dir.path("mid.safetensors");
  std::vector<EpochRecord> after = fit(finished, train, &val, more);
  expect_same_state(whole, finished);
  EXPECT_EQ(after[1].loss, full[1].loss);
}

TEST(Fit, MaxStepsWithoutShuffleTakesTheFirstBatchesInOrder) {
  FakeNet net;
  initialize(net, 1);
  Dataset train = make_dataset(60, 4, 4, 1, 3, 1);
  FitOptions o = quiet_options(10);
  o.recipe.shuffle = false;
  o.max_steps = 3;
  fit(net, train, nullptr, o);
  ASSERT_EQ(net.calls.size(), 3u);
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(net.calls[b].step, uint64_t(b));
    EXPECT_EQ(net.calls[b].first_image[0], train.images[b * 8 * 16]);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(net.calls[b].labels[i], train.labels[b * 8 + i]);
  }
}

TEST(Fit, ShuffleIsSeededAndDiffersPerEpoch) {
  Dataset train = make_dataset(60, 4, 4, 1, 3, 1);
  FakeNet a, b;
  fit(a, train, nullptr, quiet_options(2));
  fit(b, train, nullptr, quiet_options(2));
  EXPECT_EQ(a.calls[0].labels, b.calls[0].labels);
  EXPECT_EQ(a.calls[0].first_image, b.calls[0].first_image);
  EXPECT_NE(a.calls[0].first_image, a.calls[8].first_image);
}

TEST(Fit, WritesCheckpointBestAndHistory) {
  TempDir dir;
  FakeNet net;
  initialize(net, 1);
  Dataset train = make_dataset(60, 4, 4, 1, 3, 1), val = make_dataset(20, 4, 4, 1, 3, 2);
  FitOptions o = quiet_options(2);
  o.checkpoint = dir.path("run.safetensors");
  o.save = dir.path("final.safetensors");
  fit(net, train, &val, o);
  EXPECT_TRUE(file_exists(dir.path("run.safetensors")));
  EXPECT_TRUE(file_exists(dir.path("run.best.safetensors")));
  EXPECT_TRUE(file_exists(dir.path("run.history.csv")));
  FakeNet copy;
  load_weights(copy, dir.path("final.safetensors"));
  EXPECT_EQ(copy.params_, net.params_);
  load_weights(copy, dir.path("run.best.safetensors"));
}

TEST(Fit, RefusesBadSettingsAndReportsDivergence) {
  FakeNet net;
  Dataset train = make_dataset(20, 4, 4, 1, 3, 1);
  EXPECT_THAT(error_of([&] { fit(net, train, nullptr, quiet_options(1, 17)); }),
              HasSubstr("compile-time maximum of 16"));
  Dataset wrong = make_dataset(20, 5, 4, 1, 3, 1);
  EXPECT_THAT(error_of([&] { fit(net, wrong, nullptr, quiet_options(1)); }),
              HasSubstr("5x4x1 but model 'fake' takes 4x4x1"));
  net.diverge = true;
  try {
    fit(net, train, nullptr, quiet_options(1));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_THAT(e.what(), HasSubstr("diverged"));
  }
}

}  // namespace
}  // namespace cnnc::testing
