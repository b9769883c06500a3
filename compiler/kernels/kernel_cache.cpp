#include "compiler/kernels/kernel_cache.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "Halide.h"
#include "compiler/kernels/halide_kernels.h"

namespace cnnc::kernels {
namespace {

namespace fs = std::filesystem;

// Debian's libhalide14 is 14.0.0; part of every key so that a Halide upgrade
// never reuses old objects.
constexpr char kHalideVersion[] = "14.0.0";

std::string hex16(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// A name no other thread or process writes to.
std::string temp_path(const std::string& final_path) {
  static std::atomic<int> counter{0};
  return final_path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = temp_path(path);
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

std::string describe(const ArgDesc& a) {
  std::ostringstream out;
  out << "arg " << a.name << (a.is_output ? " out " : " in ");
  if (a.is_buffer) {
    out << "buffer " << a.dims << (a.is_int32 ? " int32_t" : " float");
  } else {
    out << "scalar " << a.scalar_type;
  }
  return out.str();
}

std::string signature_text(const KernelSpec& spec, const std::string& symbol,
                           const std::string& target, const std::string& schedule) {
  std::ostringstream out;
  out << "function " << symbol << "\nkey " << spec.key() << "\ntarget " << target << "\n"
      << "schedule " << schedule << "\n";
  for (const ArgDesc& a : kernel_args(spec)) out << describe(a) << "\n";
  return out.str();
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The rest of the first line of a file that starts with `prefix` ("" if none).
std::string line_after(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

}  // namespace

uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

KernelCache::KernelCache(std::string cache_dir, std::string target_string)
    : dir_(std::move(cache_dir)) {
  try {
    Halide::Target t = target_string == "host"   ? Halide::get_host_target()
                       : target_string == "cuda" ? Halide::Target(kCudaTarget)
                                                 : Halide::Target(target_string);
    target_ = t.to_string();
    cuda_ = t.has_feature(Halide::Target::CUDA);
  } catch (const Halide::Error& e) {
    throw std::invalid_argument(
        "unknown Halide target '" + target_string +
        "': use \"host\", \"cuda\" or a string such as x86-64-linux-avx2 (" + e.what() + ")");
  }
  if (Halide::Target(target_).has_gpu_feature() && !cuda_) {
    throw std::invalid_argument("target '" + target_string +
                                "': the only GPU API cnnc generates code for is CUDA");
  }
  fs::create_directories(dir_);
}

std::string KernelCache::symbol(const KernelSpec& spec) const {
  std::string key = spec.key() + "|schedule=" + std::to_string(schedule_version(spec.kind)) +
                    "|target=" + target_ + "|halide=" + kHalideVersion;
  if (cuda_) key += "|gpu_schedule=" + std::to_string(kGpuScheduleVersion);
  return std::string("cnnc_") + kind_name(spec.kind) + "_" + hex16(fnv1a64(key));
}

bool KernelCache::is_cached(const std::string& symbol) const {
  // The .sig is renamed into place after the .o: its presence means both are whole.
  const std::string sig = dir_ + "/" + symbol + ".sig";
  return fs::exists(sig) && fs::exists(dir_ + "/" + symbol + ".o") &&
         first_line(sig) == "function " + symbol;
}

CompiledKernel KernelCache::entry(const KernelSpec& spec, const std::string& symbol) const {
  CompiledKernel k;
  k.signature.function = symbol;
  k.signature.args = kernel_args(spec);
  k.signature.schedule = line_after(dir_ + "/" + symbol + ".sig", "schedule ");
  k.object_path = dir_ + "/" + symbol + ".o";
  return k;
}

void KernelCache::compile(const KernelSpec& spec, const std::string& symbol) const {
  const std::string object = dir_ + "/" + symbol + ".o";
  const std::string tmp = temp_path(object);
  std::string schedule;
  try {
    // Keep Halide's checks (no no_asserts): a failed check returns nonzero.
    const Halide::Target target = Halide::Target(target_).with_feature(Halide::Target::NoRuntime);
    BuiltKernel k = build_kernel(spec, target);
    k.pipeline.compile_to_object(tmp, k.args, symbol, target);
    schedule = k.schedule;
  } catch (const Halide::Error& e) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw std::runtime_error("Halide failed to compile kernel '" + spec.key() + "': " + e.what());
  }
  fs::rename(tmp, object);
  write_atomically(dir_ + "/" + symbol + ".sig", signature_text(spec, symbol, target_, schedule));
}

CompiledKernel KernelCache::get(const KernelSpec& spec) {
  const std::string sym = symbol(spec);
  if (!is_cached(sym)) {
    compile(spec, sym);
    ++compilations_;
  }
  return entry(spec, sym);
}

std::vector<CompiledKernel> KernelCache::get_all(const std::vector<KernelSpec>& specs, int jobs) {
  // Distinct misses, by symbol.
  std::map<std::string, const KernelSpec*> misses;
  for (const KernelSpec& s : specs) {
    const std::string sym = symbol(s);
    if (!misses.count(sym) && !is_cached(sym)) misses[sym] = &s;
  }
  // Halide's compiler keeps process-wide state (name counters, LLVM
  // initialisation), so parallel compiles run in forked children, never in
  // threads. A child that fails leaves its kernel missing; the loop below
  // then compiles it here, which reports the error.
  if (jobs > 1 && misses.size() > 1) {
    std::fflush(nullptr);
    std::vector<pid_t> running;  // waited for by pid: other children are not ours
    auto reap_oldest = [&]() {
      int status = 0;
      waitpid(running.front(), &status, 0);
      running.erase(running.begin());
    };
    for (const auto& [sym, spec] : misses) {
      if (static_cast<int>(running.size()) >= jobs) reap_oldest();
      const pid_t pid = fork();
      if (pid == 0) {
        int code = 0;
        try {
          compile(*spec, sym);
        } catch (...) {
          code = 1;
        }
        _exit(code);
      }
      if (pid < 0) break;  // no more processes: the rest compile below
      running.push_back(pid);
    }
    while (!running.empty()) reap_oldest();
  }
  for (const auto& [sym, spec] : misses) {
    if (!is_cached(sym)) compile(*spec, sym);
    ++compilations_;
  }
  std::vector<CompiledKernel> result;
  for (const KernelSpec& s : specs) result.push_back(entry(s, symbol(s)));
  return result;
}

std::string KernelCache::runtime_object() {
  const std::string path =
      dir_ + "/halide_runtime_" + hex16(fnv1a64(target_ + "|halide=" + kHalideVersion)) + ".o";
  if (fs::exists(path)) return path;
  const std::string tmp = temp_path(path);
  Halide::compile_standalone_runtime(tmp, Halide::Target(target_));
  fs::rename(tmp, path);
  return path;
}

}  // namespace cnnc::kernels
