// train_main / run_main (what `cnnc train` and `cnnc run` execute) and
// thread-count control.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/fit_support.h"
#include "runtime/src/npy.h"

// Halide's runtime, when linked in; weak so that the runtime does not need it.
extern "C" int halide_set_num_threads(int n) __attribute__((weak));

namespace cnnc {

namespace {

constexpr char kTrainUsage[] =
    "usage: train --train-images X --train-labels Y [--val-images X --val-labels Y]\n"
    "             [--weights W0.safetensors] [--epochs N | --steps N] [--batch-size N]\n"
    "             [--no-shuffle] [--seed N] [--save W.safetensors] [--checkpoint CKPT]\n"
    "             [--resume CKPT] [--test-images X --test-labels Y] [--skip-nonfinite]\n"
    "             [--dump-forward DIR]  (testing: each step's forward operands, into DIR)\n"
    "images: IDX or float32 .npy [N, H, W, C]; labels: IDX or int32/int64 .npy [N]\n";
constexpr char kRunUsage[] =
    "usage: run --weights W.safetensors --input X.npy --output Y.npy\n"
    "input: float32 .npy [N, H, W, C]; output: float32 .npy [N, classes]\n";

// Flags with a value, and switches; anything else is a usage error.
struct Flags {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;
};

bool parse_flags(int argc, char** argv, const std::vector<std::string>& valued,
                 const std::vector<std::string>& switches, const char* usage, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (std::find(switches.begin(), switches.end(), arg) != switches.end()) {
      flags.switches[arg] = true;
    } else if (std::find(valued.begin(), valued.end(), arg) != valued.end()) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "error: %s needs a value\n%s", arg.c_str(), usage);
        return false;
      }
      flags.values[arg] = argv[++i];
    } else {
      std::fprintf(stderr, "error: unknown argument '%s'\n%s", arg.c_str(), usage);
      return false;
    }
  }
  return true;
}

int64_t parse_count(const std::string& flag, const std::string& text, int64_t minimum) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno == ERANGE || v < minimum) {
    throw Error(flag + " needs an integer >= " + std::to_string(minimum) + ", not '" + text + "'");
  }
  return v;
}

void threads_from_environment() {
  const char* text = std::getenv("CNNC_NUM_THREADS");
  if (!text || !*text) return;
  set_num_threads(static_cast<int>(parse_count("CNNC_NUM_THREADS", text, 1)));
}

// Runs body, turning errors into messages and exit codes.
int guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 1;
  }
}

Dataset load_pair(const Flags& flags, const std::string& kind, int64_t classes, bool required) {
  auto images = flags.values.find("--" + kind + "-images");
  auto labels = flags.values.find("--" + kind + "-labels");
  bool has_images = images != flags.values.end(), has_labels = labels != flags.values.end();
  if (!has_images && !has_labels && !required) return Dataset();
  if (!has_images || !has_labels) {
    throw Error("--" + kind + "-images and --" + kind + "-labels go together");
  }
  Dataset d = load_images(images->second);
  load_labels(d, labels->second, classes);
  return d;
}

int train(Network& net, const Flags& flags) {
  threads_from_environment();
  const ModelInfo& info = net.info();
  FitOptions options;
  options.recipe = info.recipe;
  TrainRecipe& recipe = options.recipe;
  const auto& v = flags.values;
  if (v.count("--epochs") && v.count("--steps")) throw Error("give --epochs or --steps, not both");
  if (v.count("--epochs")) recipe.epochs = int(parse_count("--epochs", v.at("--epochs"), 0));
  if (v.count("--batch-size")) {
    recipe.batch_size = int(parse_count("--batch-size", v.at("--batch-size"), 1));
  }
  if (v.count("--seed")) recipe.seed = uint64_t(parse_count("--seed", v.at("--seed"), 0));
  if (flags.switches.count("--no-shuffle")) recipe.shuffle = false;
  if (v.count("--checkpoint")) options.checkpoint = v.at("--checkpoint");
  if (v.count("--resume")) options.resume = v.at("--resume");
  if (v.count("--save")) options.save = v.at("--save");
  if (v.count("--dump-forward")) net.dump_forward(v.at("--dump-forward").c_str());
  if (info.max_batch > 0 && recipe.batch_size > info.max_batch) {
    throw Error("--batch-size " + std::to_string(recipe.batch_size) +
                " is above the compile-time maximum batch of " + std::to_string(info.max_batch) +
                " for model '" + info.name + "'; use a smaller batch or recompile");
  }

  Dataset train_data = load_pair(flags, "train", info.output_size, true);
  Dataset val_data = load_pair(flags, "val", info.output_size, false);
  Dataset test_data = load_pair(flags, "test", info.output_size, false);
  if (v.count("--steps")) {
    options.max_steps = parse_count("--steps", v.at("--steps"), 1);
    int64_t per_epoch = (train_data.n + recipe.batch_size - 1) / recipe.batch_size;
    recipe.epochs = int((options.max_steps + per_epoch - 1) / per_epoch);
  }
  if (v.count("--weights")) {
    load_weights(net, v.at("--weights"));
  } else {
    initialize(net, recipe.seed);
  }
  detail::DivergenceOptions divergence;
  divergence.skip_nonfinite = flags.switches.count("--skip-nonfinite") > 0;
  detail::fit_guarded(net, train_data, val_data.n ? &val_data : nullptr, options, divergence);
  if (test_data.n) {
    double loss = 0, accuracy = 0;
    evaluate(net, test_data, &loss, &accuracy);
    std::printf("test_loss: %.4f - test_accuracy: %.4f\n", loss, accuracy);
  }
  return 0;
}

int run(Network& net, const Flags& flags) {
  threads_from_environment();
  const ModelInfo& info = net.info();
  for (const char* required : {"--weights", "--input", "--output"}) {
    if (!flags.values.count(required)) {
      std::fprintf(stderr, "error: %s is required\n%s", required, kRunUsage);
      return 2;
    }
  }
  load_weights(net, flags.values.at("--weights"));
  const std::string& input = flags.values.at("--input");
  Dataset d = load_images(input);
  if (d.h != info.input_h || d.w != info.input_w || d.c != info.input_c) {
    throw Error(input + ": images are " + std::to_string(d.h) + "x" + std::to_string(d.w) + "x" +
                std::to_string(d.c) + " but model '" + info.name + "' takes " +
                std::to_string(info.input_h) + "x" + std::to_string(info.input_w) + "x" +
                std::to_string(info.input_c));
  }
  std::vector<float> out(static_cast<size_t>(d.n * info.output_size));
  if (d.n > 0) net.infer(d.images.data(), d.n, out.data());
  detail::write_npy(flags.values.at("--output"), "<f4", {d.n, info.output_size}, out.data());
  return 0;
}

}  // namespace

int train_main(Network& net, int argc, char** argv) {
  Flags flags;
  if (!parse_flags(argc, argv,
                   {"--train-images", "--train-labels", "--val-images", "--val-labels", "--weights",
                    "--epochs", "--steps", "--batch-size", "--seed", "--save", "--checkpoint",
                    "--resume", "--test-images", "--test-labels", "--dump-forward"},
                   {"--no-shuffle", "--skip-nonfinite"}, kTrainUsage, flags)) {
    return 2;
  }
  if (!flags.values.count("--train-images") || !flags.values.count("--train-labels")) {
    std::fprintf(stderr, "error: --train-images and --train-labels are required\n%s", kTrainUsage);
    return 2;
  }
  return guarded([&] { return train(net, flags); });
}

int run_main(Network& net, int argc, char** argv) {
  Flags flags;
  if (!parse_flags(argc, argv, {"--weights", "--input", "--output"}, {}, kRunUsage, flags)) {
    return 2;
  }
  return guarded([&] { return run(net, flags); });
}

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (halide_set_num_threads) halide_set_num_threads(n);
}

}  // namespace cnnc
