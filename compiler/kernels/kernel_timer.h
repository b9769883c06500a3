// Runs one kernel, JIT-compiled with the builder the cache uses, on random
// inputs and times it: what `cnnc tune` measures candidate schedules with.
// No Halide types here: the driver includes this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/kernels/kernel_spec.h"

namespace cnnc::kernels {

struct KernelRun {
  double median_ms = 0;
  std::vector<std::vector<float>> outputs;  // every output buffer, in argument order
};

// `shapes`: the Halide extents (innermost first, batch included) of each
// buffer argument of kernel_args(spec), in order; a Winograd Conv2D takes the
// direct one's (raw weights, transformed before the runs). Inputs are uniform in
// [-1, 1], the same for the same seed and shapes. The first run warms up;
// the median of the next ones is reported: as many as fill about 0.3 s, 3 to
// 25. Throws std::runtime_error when Halide cannot build or run the kernel,
// std::invalid_argument for kernels with scalar arguments.
KernelRun time_kernel(const KernelSpec& spec, const std::vector<std::vector<int64_t>>& shapes,
                      const std::string& target, uint64_t seed);

// Whether two runs of one computation agree: equal within `tolerance`
// relative to the largest magnitude of each output of `reference` (schedules
// sum in other orders). NaN never agrees.
bool same_outputs(const KernelRun& run, const KernelRun& reference, double tolerance = 1e-4);

}  // namespace cnnc::kernels
