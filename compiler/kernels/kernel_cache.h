// Compiles kernel specs ahead of time into object files, cached on disk by a
// hash of (spec key, schedule version, target, Halide version). No Halide
// types here: the code generator includes this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/kernels/kernel_spec.h"

namespace cnnc::kernels {

// The schedule version of each kind of kernel, part of its cache key. Bump a
// kind's entry when its builder or schedule changes what it generates: that
// kind's old cache entries then stop matching, the other kinds stay cached
// (a cold cache costs minutes of Halide compilation per model). A change to
// code shared by several kinds (halide_util, conv_schedule) bumps each of them.
inline int schedule_version(Kind kind) {
  switch (kind) {
    case Kind::Conv2D:
      return 951;
    case Kind::Conv2DBackwardData:
      return 952;
    case Kind::Conv2DBackwardFilter:
      return 953;
    case Kind::Dense:
      return 922;
    case Kind::DenseBackwardData:
      return 923;
    case Kind::DenseBackwardWeights:
      return 921;
    case Kind::Pool2D:
      return 852;
    case Kind::Pool2DBackward:
      return 852;
    case Kind::Activation:
      return 852;
    case Kind::ActivationBackward:
      return 852;
    case Kind::Softmax:
      return 852;
    case Kind::SoftmaxCrossEntropy:
      return 33;
    case Kind::SgdUpdate:
      return 33;
    case Kind::BatchNormInference:
      return 33;
    case Kind::BatchNormTraining:
      return 938;
    case Kind::BatchNormBackward:
      return 939;
    case Kind::BatchNormGradSums:
      return 931;
    case Kind::Dropout:
      return 852;
    case Kind::DropoutBackward:
      return 852;
    case Kind::LRN:
      return 33;
    case Kind::LRNBackward:
      return 33;
    case Kind::ZeroPad:
      return 852;
    case Kind::ZeroPadBackward:
      return 852;
    case Kind::ChannelCopy:
      return 852;
    case Kind::Add:
      return 852;
    case Kind::WinogradWeights:
      return 33;
  }
  return 0;  // unreachable: every kind is listed (-Wswitch)
}
// The same for the GPU schedules (gpu_schedule.h), part of GPU targets' keys
// only: a change there leaves the CPU kernels cached.
inline constexpr int kGpuScheduleVersion = 4;

// What `--target cuda` means: PTX for compute capability 8.6 (the newest that
// Halide 14 emits; the driver compiles it for newer GPUs such as the H200's
// sm_90), and host code for any x86-64 CPU with AVX2 (the GPU machine's CPU
// may lack this one's AVX-512).
inline constexpr char kCudaTarget[] =
    "x86-64-linux-avx-avx2-f16c-fma-sse41-cuda-cuda_capability_86";

struct CompiledKernel {
  KernelSignature signature;
  std::string object_path;
};

// 64-bit FNV-1a, the cache's hash.
uint64_t fnv1a64(const std::string& text);

class KernelCache {
 public:
  // `target_string`: "host", "cuda" (kCudaTarget) or a Halide target string
  // ("x86-64-linux-avx2", "host-cuda-cuda_capability_61"). Creates cache_dir
  // if needed. Throws std::invalid_argument on a bad target.
  KernelCache(std::string cache_dir, std::string target_string);

  // Compiles on a miss: <cache_dir>/<symbol>.o and <symbol>.sig, each written
  // to a temporary file and renamed, so processes sharing the directory never
  // see half a file. Throws std::runtime_error when Halide fails.
  CompiledKernel get(const KernelSpec& spec);

  // The same for many specs (duplicates allowed); misses compile in up to
  // `jobs` forked processes at once. Results in the order of `specs`.
  std::vector<CompiledKernel> get_all(const std::vector<KernelSpec>& specs, int jobs);

  // The Halide runtime for this target, compiled once into the cache.
  std::string runtime_object();

  // The resolved target ("host" becomes the host's full target string).
  std::string target_string() const { return target_; }

  // The kernels run on a CUDA GPU.
  bool cuda() const { return cuda_; }

  // C symbol of a spec's kernel: cnnc_<kind>_<16 hex digits>.
  std::string symbol(const KernelSpec& spec) const;

  // Kernels compiled by this object (in this process or its children): lets
  // callers and tests tell hits from misses.
  int compilations() const { return compilations_; }

 private:
  bool is_cached(const std::string& symbol) const;
  // Builds and compiles in this process; writes the .o then the .sig.
  void compile(const KernelSpec& spec, const std::string& symbol) const;
  CompiledKernel entry(const KernelSpec& spec, const std::string& symbol) const;

  std::string dir_;
  std::string target_;
  bool cuda_ = false;
  int compilations_ = 0;
};

}  // namespace cnnc::kernels
