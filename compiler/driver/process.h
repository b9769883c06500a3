// Running the tools cnnc drives (the C++ compiler, ar) and finding its own files.
#pragma once

#include <string>
#include <vector>

namespace cnnc::driver {

// Runs argv[0] (looked up on PATH) with the arguments, without a shell.
// Returns its exit status; throws cnnc::Error if it cannot be started.
int run_process(const std::vector<std::string>& argv);
// Like run_process, but a non-zero status is an internal error naming `what`.
void run_checked(const std::vector<std::string>& argv, const std::string& what);

// Where the pieces a generated library is built from live: the build tree,
// or an installed tree found relative to the cnnc executable.
struct Toolchain {
  std::string cxx;              // C++ compiler for the generated sources
  std::string runtime_library;  // libcnnc_runtime.a
  std::string runtime_include;  // folder with cnnc_runtime.h and cnnc_kernel_abi.h
  std::string halide_include;   // folder with HalideRuntime.h
};
Toolchain find_toolchain();

// $CNNC_CACHE_DIR, else $XDG_CACHE_HOME/cnnc, else ~/.cache/cnnc.
std::string cache_dir();
// $CNNC_DATA_DIR, else <cache_dir>/data.
std::string data_dir();
// A file's size and modification time ("unknown" if missing).
std::string file_id(const std::string& path);
// Identifies this build of cnnc (size and time of the executable), so cached
// libraries are rebuilt when cnnc changes.
std::string build_id();

void write_file_atomic(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);  // throws cnnc::Error naming the file
void make_dirs(const std::string& path);

}  // namespace cnnc::driver
