#include "runtime/src/nonfinite_guard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cnnc::detail {

namespace {

// A generated train_step may report a non-finite step itself (StepResult's
// `finite` and `nonfinite_at`, naming the first layer whose output was not
// finite). These read those fields when the header has them, else say nothing.
template <class Step>
auto reported_finite(const Step& s, int) -> decltype(bool(s.finite)) {
  return s.finite;
}
template <class Step>
bool reported_finite(const Step&, long) {
  return true;
}
template <class Step>
auto reported_place(const Step& s, int) -> decltype(std::string(s.nonfinite_at)) {
  return s.nonfinite_at;
}
template <class Step>
std::string reported_place(const Step&, long) {
  return "";
}

std::string number_text(double v) {
  if (std::isnan(v)) return "nan";  // whatever its sign bit
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

}  // namespace

std::string divergence_message(const DivergencePlace& place, const std::string& what) {
  std::string m = "training diverged at epoch " + std::to_string(place.epoch) + ", batch " +
                  std::to_string(place.batch) + "/" + std::to_string(place.batches) + " (step " +
                  std::to_string(place.step) + "): " + what;
  if (!place.layer.empty()) m += " (first non-finite values in " + place.layer + ")";
  m += place.checkpoint.empty()
           ? "; no checkpoint was written"
           : "; the last good checkpoint, " + place.checkpoint + ", is kept";
  return m + "; lower the learning rate, or pass --skip-nonfinite to skip such batches";
}

bool all_finite(const float* values, size_t count) {
  // Summing 0 * x is NaN for any inf or NaN x, and vectorises.
  float sum = 0.0f;
  for (size_t i = 0; i < count; ++i) sum += 0.0f * values[i];
  return sum == 0.0f;
}

NonfiniteGuard::NonfiniteGuard(Network& net, const DivergenceOptions& options)
    : net_(net), options_(options) {
  if (options_.skip_nonfinite) {
    saved_params_.resize(net.info().param_floats);
    saved_velocity_.resize(net.info().param_floats);
  }
}

void NonfiniteGuard::before_step() {
  if (!options_.skip_nonfinite) return;
  std::copy_n(net_.params(), saved_params_.size(), saved_params_.data());
  std::copy_n(net_.velocity(), saved_velocity_.size(), saved_velocity_.data());
}

bool NonfiniteGuard::after_step(const StepResult& step, DivergencePlace place) {
  const bool loss_ok = std::isfinite(step.loss) && reported_finite(step, 0);
  if (!options_.skip_nonfinite) {
    if (loss_ok) return true;
    place.layer = reported_place(step, 0);
    throw Error(divergence_message(place, std::isfinite(step.loss)
                                              ? std::string("a gradient is not finite")
                                              : "the loss is " + number_text(step.loss)),
                3);
  }
  // Skipping: an update that left non-finite weights is undone as well.
  if (loss_ok && all_finite(net_.params(), saved_params_.size())) return true;
  std::copy_n(saved_params_.data(), saved_params_.size(), net_.params());
  std::copy_n(saved_velocity_.data(), saved_velocity_.size(), net_.velocity());
  ++skipped_;
  return false;
}

void NonfiniteGuard::check_weights(const DivergencePlace& place) const {
  if (!all_finite(net_.params(), net_.info().param_floats)) {
    throw Error(divergence_message(place, "the weights are not finite after the epoch's last batch"),
                3);
  }
}

}  // namespace cnnc::detail
