// Checkpoints: round trip, any flipped byte detected, truncation, mismatched
// models, atomic writes.
#include "runtime/src/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using ::testing::HasSubstr;

detail::TrainingProgress sample_progress() {
  detail::TrainingProgress p;
  p.epoch = 2;
  p.batch_in_epoch = 3;
  p.global_step = 17;
  p.seed = 99;
  p.batch_size = 8;
  p.lr = 0.1 / 3;
  p.plateau_best = 0.75;
  p.plateau_wait = 1;
  p.epoch_loss_sum = 1.0 / 7;
  p.epoch_correct = 5;
  p.epoch_seen = 24;
  p.epoch_batches = 3;
  EpochRecord r;
  r.epoch = 1;
  r.loss = 0.123456789012345;
  r.accuracy = 0.5;
  r.lr = 0.1;
  p.history = {r, r};
  return p;
}

struct Trained {
  FakeNet net;
  Trained() {
    initialize(net, 5);
    for (size_t i = 0; i < net.velocity_.size(); ++i) net.velocity_[i] = 0.001f * i;
    net.velocity_.back() = 0;  // non-trainable: no velocity stored
  }
};

TEST(Checkpoint, RoundTripsVariablesVelocityAndProgress) {
  TempDir dir;
  Trained a;
  detail::write_checkpoint(a.net, dir.path("c.safetensors"), sample_progress());
  FakeNet b;
  detail::TrainingProgress p = detail::read_checkpoint(b, dir.path("c.safetensors"));
  EXPECT_EQ(a.net.params_, b.params_);
  for (size_t i = 0; i + 3 < a.net.velocity_.size(); ++i) {
    ASSERT_EQ(a.net.velocity_[i], b.velocity_[i]);
  }
  detail::TrainingProgress q = sample_progress();
  EXPECT_EQ(p.epoch, q.epoch);
  EXPECT_EQ(p.batch_in_epoch, q.batch_in_epoch);
  EXPECT_EQ(p.global_step, q.global_step);
  EXPECT_EQ(p.seed, q.seed);
  EXPECT_EQ(p.lr, q.lr);  // bit-exact through "%.17g"
  EXPECT_EQ(p.plateau_best, q.plateau_best);
  EXPECT_TRUE(std::isnan(p.best_monitor));
  EXPECT_EQ(p.epoch_loss_sum, q.epoch_loss_sum);
  ASSERT_EQ(p.history.size(), 2u);
  EXPECT_EQ(p.history[1].loss, q.history[1].loss);
  EXPECT_FALSE(file_exists(dir.path("c.safetensors.tmp")));
}

TEST(Checkpoint, DetectsAFlippedByteAnywhere) {
  TempDir dir;
  Trained a;
  detail::write_checkpoint(a.net, dir.path("c.safetensors"), sample_progress());
  const std::vector<char> good = read_bytes(dir.path("c.safetensors"));
  uint64_t header_length;
  std::memcpy(&header_length, good.data(), 8);
  ASSERT_GT(good.size(), 8 + header_length);  // all three position classes exist
  FakeNet b;
  initialize(b, 77);
  const std::vector<float> before = b.params_;
  int checksum_errors = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x20, 0x80}) {
      std::vector<char> bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      write_bytes(dir.path("bad.safetensors"), bad);
      std::string message =
          error_of([&] { detail::read_checkpoint(b, dir.path("bad.safetensors")); });
      ASSERT_NE(message, "") << "byte " << i << " mask " << int(mask) << " went unnoticed";
      ASSERT_THAT(message, HasSubstr("bad.safetensors"));
      checksum_errors += message.find("checksum") != std::string::npos;
      // load_weights checks checkpoints too.
      ASSERT_NE(error_of([&] { load_weights(b, dir.path("bad.safetensors")); }), "")
          << "byte " << i;
    }
  }
  EXPECT_GT(checksum_errors, int(good.size()));  // most flips land in data or metadata
  EXPECT_EQ(b.params_, before);
}

TEST(Checkpoint, RefusesTruncatedFiles) {
  TempDir dir;
  Trained a;
  detail::write_checkpoint(a.net, dir.path("c.safetensors"), sample_progress());
  const std::vector<char> good = read_bytes(dir.path("c.safetensors"));
  FakeNet b;
  for (size_t length : {size_t(0), size_t(5), size_t(8), good.size() / 2, good.size() - 1}) {
    write_bytes(dir.path("t.safetensors"), {good.begin(), good.begin() + length});
    EXPECT_NE(error_of([&] { detail::read_checkpoint(b, dir.path("t.safetensors")); }), "")
        << "length " << length;
  }
}

TEST(Checkpoint, RefusesAnotherModel) {
  TempDir dir;
  Trained a;
  detail::write_checkpoint(a.net, dir.path("c.safetensors"), sample_progress());
  FakeNet other_name("resnet");
  EXPECT_THAT(error_of([&] { detail::read_checkpoint(other_name, dir.path("c.safetensors")); }),
              HasSubstr("belongs to model 'fake', not 'resnet'"));
  FakeNet other_shape("fake", 5, 5, 1, 3);
  initialize(other_shape, 1);
  std::vector<float> before = other_shape.params_;
  std::string message =
      error_of([&] { detail::read_checkpoint(other_shape, dir.path("c.safetensors")); });
  EXPECT_THAT(message, HasSubstr("'dense.kernel' has shape [16, 3], the model needs [25, 3]"));
  EXPECT_THAT(message, HasSubstr("'optimizer/dense.kernel' has shape [16, 3]"));
  EXPECT_EQ(other_shape.params_, before);
  save_weights(a.net, dir.path("w.safetensors"));
  EXPECT_THAT(error_of([&] { detail::read_checkpoint(a.net, dir.path("w.safetensors")); }),
              HasSubstr("not a cnnc checkpoint"));
}

TEST(Checkpoint, AtomicWriteLeavesNoPartialFile) {
  TempDir dir;
  Trained a;
  // The target is a non-empty folder: the rename fails, the old content stays, no .tmp remains.
  std::filesystem::create_directories(dir.path("c.safetensors/keep"));
  EXPECT_THAT(error_of([&] {
                detail::write_checkpoint(a.net, dir.path("c.safetensors"), sample_progress());
              }),
              HasSubstr("cannot rename"));
  EXPECT_TRUE(std::filesystem::is_directory(dir.path("c.safetensors/keep")));
  EXPECT_FALSE(file_exists(dir.path("c.safetensors.tmp")));
  EXPECT_THAT(error_of([&] {
                detail::write_checkpoint(a.net, dir.path("no/such/dir/c.safetensors"),
                                         sample_progress());
              }),
              HasSubstr("cannot create"));
  // Overwriting an existing checkpoint replaces it whole.
  detail::write_checkpoint(a.net, dir.path("d.safetensors"), sample_progress());
  a.net.params_[0] += 1;
  detail::write_checkpoint(a.net, dir.path("d.safetensors"), sample_progress());
  FakeNet b;
  detail::read_checkpoint(b, dir.path("d.safetensors"));
  EXPECT_EQ(b.params_[0], a.net.params_[0]);
}

}  // namespace
}  // namespace cnnc::testing
