// The whole pipeline of `cnnc compile`: model file -> graph -> program ->
// kernels (cached) -> generated C++ -> lib<name>.a + <name>.h in a folder.
#pragma once

#include <string>

namespace cnnc::driver {

struct BuildOptions {
  std::string model_path;
  std::string out_dir;
  std::string target = "host";
  int max_batch = 0;      // 0: the recipe's batch size
  bool training = true;   // also generate train_step
  bool verbose = true;    // say what is being compiled
  std::string passes = "all";  // --passes: all, none or a comma list
  int64_t memory_limit = 0;    // --memory-limit in bytes; 0: this machine's memory
  std::string tuning;          // --tuning: a file of `cnnc tune`, "" for the default schedules
};

// "512M", "4G", "1000000" -> bytes; throws cnnc::Error on anything else.
int64_t parse_bytes(const std::string& flag, const std::string& text);

struct BuiltModel {
  std::string name;
  std::string header;   // <out>/<name>.h
  std::string library;  // <out>/lib<name>.a
  int max_batch = 0;
};

BuiltModel build_model(const BuildOptions& options);

// The library for a model in the cnnc cache (built on first use), with a
// driver executable `<dir>/cnnc_model_driver` linked against it, as `cnnc run`
// and `cnnc train` use. Returns the driver's path.
std::string cached_driver(const BuildOptions& options);

}  // namespace cnnc::driver
