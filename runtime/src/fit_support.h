// Pieces of the training loop (internal): learning-rate schedules, monitors,
// shuffling, augmentation, data checks and the console output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/checkpoint.h"
#include "runtime/src/nonfinite_guard.h"

namespace cnnc::detail {

// The schedule's first rate (what a fresh run starts the plateau state with).
double initial_lr(const TrainRecipe& recipe);
// The rate of epoch e (0-based); plateau returns its state, progress.lr.
double lr_for_epoch(const TrainRecipe& recipe, int epoch, const TrainingProgress& progress);
// Throws an Error if the schedule cannot be used (e.g. piecewise sizes).
void check_schedule(const LrSchedule& schedule);

// The monitored metric of a finished epoch: "val_accuracy", "val_loss",
// "accuracy" or "loss" ("acc" also accepted). Without validation data a val_
// monitor falls back to the training metric.
double monitor_value(const std::string& monitor, const EpochRecord& record);
bool monitor_higher_is_better(const std::string& monitor);
bool monitor_improved(const std::string& monitor, double value, double best);
// Keras's ReduceLROnPlateau at the end of an epoch (min_delta 0, cooldown 0).
void update_plateau(const LrSchedule& schedule, double value, TrainingProgress& progress);

// The order of the images in an epoch: Fisher-Yates from (seed, epoch).
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int epoch);
// Random crop (zero padding) and horizontal flip of a batch in place, seeded by the step.
void augment_batch(const Augmentation& augmentation, int64_t h, int64_t w, int64_t c, int n,
                   uint64_t seed, uint64_t step, float* images);

// Throws an Error unless d fits the network's input and has one label an image.
void check_dataset(const ModelInfo& info, const Dataset& d, const std::string& what);

// "Epoch 3/10 - 2.1s - loss: ... - lr: 0.0100"
std::string epoch_line(const EpochRecord& r, int epochs);
// A progress bar redrawn in place; does nothing unless enabled.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void update(int64_t done, int64_t total, double loss, double accuracy);
  void clear();

 private:
  bool enabled_;
  bool drawn_ = false;
  double last_draw_ = -1;
};
void write_history_csv(const std::string& path, const std::vector<EpochRecord>& history);

// fit() with the divergence handling chosen (what train_main calls).
std::vector<EpochRecord> fit_guarded(Network& net, const Dataset& train, const Dataset* val,
                                     const FitOptions& options,
                                     const DivergenceOptions& divergence);

}  // namespace cnnc::detail
