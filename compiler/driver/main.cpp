// cnnc: the command-line tool. compile, inspect, run, train, bench, tune.
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "compiler/driver/build_model.h"
#include "compiler/driver/datasets.h"
#include "compiler/driver/inspect.h"
#include "compiler/driver/process.h"
#include "compiler/driver/tune.h"
#include "compiler/ir/printer.h"
#include "frontends/json/json_frontend.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::driver {
namespace {

const char* kUsage =
    "usage:\n"
    "  cnnc compile MODEL.json -o DIR [--target host|cuda|HALIDE_TARGET] [--batch N]\n"
    "               [--inference-only] [--passes all|none|LIST] [--memory-limit SIZE]\n"
    "               [--tuning TUNING.json]\n"
    "  cnnc inspect MODEL.json [--passes all|none|LIST] [--batch N] [--dot]\n"
    "  cnnc run MODEL.json --weights W.safetensors --input X.npy --output Y.npy [--batch N]\n"
    "           [--tuning TUNING.json]\n"
    "  cnnc train MODEL.json [--dataset mnist|fashion-mnist] [--train-images X --train-labels Y]\n"
    "             [--val-images X --val-labels Y] [--weights W0.safetensors]\n"
    "             [--epochs N | --steps N] [--batch-size N] [--no-shuffle] [--seed N]\n"
    "             [--save W.safetensors] [--checkpoint CKPT] [--resume CKPT]\n"
    "             [--skip-nonfinite] [--passes LIST] [--memory-limit SIZE] [--dump-forward DIR]\n"
    "  cnnc bench MODEL.json [--batch N] [--iters K] [--train] [--passes LIST] [--json] "
    "[--profile]\n"
    "             [--tuning TUNING.json]\n"
    "  cnnc tune MODEL.json -o TUNING.json [--batch N] [--budget-seconds S] [--layers A,B,...]\n"
    "            [--target host] [--passes LIST]\n"
    "Environment: CNNC_CACHE_DIR (compiled kernels and models), CNNC_DATA_DIR (data sets),\n"
    "CNNC_NUM_THREADS (threads), CNNC_CXX (C++ compiler for generated code).\n"
    "run, train and bench take --target too; --target cuda: the kernels run on an NVIDIA GPU.\n";

struct Args {
  std::string command, model;
  std::vector<std::string> rest;  // everything after MODEL.json
};

Args parse_common(int argc, char** argv) {
  Args a;
  if (argc < 2) throw Error(std::string("no command given\n") + kUsage);
  a.command = argv[1];
  if (a.command == "--help" || a.command == "-h" || a.command == "help") return a;
  if (argc < 3 || argv[2][0] == '-') {
    throw Error("cnnc " + a.command + ": the model file (MODEL.json) is missing\n" + kUsage);
  }
  a.model = argv[2];
  for (int i = 3; i < argc; ++i) a.rest.push_back(argv[i]);
  return a;
}

// Takes "--flag VALUE" out of args; returns false if absent.
bool take_value(std::vector<std::string>& args, const std::string& flag, std::string* value) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != flag) continue;
    if (i + 1 >= args.size()) throw Error(flag + " needs a value\n" + kUsage);
    *value = args[i + 1];
    args.erase(args.begin() + long(i), args.begin() + long(i) + 2);
    return true;
  }
  return false;
}

bool take_flag(std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      args.erase(args.begin() + long(i));
      return true;
    }
  }
  return false;
}

int parse_int(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    long x = std::stol(v, &used);
    if (used == v.size() && x > 0 && x <= 1 << 20) return int(x);
  } catch (const std::exception&) {
  }
  throw Error(flag + " " + v + ": expected a positive whole number");
}

void refuse_leftovers(const std::string& command, const std::vector<std::string>& rest) {
  if (!rest.empty()) throw Error("cnnc " + command + ": unknown argument '" + rest[0] + "'\n" + kUsage);
}

void take_memory_limit(std::vector<std::string>& rest, BuildOptions* o) {
  std::string limit;
  if (take_value(rest, "--memory-limit", &limit)) o->memory_limit = parse_bytes("--memory-limit", limit);
}

int compile_command(Args& a) {
  BuildOptions o;
  o.model_path = a.model;
  std::string batch;
  if (!take_value(a.rest, "-o", &o.out_dir) && !take_value(a.rest, "--output", &o.out_dir)) {
    throw Error("cnnc compile: the output folder is missing: add -o DIR");
  }
  take_value(a.rest, "--target", &o.target);
  if (take_value(a.rest, "--batch", &batch)) o.max_batch = parse_int("--batch", batch);
  if (take_flag(a.rest, "--inference-only")) o.training = false;
  take_value(a.rest, "--passes", &o.passes);
  take_value(a.rest, "--tuning", &o.tuning);
  take_memory_limit(a.rest, &o);
  refuse_leftovers("compile", a.rest);
  BuiltModel built = build_model(o);
  std::cout << "wrote " << built.library << " and " << built.header << " (max batch "
            << built.max_batch << ")\n";
  return 0;
}

int inspect_command(Args& a) {
  InspectOptions o;
  o.model_path = a.model;
  std::string batch;
  take_value(a.rest, "--passes", &o.passes);
  if (take_value(a.rest, "--batch", &batch)) o.max_batch = parse_int("--batch", batch);
  o.dot = take_flag(a.rest, "--dot");
  refuse_leftovers("inspect", a.rest);
  inspect_model(o, std::cout);
  return 0;
}

// Runs the cached driver of a model with the given arguments (it replaces us).
int exec_driver(const BuildOptions& o, const std::string& mode, const std::vector<std::string>& rest) {
  std::string driver = cached_driver(o);
  std::vector<std::string> argv = {driver, mode};
  argv.insert(argv.end(), rest.begin(), rest.end());
  std::vector<char*> cargv;
  for (std::string& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  std::cout.flush();
  execv(driver.c_str(), cargv.data());
  throw Error("cannot start " + driver + ": " + std::strerror(errno));
}

int run_command(Args& a) {
  BuildOptions o;
  o.model_path = a.model;
  o.verbose = false;
  o.training = false;  // an inference library: no gradients, a smaller arena
  std::string batch;
  take_value(a.rest, "--target", &o.target);
  take_value(a.rest, "--passes", &o.passes);
  take_value(a.rest, "--tuning", &o.tuning);
  take_memory_limit(a.rest, &o);
  if (take_value(a.rest, "--batch", &batch)) o.max_batch = parse_int("--batch", batch);
  return exec_driver(o, "run", a.rest);
}

int bench_command(Args& a) {
  BuildOptions o;
  o.model_path = a.model;
  std::string batch;
  take_value(a.rest, "--target", &o.target);
  take_value(a.rest, "--passes", &o.passes);
  take_value(a.rest, "--tuning", &o.tuning);
  // The library is built for the benchmark's batch; it is passed on as well.
  for (size_t i = 0; i + 1 < a.rest.size(); ++i) {
    if (a.rest[i] == "--batch") o.max_batch = parse_int("--batch", a.rest[i + 1]);
  }
  bool train = false;
  for (const std::string& s : a.rest) train = train || s == "--train";
  o.training = train;
  return exec_driver(o, "bench", a.rest);
}

// "a,b,c" -> {"a", "b", "c"}
std::vector<std::string> split_list(const std::string& flag, const std::string& text) {
  std::vector<std::string> items;
  std::string item;
  for (char ch : text + ",") {
    if (ch != ',') {
      item += ch;
      continue;
    }
    if (item.empty())
      throw Error(flag + " " + text + ": expected a comma-separated list of layer names");
    items.push_back(item);
    item.clear();
  }
  return items;
}

int tune_command(Args& a) {
  TuneOptions o;
  o.model_path = a.model;
  std::string batch, budget, layers;
  if (!take_value(a.rest, "-o", &o.out_path) && !take_value(a.rest, "--output", &o.out_path)) {
    throw Error("cnnc tune: the tuning file to write is missing: add -o TUNING.json");
  }
  take_value(a.rest, "--target", &o.target);
  take_value(a.rest, "--passes", &o.passes);
  if (take_value(a.rest, "--batch", &batch)) o.batch = parse_int("--batch", batch);
  if (take_value(a.rest, "--budget-seconds", &budget)) {
    o.budget_seconds = parse_int("--budget-seconds", budget);
  }
  if (take_value(a.rest, "--layers", &layers)) o.layers = split_list("--layers", layers);
  refuse_leftovers("tune", a.rest);
  tune_model(o, std::cerr);
  return 0;
}

int train_command(Args& a) {
  BuildOptions o;
  o.model_path = a.model;
  std::string batch, dataset;
  take_value(a.rest, "--target", &o.target);
  take_value(a.rest, "--passes", &o.passes);
  take_memory_limit(a.rest, &o);
  // The library's largest batch is the training batch size.
  for (size_t i = 0; i + 1 < a.rest.size(); ++i) {
    if (a.rest[i] == "--batch-size") o.max_batch = parse_int("--batch-size", a.rest[i + 1]);
  }
  if (take_value(a.rest, "--dataset", &dataset)) {
    DatasetFiles files = resolve_dataset(dataset, data_dir());
    // The seed notes validate on the test split; it is reported at the end too.
    std::vector<std::string> data = {"--train-images", files.train_images,
                                     "--train-labels", files.train_labels,
                                     "--test-images",  files.test_images,
                                     "--test-labels",  files.test_labels};
    bool has_val = false;
    for (const std::string& s : a.rest) has_val = has_val || s == "--val-images";
    if (!has_val) {
      data.insert(data.end(), {"--val-images", files.test_images, "--val-labels",
                               files.test_labels});
    }
    a.rest.insert(a.rest.begin(), data.begin(), data.end());
  }
  return exec_driver(o, "train", a.rest);
}

}  // namespace
}  // namespace cnnc::driver

int main(int argc, char** argv) {
  using namespace cnnc::driver;
  try {
    Args a = parse_common(argc, argv);
    if (a.command == "compile") return compile_command(a);
    if (a.command == "inspect") return inspect_command(a);
    if (a.command == "run") return run_command(a);
    if (a.command == "train") return train_command(a);
    if (a.command == "bench") return bench_command(a);
    if (a.command == "tune") return tune_command(a);
    if (a.command == "--help" || a.command == "-h" || a.command == "help") {
      std::cout << kUsage;
      return 0;
    }
    throw cnnc::Error("unknown command '" + a.command + "'\n" + kUsage);
  } catch (const cnnc::Error& e) {
    std::cerr << "cnnc: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "cnnc: internal error: " << e.what() << "\n";
    return 70;
  }
}
