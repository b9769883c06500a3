#include "compiler/driver/process.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/include/cnnc_runtime.h"

extern char** environ;

namespace cnnc::driver {
namespace fs = std::filesystem;

int run_process(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) {
    throw Error("cannot run '" + argv[0] + "': " + std::strerror(rc) +
                "; install it or set CNNC_CXX to a C++ compiler");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error("waiting for '" + argv[0] + "' failed");
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void run_checked(const std::vector<std::string>& argv, const std::string& what) {
  int rc = run_process(argv);
  if (rc != 0) {
    throw Error("internal error: " + what + " failed (" + argv[0] + " exited with " +
                    std::to_string(rc) + ")",
                70);
  }
}

namespace {

std::string self_path() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace

Toolchain find_toolchain() {
  Toolchain t;
  t.cxx = env_or("CNNC_CXX", CNNC_DEFAULT_CXX);
  t.halide_include = CNNC_HALIDE_INCLUDE;
  // Installed layout: <prefix>/bin/cnnc, <prefix>/lib/cnnc/, <prefix>/include/cnnc/.
  fs::path prefix = fs::path(self_path()).parent_path().parent_path();
  if (fs::exists(prefix / "lib/cnnc/libcnnc_runtime.a")) {
    t.runtime_library = (prefix / "lib/cnnc/libcnnc_runtime.a").string();
    t.runtime_include = (prefix / "include/cnnc").string();
  } else {
    t.runtime_library = CNNC_BUILD_RUNTIME_LIBRARY;
    t.runtime_include = CNNC_SOURCE_RUNTIME_INCLUDE;
  }
  if (!fs::exists(t.runtime_library)) {
    throw Error("cnnc's runtime library is missing (looked for " + t.runtime_library +
                "); rebuild or reinstall cnnc");
  }
  return t;
}

std::string cache_dir() {
  if (const char* v = std::getenv("CNNC_CACHE_DIR"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return std::string(v) + "/cnnc";
  return env_or("HOME", "/tmp") + "/.cache/cnnc";
}

std::string data_dir() { return env_or("CNNC_DATA_DIR", cache_dir() + "/data"); }

std::string file_id(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return "unknown";
  return std::to_string(st.st_size) + "-" + std::to_string(st.st_mtime);
}

std::string build_id() { return file_id(self_path()); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw Error("cannot create folder " + path + ": " + ec.message());
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out << contents;
    if (!out) throw Error("cannot write " + tmp + ": check that the folder is writable");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the file; check the path");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace cnnc::driver
