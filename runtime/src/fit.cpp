// fit(): the training loop. Everything random comes from (seed, epoch or step),
// so a run resumed from a checkpoint continues bit-exactly.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/checkpoint.h"
#include "runtime/src/file_io.h"
#include "runtime/src/fit_support.h"
#include "runtime/src/nonfinite_guard.h"
#include "runtime/src/random.h"
#include "runtime/src/training_plot.h"

namespace cnnc {

namespace {

using detail::TrainingProgress;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void check_options(const ModelInfo& info, const FitOptions& options) {
  const TrainRecipe& r = options.recipe;
  if (!info.has_training) {
    throw Error("model '" + info.name +
                "' was compiled without training support; recompile it with training enabled");
  }
  if (r.batch_size < 1) throw Error("batch size must be at least 1");
  if (info.max_batch > 0 && r.batch_size > info.max_batch) {
    throw Error("batch size " + std::to_string(r.batch_size) +
                " is above this library's compile-time maximum of " +
                std::to_string(info.max_batch) + "; use --batch-size " +
                std::to_string(info.max_batch) + " or less, or recompile with a larger max batch");
  }
  if (r.epochs < 0) throw Error("epochs must not be negative");
  detail::check_schedule(r.schedule);
  detail::monitor_higher_is_better(r.schedule.monitor);  // throws on an unknown monitor
  detail::monitor_higher_is_better(r.checkpoint_monitor);
}

TrainingProgress start_or_resume(Network& net, const FitOptions& options) {
  const TrainRecipe& r = options.recipe;
  if (options.resume.empty()) {
    TrainingProgress p;
    p.seed = r.seed;
    p.batch_size = r.batch_size;
    p.shuffle = r.shuffle;
    p.lr = detail::initial_lr(r);
    return p;
  }
  TrainingProgress p = detail::read_checkpoint(net, options.resume);
  if (p.batch_in_epoch > 0 && (p.batch_size != r.batch_size || p.shuffle != r.shuffle)) {
    throw Error(options.resume + ": the checkpoint stopped inside an epoch with batch size " +
                std::to_string(p.batch_size) + (p.shuffle ? ", shuffled" : ", not shuffled") +
                "; resume it with the same batch size and shuffle setting");
  }
  p.batch_size = r.batch_size;
  p.shuffle = r.shuffle;
  return p;
}

void note_val_fallback(const std::string& monitor, bool has_val, bool verbose) {
  if (verbose && !has_val && monitor.rfind("val_", 0) == 0) {
    std::fprintf(stderr,
                 "note: no validation data; the lr schedule monitors '%s' instead of '%s'\n",
                 monitor.substr(4).c_str(), monitor.c_str());
  }
}

}  // namespace

std::vector<EpochRecord> fit(Network& net, const Dataset& train, const Dataset* val,
                             const FitOptions& options) {
  return detail::fit_guarded(net, train, val, options, detail::DivergenceOptions());
}

namespace detail {

std::vector<EpochRecord> fit_guarded(Network& net, const Dataset& train, const Dataset* val,
                                     const FitOptions& options,
                                     const DivergenceOptions& divergence) {
  const ModelInfo& info = net.info();
  const TrainRecipe& recipe = options.recipe;
  check_options(info, options);
  detail::check_dataset(info, train, "training data");
  if (val) detail::check_dataset(info, *val, "validation data");
  if (recipe.schedule.type == LrSchedule::Type::Plateau) {
    note_val_fallback(recipe.schedule.monitor, val != nullptr, options.verbose);
  }

  TrainingProgress progress = start_or_resume(net, options);
  if (options.verbose && !options.resume.empty() && progress.epoch >= recipe.epochs) {
    std::fprintf(stderr,
                 "note: %s already holds %d epochs; nothing left to train (raise --epochs)\n",
                 options.resume.c_str(), progress.epoch);
  }
  const uint64_t seed = progress.seed;
  const uint64_t dropout_seed = detail::Rng(seed, detail::Stream::Dropout, 0).next();
  const int64_t batches_per_epoch = (train.n + recipe.batch_size - 1) / recipe.batch_size;
  const int64_t image_floats = info.input_size();
  const std::string stem = detail::path_stem(options.checkpoint);
  detail::ProgressBar bar(options.verbose && ::isatty(STDOUT_FILENO));
  std::vector<float> images(static_cast<size_t>(recipe.batch_size * image_floats));
  std::vector<int32_t> labels(static_cast<size_t>(recipe.batch_size));
  std::vector<EpochRecord> partial;  // a last epoch cut short by max_steps
  NonfiniteGuard guard(net, divergence);
  DivergencePlace place;
  place.batches = batches_per_epoch;
  if (!options.resume.empty()) place.checkpoint = options.resume;

  auto steps_left = [&] {
    return options.max_steps < 0 || progress.global_step < static_cast<uint64_t>(options.max_steps);
  };
  for (int epoch = progress.epoch; epoch < recipe.epochs && steps_left(); ++epoch) {
    const double lr = detail::lr_for_epoch(recipe, epoch, progress);
    const Sgd sgd{static_cast<float>(lr), static_cast<float>(recipe.momentum), recipe.nesterov};
    const std::vector<int64_t> order = detail::epoch_order(train.n, recipe.shuffle, seed, epoch);
    const auto start = std::chrono::steady_clock::now();
    const int64_t skipped_before = guard.skipped();
    for (int64_t b = progress.batch_in_epoch; b < batches_per_epoch && steps_left(); ++b) {
      int64_t first = b * recipe.batch_size;
      int n = static_cast<int>(std::min<int64_t>(recipe.batch_size, train.n - first));
      for (int i = 0; i < n; ++i) {
        int64_t src = order[static_cast<size_t>(first + i)];
        std::copy_n(train.images.data() + src * image_floats, image_floats,
                    images.data() + i * image_floats);
        labels[i] = train.labels[static_cast<size_t>(src)];
      }
      detail::augment_batch(recipe.augmentation, train.h, train.w, train.c, n, seed,
                            progress.global_step, images.data());
      guard.before_step();
      StepResult step =
          net.train_step(images.data(), labels.data(), n, sgd, dropout_seed, progress.global_step);
      place.epoch = epoch + 1;
      place.batch = b + 1;
      place.step = progress.global_step;
      bool counted = false;
      try {
        counted = guard.after_step(step, place);
      } catch (const Error&) {
        bar.clear();
        throw;
      }
      if (counted) {
        progress.epoch_loss_sum += step.loss * n;
        progress.epoch_correct += step.correct;
        progress.epoch_seen += n;
        ++progress.epoch_batches;
      }
      ++progress.global_step;
      progress.batch_in_epoch = b + 1;
      bar.update(b + 1, batches_per_epoch, progress.epoch_loss_sum / progress.epoch_seen,
                 double(progress.epoch_correct) / progress.epoch_seen);
    }
    bar.clear();
    progress.epoch_seconds += seconds_since(start);
    guard.check_weights(place);  // never checkpoint non-finite weights
    if (guard.skipped() > skipped_before && options.verbose) {
      std::fprintf(stderr, "note: epoch %d skipped %lld batches with a non-finite loss or weights\n",
                   epoch + 1, static_cast<long long>(guard.skipped() - skipped_before));
    }

    EpochRecord record;
    record.epoch = epoch + 1;
    record.lr = lr;
    record.seconds = progress.epoch_seconds;
    if (progress.epoch_seen > 0) {
      record.loss = progress.epoch_loss_sum / progress.epoch_seen;
      record.accuracy = double(progress.epoch_correct) / progress.epoch_seen;
    }
    if (val) {
      evaluate(net, *val, &record.val_loss, &record.val_accuracy);
      record.has_val = true;
    }
    const bool complete = progress.batch_in_epoch == batches_per_epoch;
    bool best = false;
    if (complete) {
      progress.history.push_back(record);
      if (recipe.schedule.type == LrSchedule::Type::Plateau) {
        detail::update_plateau(recipe.schedule,
                               detail::monitor_value(recipe.schedule.monitor, record), progress);
      }
      double monitored = detail::monitor_value(recipe.checkpoint_monitor, record);
      if (val &&
          detail::monitor_improved(recipe.checkpoint_monitor, monitored, progress.best_monitor)) {
        progress.best_monitor = monitored;
        best = true;
      }
      progress.epoch = epoch + 1;
      progress.batch_in_epoch = 0;
      progress.epoch_loss_sum = progress.epoch_seconds = 0;
      progress.epoch_correct = progress.epoch_seen = progress.epoch_batches = 0;
    } else {
      partial.push_back(record);
    }
    if (options.verbose) std::cout << detail::epoch_line(record, recipe.epochs) << std::endl;
    if (!options.checkpoint.empty()) {
      detail::write_checkpoint(net, options.checkpoint, progress);
      if (best) detail::write_checkpoint(net, stem + ".best.safetensors", progress);
      std::vector<EpochRecord> all = progress.history;
      all.insert(all.end(), partial.begin(), partial.end());
      detail::write_history_csv(stem + ".history.csv", all);
      detail::write_training_plot(stem + ".history.svg", info.name, all);
      place.checkpoint = options.checkpoint;
    }
  }
  if (!options.save.empty()) save_weights(net, options.save);
  std::vector<EpochRecord> history = progress.history;
  history.insert(history.end(), partial.begin(), partial.end());
  return history;
}

}  // namespace detail

}  // namespace cnnc
