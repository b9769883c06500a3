// The CUDA schedules, ahead of time on a machine without a GPU: every kernel
// kind compiles for the cuda target, and every stage runs on the device. The
// generated code gives a CUDA kernel device buffers only (no host memory), so
// the host part of a kernel may launch GPU loops but never copy a buffer back
// to the host or write one there. (Their numbers are checked by the other
// kernel tests run with CNNC_SCHEDULE_TARGET=host-cuda: see CMakeLists.txt.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_kernels.h"
#include "compiler/kernels/kernel_cache.h"
#include "tests/kernels/kernel_test_util.h"

namespace cnnc::testing {
namespace {

namespace fs = std::filesystem;

// One spec or more of every kind, with the odd shapes of the other tests.
std::vector<KernelSpec> every_kind() {
  std::vector<KernelSpec> v;
  for (Kind k : {Kind::Conv2D, Kind::Conv2DBackwardData, Kind::Conv2DBackwardFilter}) {
    for (const KernelSpec& s : conv_specs()) v.push_back(with_kind(s, k));
  }
  // A convolution the inference lowering gives to Winograd on a CPU.
  KernelSpec winograd = window_spec(Kind::Conv2D, 56, 56, 64, 64, 3, 3, 1, 1, true);
  winograd.conv_algo = kernels::ConvAlgo::WinogradF4;
  v.push_back(winograd);
  for (Kind k : {Kind::Dense, Kind::DenseBackwardData, Kind::DenseBackwardWeights}) {
    for (const KernelSpec& s : dense_specs()) v.push_back(with_kind(s, k));
  }
  // A second data gradient summed in place (a 1x1 convolution's input read twice).
  KernelSpec summed = with_kind(dense_specs()[0], Kind::DenseBackwardData);
  summed.rows_per_image = 49;
  summed.residual = true;
  v.push_back(summed);
  for (Kind k : {Kind::Pool2D, Kind::Pool2DBackward}) {
    for (const KernelSpec& s : pool_specs()) v.push_back(with_kind(s, k));
  }
  for (Kind k : {Kind::BatchNormInference, Kind::BatchNormTraining, Kind::BatchNormBackward}) {
    for (const KernelSpec& s : batch_norm_specs(k)) v.push_back(s);
  }
  // Training's fusions: a ReLU, and a residual before it.
  KernelSpec bn_relu = batch_norm_specs(Kind::BatchNormTraining)[0];
  bn_relu.act = Act::Relu;
  v.push_back(bn_relu);
  v.push_back(with_kind(bn_relu, Kind::BatchNormBackward));
  bn_relu.residual = true;
  v.push_back(bn_relu);
  // ResNet's projection shortcut: the reader normalises the residual's input.
  KernelSpec stats = batch_norm_specs(Kind::BatchNormTraining)[0], normalising = bn_relu;
  stats.stats_only = true;
  normalising.residual_bn = true;
  v.push_back(stats);
  v.push_back(normalising);
  // Its backward: the activation's derivative and both BatchNorms' sums, then
  // each BatchNorm's gradient from them.
  KernelSpec sums = with_kind(bn_relu, Kind::BatchNormGradSums);
  sums.batch_norms = 2;
  v.push_back(sums);
  KernelSpec given =
      with_kind(batch_norm_specs(Kind::BatchNormBackward)[0], Kind::BatchNormBackward);
  given.given_sums = true;
  v.push_back(given);
  for (Kind k : {Kind::LRN, Kind::LRNBackward}) v.push_back(with_kind(lrn_specs()[0], k));
  for (Kind k : {Kind::ZeroPad, Kind::ZeroPadBackward}) {
    v.push_back(with_kind(zero_pad_specs()[0], k));
  }
  KernelSpec flat;
  flat.in_h = 3, flat.in_w = 5, flat.in_c = 7, flat.out_c = 7, flat.rate = 0.25;
  for (Kind k :
       {Kind::Activation, Kind::ActivationBackward, Kind::Softmax, Kind::SoftmaxCrossEntropy,
        Kind::SgdUpdate, Kind::Dropout, Kind::DropoutBackward, Kind::Add}) {
    KernelSpec s = with_kind(flat, k);
    s.act = k == Kind::Activation || k == Kind::ActivationBackward ? Act::Tanh : Act::Relu;
    v.push_back(s);
    if (k == Kind::ActivationBackward) {
      s.residual = true;  // a second gradient contribution summed in
      v.push_back(s);
    }
  }
  KernelSpec copy = with_kind(flat, Kind::ChannelCopy);
  copy.in_c = 9, copy.out_c = 16, copy.channels = 4;
  v.push_back(copy);
  return v;
}

// The host code of a kernel built with `schedule`'s schedules for target t.
std::string lowered(const KernelSpec& s, const Halide::Target& t, const Halide::Target& schedule) {
  kernels::BuiltKernel k = kernels::build_kernel(s, schedule);
  const std::string path =
      (fs::temp_directory_path() / ("cnnc_gpu_" + std::to_string(getpid()) + ".stmt")).string();
  k.pipeline.compile_to_lowered_stmt(path, k.args, Halide::Text, t);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(path);
  return text;
}

TEST(GpuKernels, EveryKindCompilesForCudaWithEveryStageOnTheDevice) {
  kernels::detail::run_gpu_schedules_on_cpu(false);
  const Halide::Target cuda(kernels::kCudaTarget);
  std::vector<bool> seen(int(Kind::Add) + 1, false);
  for (const KernelSpec& s : every_kind()) {
    seen[int(s.kind)] = true;
    const std::string text = lowered(s, cuda, cuda);
    EXPECT_NE(text.find("halide_cuda_run("), std::string::npos) << s.key();
    EXPECT_EQ(text.find("halide_copy_to_host"), std::string::npos) << s.key() << "\n" << text;
    EXPECT_EQ(text.find("set_host_dirty"), std::string::npos) << s.key() << "\n" << text;
  }
  for (size_t k = 0; k < seen.size(); ++k) EXPECT_TRUE(seen[k]) << kernels::kind_name(Kind(k));
}

// The same check fails on a kernel with a stage left on the host.
TEST(GpuKernels, TheCheckSeesAHostStage) {
  kernels::detail::run_gpu_schedules_on_cpu(false);
  const Halide::Target cuda(kernels::kCudaTarget);
  // The CPU schedules compiled for the cuda target: every stage on the host.
  const std::string text =
      lowered(conv_specs()[0], cuda, Halide::Target(cuda).without_feature(Halide::Target::CUDA));
  EXPECT_EQ(text.find("halide_cuda_run("), std::string::npos);
  EXPECT_NE(text.find("halide_copy_to_host"), std::string::npos);
  EXPECT_NE(text.find("set_host_dirty"), std::string::npos);
}

TEST(GpuKernels, CudaIsPartOfTheKey) {
  const std::string dir = (fs::temp_directory_path() / "cnnc_gpu_key_test").string();
  kernels::KernelCache host(dir, "host"), cuda(dir, "cuda");
  EXPECT_TRUE(cuda.cuda());
  EXPECT_FALSE(host.cuda());
  EXPECT_NE(host.symbol(conv_specs()[0]), cuda.symbol(conv_specs()[0]));
  EXPECT_THROW(kernels::KernelCache(dir, "host-opencl"), std::invalid_argument);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cnnc::testing
