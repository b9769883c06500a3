// `cnnc bench`: times the generated code itself. Inference (or, with --train,
// a training step) on random data, after a warm-up, as the median of K runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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

}  // namespace

int bench_main(Network& net, int argc, char** argv) {
  try {
    const ModelInfo& info = net.info();
    int batch = info.max_batch, iters = 20, warmup = 3;
    bool train = false, json = false;
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
      } else {
        throw Error("cnnc bench: unknown or incomplete argument '" + a +
                    "'; use --batch N --iters K [--warmup W] [--train] [--json]");
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
    // A learning rate of 0 keeps the weights (and so the timing) steady.
    Sgd sgd{0.0f, info.recipe.momentum > 0 ? float(info.recipe.momentum) : 0.9f, false};

    std::vector<double> ms;
    for (int i = 0; i < warmup + iters; ++i) {
      auto start = std::chrono::steady_clock::now();
      if (train) {
        net.train_step(images.data(), labels.data(), batch, sgd, 7, uint64_t(i));
      } else {
        net.infer(images.data(), batch, out.data());
      }
      std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
      if (i >= warmup) ms.push_back(took.count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2];
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
