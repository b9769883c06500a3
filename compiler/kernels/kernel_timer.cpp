#include "compiler/kernels/kernel_timer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "compiler/kernels/halide_kernels.h"

namespace cnnc::kernels {
namespace {

KernelSpec with_kind(KernelSpec s, Kind kind) {
  s.kind = kind;
  return s;
}

}  // namespace

KernelRun time_kernel(const KernelSpec& spec, const std::vector<std::vector<int64_t>>& shapes,
                      const std::string& target_string, uint64_t seed) {
  // A Winograd Conv2D is given the direct kernel's shapes: its random weights
  // are transformed first (untimed, as at load time), then read transformed.
  const bool winograd = spec.kind == Kind::Conv2D && spec.conv_algo != ConvAlgo::Direct;
  KernelSpec raw_weights = spec;
  raw_weights.conv_algo = ConvAlgo::Direct;
  const std::vector<ArgDesc> args = kernel_args(raw_weights);
  if (shapes.size() != args.size()) {
    throw std::invalid_argument("time_kernel: " + std::to_string(shapes.size()) +
                                " shapes for the " + std::to_string(args.size()) +
                                " arguments of " + spec.key());
  }
  KernelRun result;
  try {
    const Halide::Target target(target_string);
    BuiltKernel k = build_kernel(spec, target);
    std::vector<Halide::Buffer<>> inputs, outputs;
    uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].is_buffer || args[i].is_int32) {
        throw std::invalid_argument("time_kernel: " + spec.key() +
                                    " takes a scalar or an int32 buffer");
      }
      std::vector<int> sizes(shapes[i].begin(), shapes[i].end());
      Halide::Buffer<float> b(sizes);
      if (!args[i].is_output) {
        for (int64_t e = 0; e < static_cast<int64_t>(b.number_of_elements()); ++e) {
          state = state * 6364136223846793005ull + 1442695040888963407ull;
          b.data()[e] =
              static_cast<float>(static_cast<double>(state >> 40) / double(1 << 23) - 1.0);
        }
      }
      (args[i].is_output ? outputs : inputs).push_back(b);
    }
    if (winograd) {
      BuiltKernel transform = build_kernel(with_kind(spec, Kind::WinogradWeights), target);
      transform.inputs[0].set(inputs[1]);
      Halide::Buffer<float> u(std::vector<int>{static_cast<int>(winograd_weight_floats(spec))});
      transform.pipeline.realize(Halide::Realization(u), target);
      inputs[1] = u;
    }
    for (size_t i = 0; i < inputs.size(); ++i) k.inputs[i].set(inputs[i]);
    k.pipeline.compile_jit(target);
    Halide::Realization realization(outputs);
    auto run_ms = [&] {
      const auto start = std::chrono::steady_clock::now();
      k.pipeline.realize(realization, target);
      const auto end = std::chrono::steady_clock::now();
      return std::chrono::duration<double, std::milli>(end - start).count();
    };
    const double warm_up = run_ms();
    const int runs = static_cast<int>(std::clamp(300.0 / std::max(warm_up, 1e-3), 3.0, 25.0));
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) ms.push_back(run_ms());
    std::sort(ms.begin(), ms.end());
    result.median_ms = ms[ms.size() / 2];
    for (Halide::Buffer<>& b : outputs) {
      Halide::Buffer<float> f(b);
      result.outputs.emplace_back(f.data(), f.data() + f.number_of_elements());
    }
  } catch (const Halide::Error& e) {
    throw std::runtime_error("Halide failed on kernel '" + spec.key() + "': " + e.what());
  }
  return result;
}

bool same_outputs(const KernelRun& run, const KernelRun& reference, double tolerance) {
  if (run.outputs.size() != reference.outputs.size()) return false;
  for (size_t i = 0; i < run.outputs.size(); ++i) {
    const std::vector<float>&a = run.outputs[i], &b = reference.outputs[i];
    if (a.size() != b.size()) return false;
    double scale = 1.0;
    for (float v : b) scale = std::max(scale, double(std::fabs(v)));
    for (size_t j = 0; j < a.size(); ++j) {
      if (!(std::fabs(double(a[j]) - double(b[j])) <= tolerance * scale)) return false;
    }
  }
  return true;
}

}  // namespace cnnc::kernels
