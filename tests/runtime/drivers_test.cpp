// train_main / run_main: flags, exit codes and a small end-to-end run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "runtime/src/npy.h"
#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using ::testing::HasSubstr;

int call(int (*main_fn)(Network&, int, char**), Network& net, std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return main_fn(net, static_cast<int>(argv.size()), argv.data());
}

struct Files {
  TempDir dir;
  Files() {
    Dataset train = make_dataset(40, 4, 4, 1, 3, 1), test = make_dataset(12, 4, 4, 1, 3, 2);
    detail::write_npy(path("x.npy"), "<f4", {40, 4, 4, 1}, train.images.data());
    detail::write_npy(path("y.npy"), "<i4", {40}, train.labels.data());
    detail::write_npy(path("tx.npy"), "<f4", {12, 4, 4, 1}, test.images.data());
    std::vector<int64_t> labels(test.labels.begin(), test.labels.end());
    detail::write_npy(path("ty.npy"), "<i8", {12}, labels.data());
  }
  std::string path(const std::string& name) const { return dir.path(name); }
};

TEST(TrainMain, FlagErrorsReturnTwo) {
  Files f;
  FakeNet net;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(train_main, net, {"--bogus"}), 2);
  EXPECT_EQ(call(train_main, net, {"--train-images", f.path("x.npy"), "--train-labels"}), 2);
  EXPECT_EQ(call(train_main, net, {"--epochs", "2"}), 2);
  EXPECT_EQ(call(train_main, net,
                 {"--train-images", f.path("x.npy"), "--train-labels", f.path("y.npy"), "--epochs",
                  "two"}),
            2);
  EXPECT_EQ(call(train_main, net,
                 {"--train-images", f.path("x.npy"), "--train-labels", f.path("y.npy"),
                  "--batch-size", "64"}),
            2);
  EXPECT_EQ(call(train_main, net,
                 {"--train-images", f.path("missing.npy"), "--train-labels", f.path("y.npy")}),
            2);
  // A network that cannot dump its forward pass (as a CUDA library) says so.
  EXPECT_EQ(call(train_main, net,
                 {"--train-images", f.path("x.npy"), "--train-labels", f.path("y.npy"),
                  "--dump-forward", f.path("dump")}),
            2);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("unknown argument '--bogus'"));
  EXPECT_THAT(err, HasSubstr("--train-labels needs a value"));
  EXPECT_THAT(err, HasSubstr("usage:"));
  EXPECT_THAT(err, HasSubstr("compile-time maximum batch of 16"));
  EXPECT_THAT(err, HasSubstr("missing.npy: cannot open"));
  EXPECT_THAT(err, HasSubstr("dump_forward: this library cannot dump its forward pass"));
}

TEST(TrainMain, TrainsSavesAndTests) {
  Files f;
  FakeNet net;
  ::testing::internal::CaptureStdout();
  int code = call(train_main, net, {"--train-images", f.path("x.npy"),
                                    "--train-labels", f.path("y.npy"),
                                    "--val-images",   f.path("tx.npy"),
                                    "--val-labels",   f.path("ty.npy"),
                                    "--epochs",       "2",
                                    "--batch-size",   "8",
                                    "--seed",         "3",
                                    "--save",         f.path("w.safetensors"),
                                    "--checkpoint",   f.path("ck.safetensors"),
                                    "--test-images",  f.path("tx.npy"),
                                    "--test-labels",  f.path("ty.npy")});
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 0);
  EXPECT_THAT(out, HasSubstr("Epoch 2/2 - "));
  EXPECT_THAT(out, HasSubstr(" - val_accuracy: "));
  EXPECT_THAT(out, HasSubstr("test_loss: "));
  EXPECT_TRUE(file_exists(f.path("w.safetensors")));
  EXPECT_EQ(net.calls.size(), 10u);

  FakeNet steps;
  ::testing::internal::CaptureStdout();
  code = call(train_main, steps,
              {"--train-images", f.path("x.npy"), "--train-labels", f.path("y.npy"), "--steps", "7",
               "--batch-size", "8", "--no-shuffle", "--weights", f.path("w.safetensors")});
  out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 0);
  EXPECT_EQ(steps.calls.size(), 7u);
  EXPECT_THAT(out, HasSubstr("Epoch 2/2"));
}

TEST(TrainMain, NonfiniteLossExitsThreeUnlessSkipped) {
  Files f;
  FakeNet net;
  initialize(net, 1);
  net.poison_at_steps = {1, 3};
  const std::vector<std::string> args = {"--train-images", f.path("x.npy"), "--train-labels",
                                         f.path("y.npy"), "--epochs", "1", "--batch-size", "8"};
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(train_main, net, args), 3);
  std::string err = ::testing::internal::GetCapturedStderr();
  ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(err, HasSubstr("error: training diverged at epoch 1, batch 2/5 (step 1)"));

  FakeNet skipping;
  initialize(skipping, 1);
  skipping.poison_at_steps = {1, 3};
  std::vector<std::string> skip_args = args;
  skip_args.push_back("--skip-nonfinite");
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(train_main, skipping, skip_args), 0);
  err = ::testing::internal::GetCapturedStderr();
  ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(err, HasSubstr("note: epoch 1 skipped 2 batches with a non-finite loss or weights"));
  for (float v : skipping.params_) ASSERT_TRUE(std::isfinite(v));
}

TEST(RunMain, WritesOutputsOfShapeNByClasses) {
  Files f;
  FakeNet net;
  initialize(net, 2);
  save_weights(net, f.path("w.safetensors"));
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(run_main, net, {"--weights"}), 2);
  EXPECT_EQ(call(run_main, net, {"--input", f.path("x.npy")}), 2);
  EXPECT_EQ(
      call(run_main, net,
           {"--weights", f.path("x.npy"), "--input", f.path("x.npy"), "--output", f.path("o.npy")}),
      2);
  ::testing::internal::GetCapturedStderr();
  FakeNet fresh;
  ASSERT_EQ(call(run_main, fresh,
                 {"--weights", f.path("w.safetensors"), "--input", f.path("tx.npy"), "--output",
                  f.path("o.npy")}),
            0);
  detail::NpyArray out = detail::read_npy(f.path("o.npy"));
  EXPECT_EQ(out.shape, (std::vector<int64_t>{12, 3}));
  Dataset test = load_images(f.path("tx.npy"));
  std::vector<float> expected(12 * 3);
  net.infer(test.images.data(), 12, expected.data());
  EXPECT_EQ(0, std::memcmp(out.data.data(), expected.data(), expected.size() * 4));
}

}  // namespace
}  // namespace cnnc::testing
