// `cnnc bench`: times the generated code itself. Inference (or, with --train,
// a training step) on random data, after a warm-up, as the median of K runs;
// --profile then times each kernel call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/random.h"

namespace cnnc {
namespace {

int positive(const char* flag, const char* value) {
  char* end = nullptr;
  long v = std::strtol(value, &end, 10);
  if (!end || *end || v < 1 || v > 1000000) {
    throw Error(std::string(flag) + " " + value + ": expected a positive whole number");
  }
  return int(v);
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The machine's FP32 peak in GFLOP/s: cores x FLOP per cycle per core x clock.
// AVX-512 and AVX2+FMA cores of this kind issue two 256-bit FMAs a cycle
// (2 pipes x 8 lanes x 2 = 32 FLOP); SSE/AVX without FMA half that. The clock
// is the all-core boost, which /proc/cpuinfo does not give (it shows the
// base): 3.67 GHz, what the 235 GFLOP/s measured on this machine's 2 cores
// implies. CNNC_PEAK_GFLOPS overrides the estimate.
double peak_gflops() {
  if (const char* text = std::getenv("CNNC_PEAK_GFLOPS")) {
    double v = std::atof(text);
    if (v > 0) return v;
  }
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  double per_cycle = 8;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") ||
      (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    per_cycle = 32;
  } else if (__builtin_cpu_supports("avx")) {
    per_cycle = 16;
  }
#endif
  return cores * per_cycle * 3.67;
}

// Times every kernel call of `iters` runs (inferences or training steps) and
// prints one line per call: median time, share of the summed medians,
// GFLOP/s, % of peak, schedule.
template <typename Run>
void print_profile(Network& net, const std::vector<StepInfo>& steps, const char* what, int batch,
                   int iters, Run run) {
  std::vector<std::vector<double>> times(steps.size());
  std::vector<double> totals, step_sums, seconds(steps.size());
  net.profile_steps(seconds.data());
  for (int i = 0; i < iters; ++i) {
    std::fill(seconds.begin(), seconds.end(), 0.0);
    auto start = std::chrono::steady_clock::now();
    run(i);
    totals.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    double sum = 0;
    for (size_t s = 0; s < steps.size(); ++s) {
      times[s].push_back(seconds[s]);
      sum += seconds[s];
    }
    step_sums.push_back(sum);
  }
  net.profile_steps(nullptr);
  std::vector<double> median(steps.size());
  double sum = 0;
  for (size_t s = 0; s < steps.size(); ++s) sum += median[s] = median_of(times[s]);
  const double peak = peak_gflops();
  std::printf("profile, batch %d, %d runs; peak %.0f GFLOP/s (%u cores)\n", batch, iters, peak,
              std::max(1u, std::thread::hardware_concurrency()));
  std::printf("%4s  %-24s %-22s %9s %6s %8s %6s  %s\n", "step", "layer", "kernel", "ms", "%",
              "GFLOP/s", "%peak", "schedule");
  for (size_t s = 0; s < steps.size(); ++s) {
    const StepInfo& st = steps[s];
    char rate[32] = "-", of_peak[32] = "-";
    if (st.flops_per_image > 0 && median[s] > 0) {
      double gflops = st.flops_per_image * batch / median[s] * 1e-9;
      std::snprintf(rate, sizeof rate, "%.1f", gflops);
      std::snprintf(of_peak, sizeof of_peak, "%.1f", 100.0 * gflops / peak);
    }
    std::printf("%4zu  %-24s %-22s %9.3f %6.2f %8s %6s  %s\n", s, st.layer.c_str(),
                st.kernel.c_str(), median[s] * 1e3, sum > 0 ? 100.0 * median[s] / sum : 0.0, rate,
                of_peak, st.schedule.c_str());
  }
  double flops = 0;
  for (const StepInfo& st : steps) flops += st.flops_per_image * batch;
  // Per run the steps cover the whole inference but the Model's own few
  // instructions (a training step's also: the loss summary, the finiteness
  // check of the gradients); medians of single steps drop a loaded machine's
  // stalls.
  std::printf(
      "total: steps %.3f ms (sum of medians), %.3f ms (median of each run's sum), "
      "whole %s %.3f ms (median), %.1f GFLOP/s\n",
      sum * 1e3, median_of(step_sums) * 1e3, what, median_of(totals) * 1e3,
      sum > 0 ? flops / sum * 1e-9 : 0.0);
}

}  // namespace

int bench_main(Network& net, int argc, char** argv) {
  try {
    const ModelInfo& info = net.info();
    int batch = info.max_batch, iters = 20, warmup = 3;
    bool train = false, json = false, profile = false;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      bool has_value = i + 1 < argc;
      if (a == "--batch" && has_value) {
        batch = positive("--batch", argv[++i]);
      } else if (a == "--iters" && has_value) {
        iters = positive("--iters", argv[++i]);
      } else if (a == "--warmup" && has_value) {
        warmup = positive("--warmup", argv[++i]);
      } else if (a == "--train") {
        train = true;
      } else if (a == "--json") {
        json = true;
      } else if (a == "--profile") {
        profile = true;
      } else {
        throw Error("cnnc bench: unknown or incomplete argument '" + a +
                    "'; use --batch N --iters K [--warmup W] [--train] [--json] [--profile]");
      }
    }
    if (train && batch > info.max_batch) {
      throw Error("cnnc bench --train: batch " + std::to_string(batch) +
                  " is above the library's largest batch " + std::to_string(info.max_batch));
    }
    if (const char* threads = std::getenv("CNNC_NUM_THREADS")) set_num_threads(std::atoi(threads));
    initialize(net, 1);
    std::vector<float> images(size_t(batch) * size_t(info.input_size()));
    std::vector<float> out(size_t(batch) * size_t(info.output_size));
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    detail::Rng rng(1, detail::Stream::Init, 0);
    for (float& v : images) v = float(rng.uniform());
    for (int i = 0; i < batch; ++i) labels[i] = int32_t(i % info.output_size);
    // The model's own momentum and Nesterov flag (the work of its steps; the
    // PyTorch peers use them too). A learning rate of 0 keeps the weights (and
    // so the timing) steady.
    Sgd sgd{0.0f, float(info.recipe.momentum), info.recipe.nesterov};

    auto run = [&](int i) {
      if (train) {
        net.train_step(images.data(), labels.data(), batch, sgd, 7, uint64_t(i));
      } else {
        net.infer(images.data(), batch, out.data());
      }
    };
    std::vector<double> ms;
    for (int i = 0; i < warmup + iters; ++i) {
      auto start = std::chrono::steady_clock::now();
      run(i);
      std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
      if (i >= warmup) ms.push_back(took.count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2];
    // After the plain runs, so that their times are those of the unprofiled code.
    if (profile && train) print_profile(net, info.train_steps, "training step", batch, iters, run);
    if (profile && !train) print_profile(net, info.infer_steps, "inference", batch, iters, run);
    double per_s = batch * 1000.0 / median;
    std::printf("%s %s, batch %d: median %.3f ms over %d runs (min %.3f, max %.3f), %.1f images/s\n",
                info.name.c_str(), train ? "training step" : "inference", batch, median, iters,
                ms.front(), ms.back(), per_s);
    if (json) {
      std::printf("{\"model\": \"%s\", \"mode\": \"%s\", \"batch\": %d, \"iters\": %d, "
                  "\"median_ms\": %.6f, \"min_ms\": %.6f, \"max_ms\": %.6f, \"images_per_s\": %.3f}\n",
                  info.name.c_str(), train ? "train" : "infer", batch, iters, median, ms.front(),
                  ms.back(), per_s);
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cnnc bench: %s\n", e.what());
    return e.exit_code();
  }
}

}  // namespace cnnc
