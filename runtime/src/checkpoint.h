// Training checkpoints (internal): every variable, the optimiser velocity of
// the trainable ones, and the training progress, in one safetensors file with
// a checksum over all of its bytes.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/safetensors.h"

namespace cnnc::detail {

constexpr char kCheckpointFormat[] = "cnnc-checkpoint/1";
constexpr char kOptimizerPrefix[] = "optimizer/";

// Where training stands; enough to continue bit-exactly.
struct TrainingProgress {
  int epoch = 0;               // the epoch the next batch belongs to (0-based)
  int64_t batch_in_epoch = 0;  // batches of that epoch already done (stopped by max_steps)
  uint64_t global_step = 0;    // batches done in all
  uint64_t seed = 0;
  int batch_size = 0;
  bool shuffle = true;
  double lr = 0;  // learning rate of the current epoch (plateau state)
  double plateau_best = std::numeric_limits<double>::quiet_NaN();
  int plateau_wait = 0;
  double best_monitor = std::numeric_limits<double>::quiet_NaN();  // save-best
  // Sums over the batches done in the current epoch.
  double epoch_loss_sum = 0, epoch_seconds = 0;
  int64_t epoch_correct = 0, epoch_seen = 0, epoch_batches = 0;
  std::vector<EpochRecord> history;
};

bool is_checkpoint(const SafetensorsFile& file);
// Throws an Error unless the stored checksum matches the file's bytes.
void verify_checkpoint_checksum(const SafetensorsFile& file);

void write_checkpoint(Network& net, const std::string& path, const TrainingProgress& progress);
// Validates everything (checksum, model name, tensors, metadata) before it
// changes the network's parameters and velocity.
TrainingProgress read_checkpoint(Network& net, const std::string& path);

}  // namespace cnnc::detail
