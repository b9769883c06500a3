// The tuning file that `cnnc tune` writes and `cnnc compile --tuning` reads:
// per layer, the schedule measured fastest on one machine for one model.
//
//   {"format": "cnnc-tuning/1", "model": NAME, "model_hash": HEX, "target": T,
//    "batch": N, "passes": LIST,
//    "layers": [{"layer": NAME, "default_kernel": KEY, "kernel": KEY,
//                "choice": {"lowering": "gemm"|"direct"|"", "conv_algo": ""|"direct"|
//                           "winograd_f2"|"winograd_f4", "algorithm": ""|"autoschedule",
//                           "tile_vectors": V, "tile_columns": C, "estimate_batch": B},
//                "default_ms": MS, "best_ms": MS, "candidates": K, "rejected": R}]}
//
// `kernel` is the key of the kernel the choice makes: a build whose layer
// compiles to another kernel (another model version or --passes) is refused.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/kernels/kernel_spec.h"
#include "compiler/lower/program.h"

namespace cnnc::driver {

struct LayerTuning {
  std::string layer;
  std::string default_kernel, kernel;
  // A 1x1 convolution: "direct" runs it as a convolution, "gemm" as a matrix
  // product, whatever the default rule (lower::packed_1x1_wins); "" keeps the lowering.
  std::string lowering;
  // Conv2D: the algorithm (kernel_spec.h's conv_algo_name); "" keeps the lowering's.
  std::string conv_algo;
  kernels::ScheduleChoice schedule;
  double default_ms = 0, best_ms = 0;
  int candidates = 0, rejected = 0;
};

struct Tuning {
  std::string model, model_hash, target, passes;
  int batch = 1;
  std::vector<LayerTuning> layers;
};

// The hash a tuning file records for a model file's text.
std::string model_hash(const std::string& model_text);

// Writes the file (atomically).
void write_tuning(const std::string& path, const Tuning& t);

// Reads and checks a tuning file against the model being built (its text and
// its resolved target). Throws cnnc::Error (exit 2) naming the file and place.
Tuning read_tuning(const std::string& path, const std::string& model_path,
                   const std::string& model_text, const std::string& target);

// The layers whose choice is that lowering ("direct" or "gemm").
std::set<std::string> layers_lowered_as(const Tuning& t, const std::string& lowering);

// Gives the tuned layers' inference steps their schedules, and the training
// forward steps whose kernel is the same. Throws cnnc::Error naming the file
// when a tuned layer is missing or compiles to another kernel than was tuned.
// The Conv2D algorithms chosen per layer, for the lowering (a Winograd one
// needs its weight transform at load time).
std::map<std::string, kernels::ConvAlgo> conv_algo_layers(const Tuning& t);

void apply_tuning(const Tuning& t, const std::string& path, lower::Program& p);

}  // namespace cnnc::driver
