// `cnnc tune`: times candidate schedules of each distinct convolution and
// dense kernel of a model on this machine and writes the fastest per layer
// to a tuning file (tuning.h) that `cnnc compile --tuning` reads.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace cnnc::driver {

struct TuneOptions {
  std::string model_path, out_path;
  std::string target = "host";
  std::string passes = "all";
  int batch = 1;
  // Seconds for all layers, compiling included: no candidate starts after a
  // kernel's share of it, no kernel after all of it (a started one finishes).
  double budget_seconds = 300;
  std::vector<std::string> layers;  // empty: every convolution and dense layer
};

// Progress, one line per kernel, goes to `progress`. Returns the number of
// layers tuned. Throws cnnc::Error (exit 2) on bad input.
int tune_model(const TuneOptions& options, std::ostream& progress);

}  // namespace cnnc::driver
