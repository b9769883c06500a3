// What the training loop does about a non-finite loss or non-finite weights
// (internal). By default it stops with exit code 3 and keeps the last good
// checkpoint; with skip_nonfinite it undoes the batch's update instead (it
// copies the weights and velocity before every step, so it costs that copy).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"

namespace cnnc::detail {

struct DivergenceOptions {
  bool skip_nonfinite = false;  // --skip-nonfinite
};

// Where a divergence happened, for the message.
struct DivergencePlace {
  int epoch = 0;              // 1-based
  int64_t batch = 0;          // 1-based, within the epoch
  int64_t batches = 0;        // in the epoch
  uint64_t step = 0;          // global step (0-based, as in the checkpoint)
  std::string checkpoint;     // the last good checkpoint ("" if none was written)
  std::string layer;          // where the first non-finite value came from, when known:
                              // "layer 'conv2' (forward)"
};

// "training diverged at epoch 2, batch 5/16 (step 21): the loss is nan; the
// last good checkpoint, run.safetensors, is kept; lower the learning rate ..."
std::string divergence_message(const DivergencePlace& place, const std::string& what);

bool all_finite(const float* values, size_t count);

class NonfiniteGuard {
 public:
  NonfiniteGuard(Network& net, const DivergenceOptions& options);
  // Call before train_step: saves the weights and velocity when skipping.
  void before_step();
  // Call after train_step. Returns true if the step counts; false if it was
  // skipped (its update undone). Throws Error(exit code 3) when not skipping.
  bool after_step(const StepResult& step, DivergencePlace place);
  // Throws Error(3) if the weights are not finite (before writing a checkpoint).
  void check_weights(const DivergencePlace& place) const;
  int64_t skipped() const { return skipped_; }

 private:
  Network& net_;
  DivergenceOptions options_;
  std::vector<float> saved_params_, saved_velocity_;
  int64_t skipped_ = 0;
};

}  // namespace cnnc::detail
