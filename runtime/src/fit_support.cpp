#include "runtime/src/fit_support.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "runtime/src/file_io.h"
#include "runtime/src/random.h"

namespace cnnc::detail {

void check_schedule(const LrSchedule& s) {
  if (s.type == LrSchedule::Type::Piecewise && s.values.size() != s.boundaries.size() + 1) {
    throw Error("piecewise lr_schedule needs one more value than boundaries (has " +
                std::to_string(s.values.size()) + " values, " +
                std::to_string(s.boundaries.size()) + " boundaries)");
  }
  if (s.type == LrSchedule::Type::Step && s.every <= 0) {
    throw Error("step lr_schedule needs \"every\" >= 1");
  }
}

double initial_lr(const TrainRecipe& recipe) {
  return recipe.schedule.type == LrSchedule::Type::Plateau
             ? recipe.schedule.initial
             : lr_for_epoch(recipe, 0, TrainingProgress());
}

double lr_for_epoch(const TrainRecipe& recipe, int epoch, const TrainingProgress& progress) {
  const LrSchedule& s = recipe.schedule;
  switch (s.type) {
    case LrSchedule::Type::Constant:
      return recipe.learning_rate;
    case LrSchedule::Type::Piecewise: {
      size_t i = 0;
      for (int b : s.boundaries) i += epoch > b ? 1 : 0;
      return s.values.at(i);
    }
    case LrSchedule::Type::Step:
      return s.initial * std::pow(s.factor, std::floor(double(epoch) / s.every));
    case LrSchedule::Type::Plateau:
      return progress.lr;
  }
  return recipe.learning_rate;
}

namespace {
std::string base_metric(const std::string& monitor) {
  std::string m = monitor.rfind("val_", 0) == 0 ? monitor.substr(4) : monitor;
  if (m == "acc") m = "accuracy";
  if (m != "accuracy" && m != "loss") {
    throw Error("unknown monitor '" + monitor + "'; use val_accuracy, val_loss, accuracy or loss");
  }
  return m;
}
}  // namespace

double monitor_value(const std::string& monitor, const EpochRecord& r) {
  bool val = monitor.rfind("val_", 0) == 0 && r.has_val;
  if (base_metric(monitor) == "accuracy") return val ? r.val_accuracy : r.accuracy;
  return val ? r.val_loss : r.loss;
}

bool monitor_higher_is_better(const std::string& monitor) {
  return base_metric(monitor) == "accuracy";
}

bool monitor_improved(const std::string& monitor, double value, double best) {
  if (std::isnan(best)) return true;
  return monitor_higher_is_better(monitor) ? value > best : value < best;
}

void update_plateau(const LrSchedule& s, double value, TrainingProgress& p) {
  if (monitor_improved(s.monitor, value, p.plateau_best)) {
    p.plateau_best = value;
    p.plateau_wait = 0;
    return;
  }
  if (++p.plateau_wait >= s.patience) {
    p.lr = std::max(p.lr * s.factor, s.min_lr);
    p.plateau_wait = 0;
  }
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (!shuffle) return order;
  Rng rng(seed, Stream::Shuffle, static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(order[i], order[rng.below(static_cast<uint64_t>(i) + 1)]);
  }
  return order;
}

void augment_batch(const Augmentation& a, int64_t h, int64_t w, int64_t c, int n, uint64_t seed,
                   uint64_t step, float* images) {
  if (a.random_crop_padding <= 0 && !a.horizontal_flip) return;
  Rng rng(seed, Stream::Augment, step);
  int64_t pad = std::max(a.random_crop_padding, 0);
  std::vector<float> source(static_cast<size_t>(h * w * c));
  for (int i = 0; i < n; ++i) {
    float* image = images + i * h * w * c;
    int64_t dy = pad ? static_cast<int64_t>(rng.below(2 * pad + 1)) - pad : 0;
    int64_t dx = pad ? static_cast<int64_t>(rng.below(2 * pad + 1)) - pad : 0;
    bool flip = a.horizontal_flip && rng.below(2) == 1;
    std::copy(image, image + source.size(), source.begin());
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        int64_t sy = y + dy, sx = (flip ? w - 1 - x : x) + dx;
        bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        for (int64_t k = 0; k < c; ++k) {
          image[(y * w + x) * c + k] = inside ? source[(sy * w + sx) * c + k] : 0.0f;
        }
      }
    }
  }
}

void check_dataset(const ModelInfo& info, const Dataset& d, const std::string& what) {
  if (d.n <= 0) throw Error(what + " has no images");
  if (d.h != info.input_h || d.w != info.input_w || d.c != info.input_c) {
    throw Error(what + " images are " + std::to_string(d.h) + "x" + std::to_string(d.w) + "x" +
                std::to_string(d.c) + " but model '" + info.name + "' takes " +
                std::to_string(info.input_h) + "x" + std::to_string(info.input_w) + "x" +
                std::to_string(info.input_c));
  }
  if (static_cast<int64_t>(d.images.size()) != d.n * d.h * d.w * d.c) {
    throw Error(what + ": the image buffer does not match its dimensions");
  }
  if (static_cast<int64_t>(d.labels.size()) != d.n) {
    throw Error(what + " has " + std::to_string(d.labels.size()) + " labels for " +
                std::to_string(d.n) + " images");
  }
  for (int32_t label : d.labels) {
    if (label < 0 || label >= info.output_size) {
      throw Error(what + " has label " + std::to_string(label) + ", outside [0, " +
                  std::to_string(info.output_size) + ")");
    }
  }
}

std::string epoch_line(const EpochRecord& r, int epochs) {
  auto lr_text = [](double lr) {
    char b[32];
    std::snprintf(b, sizeof b, lr >= 1e-3 || lr == 0 ? "%.4f" : "%.4e", lr);
    return std::string(b);
  };
  char line[256];
  int used = std::snprintf(line, sizeof line, "Epoch %d/%d - %.1fs - loss: %.4f - accuracy: %.4f",
                           r.epoch, epochs, r.seconds, r.loss, r.accuracy);
  if (r.has_val && used > 0 && used < int(sizeof line)) {
    std::snprintf(line + used, sizeof line - used, " - val_loss: %.4f - val_accuracy: %.4f",
                  r.val_loss, r.val_accuracy);
  }
  return std::string(line) + " - lr: " + lr_text(r.lr);
}

void ProgressBar::update(int64_t done, int64_t total, double loss, double accuracy) {
  if (!enabled_) return;
  double now =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (done != total && now - last_draw_ < 0.1) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), '.');
  std::printf("\r%lld/%lld [%s] - loss: %.4f - accuracy: %.4f", static_cast<long long>(done),
              static_cast<long long>(total), bar.c_str(), loss, accuracy);
  std::fflush(stdout);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::printf("\r\033[K");
  drawn_ = false;
}

void write_history_csv(const std::string& path, const std::vector<EpochRecord>& history) {
  std::string csv = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n";
  for (const EpochRecord& r : history) {
    char row[256];
    std::snprintf(row, sizeof row, "%d,%.6f,%.6f,%s,%s,%.6g,%.3f\n", r.epoch, r.loss, r.accuracy,
                  r.has_val ? std::to_string(r.val_loss).c_str() : "",
                  r.has_val ? std::to_string(r.val_accuracy).c_str() : "", r.lr, r.seconds);
    csv += row;
  }
  write_file_atomic(path, {{csv.data(), csv.size()}});
}

}  // namespace cnnc::detail
