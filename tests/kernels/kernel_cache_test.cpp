// The AOT cache: a miss compiles an object and a signature, a second get is
// a hit, keys separate what differs and only that.
#include "compiler/kernels/kernel_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "tests/kernels/kernel_test_util.h"

namespace cnnc::testing {
namespace {

namespace fs = std::filesystem;

std::string make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "cnnc_cache_test_XXXXXX").string();
  return mkdtemp(pattern.data());
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

KernelSpec small_conv() { return window_spec(Kind::Conv2D, 7, 9, 3, 5, 3, 3, 1, 1, true); }

TEST(KernelCache, MissCompilesThenHits) {
  const std::string dir = make_temp_dir();
  kernels::KernelCache cache(dir, "host");
  const kernels::CompiledKernel first = cache.get(small_conv());
  EXPECT_EQ(cache.compilations(), 1);
  ASSERT_TRUE(fs::exists(first.object_path));
  EXPECT_EQ(first.signature.function.rfind("cnnc_conv2d_", 0), 0u);
  EXPECT_EQ(first.signature.function.size(), std::string("cnnc_conv2d_").size() + 16);
  // The object defines the symbol; the signature lists the arguments.
  EXPECT_NE(read_all(first.object_path).find(first.signature.function), std::string::npos);
  ASSERT_EQ(first.signature.args.size(), 4u);
  EXPECT_EQ(first.signature.args[3].name, "output");
  const auto mtime = fs::last_write_time(first.object_path);

  const kernels::CompiledKernel second = cache.get(small_conv());
  EXPECT_EQ(cache.compilations(), 1);
  EXPECT_EQ(second.object_path, first.object_path);
  EXPECT_EQ(fs::last_write_time(second.object_path), mtime);

  // Another cache object (another process, say) on the same directory hits too.
  kernels::KernelCache again(dir, "host");
  again.get(small_conv());
  EXPECT_EQ(again.compilations(), 0);
  // No temporary files are left behind.
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  fs::remove_all(dir);
}

TEST(KernelCache, GetAllCompilesDistinctMissesInParallel) {
  const std::string dir = make_temp_dir();
  kernels::KernelCache cache(dir, "host");
  cache.get(small_conv());
  KernelSpec pool = window_spec(Kind::Pool2D, 7, 9, 5, 5, 2, 2, 2, 2, true);
  KernelSpec dense = dense_spec(Kind::Dense, 13, 5, Act::Relu, true);
  const auto result = cache.get_all({pool, small_conv(), dense, pool}, 2);
  EXPECT_EQ(cache.compilations(), 3);  // the conv was a hit, pool counted once
  ASSERT_EQ(result.size(), 4u);
  EXPECT_EQ(result[0].signature.function, result[3].signature.function);
  for (const auto& k : result) EXPECT_TRUE(fs::exists(k.object_path)) << k.object_path;
  EXPECT_EQ(result[2].signature.function.rfind("cnnc_dense_", 0), 0u);

  const std::string runtime = cache.runtime_object();
  EXPECT_TRUE(fs::exists(runtime));
  EXPECT_EQ(cache.runtime_object(), runtime);
  fs::remove_all(dir);
}

TEST(KernelCache, KeysSeparateTargetsAndRelevantFieldsOnly) {
  const std::string dir = make_temp_dir();
  kernels::KernelCache host(dir, "host"), avx2(dir, "x86-64-linux-avx2");
  EXPECT_NE(host.target_string(), "host");
  EXPECT_NE(host.symbol(small_conv()), avx2.symbol(small_conv()));
  KernelSpec relu = small_conv();
  relu.act = Act::Relu;
  EXPECT_NE(host.symbol(relu), host.symbol(small_conv()));
  // Backward data has no activation: the field must not split the cache.
  KernelSpec a = with_kind(small_conv(), Kind::Conv2DBackwardData);
  KernelSpec b = a;
  b.act = Act::Tanh;
  EXPECT_EQ(a.key(), b.key());
  EXPECT_THROW(kernels::KernelCache(dir, "not-a-target"), std::invalid_argument);
  fs::remove_all(dir);
}

// Every kind added after LeNet-5 compiles ahead of time (uint64 scalars,
// rfactor reductions, strided channel windows), for a named target.
TEST(KernelCache, LayerKindsCompileAheadOfTime) {
  const std::string dir = make_temp_dir();
  kernels::KernelCache cache(dir, "x86-64-linux-avx2");
  std::vector<KernelSpec> specs;
  for (Kind kind : {Kind::BatchNormInference, Kind::BatchNormTraining, Kind::BatchNormBackward})
    specs.push_back(batch_norm_spec(kind, 13, true, false));
  KernelSpec dropout = with_kind(lrn_specs()[0], Kind::Dropout);
  dropout.rate = 0.5;
  specs.push_back(dropout);
  specs.push_back(with_kind(dropout, Kind::DropoutBackward));
  specs.push_back(lrn_specs()[1]);
  specs.push_back(with_kind(lrn_specs()[1], Kind::LRNBackward));
  specs.push_back(zero_pad_specs()[0]);
  specs.push_back(with_kind(zero_pad_specs()[0], Kind::ZeroPadBackward));
  KernelSpec copy = zero_pad_specs()[1];
  copy.kind = Kind::ChannelCopy, copy.channels = 5, copy.out_c = 20;
  specs.push_back(copy);
  specs.push_back(with_kind(lrn_specs()[0], Kind::Add));
  KernelSpec sums = batch_norm_spec(Kind::BatchNormGradSums, 13, true, true);  // compute_with
  sums.act = Act::Relu, sums.batch_norms = 2, sums.residual = true;
  specs.push_back(sums);
  const auto result = cache.get_all(specs, 2);
  ASSERT_EQ(result.size(), specs.size());
  for (const auto& k : result) EXPECT_TRUE(fs::exists(k.object_path)) << k.object_path;
  const std::string sig = read_all(dir + "/" + result[3].signature.function + ".sig");
  EXPECT_NE(sig.find("arg seed in scalar uint64_t"), std::string::npos) << sig;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cnnc::testing
