// Test helpers: a fake Network (softmax regression trained by hand), synthetic
// data sets and temporary folders.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"

namespace cnnc::testing {

// What one train_step call saw.
struct StepCall {
  float lr;
  int n;
  std::vector<int32_t> labels;
  std::vector<float> first_image;
  uint64_t dropout_seed, step;
};

// Softmax regression on h x w x c images with `classes` outputs, with an extra
// non-trainable "stats.moving_mean" updated like BatchNorm's moving mean.
// Trained by hand with Keras's SGD; records every train_step call.
class FakeNet : public Network {
 public:
  FakeNet(std::string name = "fake", int h = 4, int w = 4, int c = 1, int classes = 3,
          int max_batch = 16);
  const ModelInfo& info() const override { return info_; }
  float* params() override { return params_.data(); }
  float* velocity() override { return velocity_.data(); }
  void infer(const float* images, int64_t n, float* out) override;
  StepResult train_step(const float* images, const int32_t* labels, int n, const Sgd& sgd,
                        uint64_t dropout_seed, uint64_t step) override;

  ModelInfo info_;
  std::vector<float> params_, velocity_;
  std::vector<StepCall> calls;
  bool frozen = false;   // train_step changes nothing (constant loss)
  bool diverge = false;  // train_step returns NaN
  // At these steps: apply NaN to every weight and velocity and return a NaN
  // loss (what a generated step does when it blows up).
  std::set<uint64_t> poison_at_steps;
  // At these steps: a finite loss, but the update leaves infinite weights.
  std::set<uint64_t> inf_weights_at_steps;
  // At these steps: the loss as usual, no update (what a skipped batch leaves).
  std::set<uint64_t> noop_at_steps;
  int64_t infer_calls_max_n = 0;

 private:
  void logits(const float* image, float* z) const;
};

// Images of `classes` noisy templates; deterministic.
Dataset make_dataset(int64_t n, int h, int w, int c, int classes, uint32_t seed);

// A fresh empty folder under the system's temporary folder, removed at exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

std::vector<char> read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::vector<char>& bytes);
bool file_exists(const std::string& path);
// The message of the cnnc::Error that f throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace cnnc::testing
