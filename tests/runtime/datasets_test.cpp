// resolve_dataset: known names, missing data sets, fashion-mnist unpacked once.
#include "compiler/driver/datasets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using driver::DatasetFiles;
using ::testing::HasSubstr;

void write_gz(const std::string& path, const std::vector<char>& bytes) {
  gzFile out = gzopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(out);
}

std::vector<char> idx(int rank, uint32_t n) {
  std::vector<char> bytes = {0, 0, 0x08, static_cast<char>(rank)};
  std::vector<uint32_t> dims = rank == 3 ? std::vector<uint32_t>{n, 2, 2} : std::vector{n};
  size_t count = 1;
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(d >> shift));
    count *= d;
  }
  bytes.insert(bytes.end(), count, 1);
  return bytes;
}

TEST(Datasets, UnknownNameListsTheKnownOnes) {
  EXPECT_THAT(error_of([] { driver::resolve_dataset("cifar10", "/tmp"); }),
              HasSubstr("known data sets: mnist, fashion-mnist"));
}

TEST(Datasets, MnistMissingSaysHowToFetchIt) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { driver::resolve_dataset("mnist", dir.path("data")); }),
              HasSubstr("tools/fetch_mnist.sh " + dir.path("data") + "/mnist"));
  std::filesystem::create_directories(dir.path("data/mnist"));
  for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    write_bytes(dir.path("data/mnist/") + name, idx(1, 1));
  }
  DatasetFiles files = driver::resolve_dataset("mnist", dir.path("data"));
  EXPECT_EQ(files.test_labels, dir.path("data/mnist/t10k-labels-idx1-ubyte"));
}

TEST(Datasets, FashionMnistIsUnpackedOnce) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("pkg"));
  EXPECT_THAT(error_of([&] { driver::resolve_fashion_mnist(dir.path("data"), dir.path("pkg")); }),
              HasSubstr("apt-get install dataset-fashion-mnist"));
  write_gz(dir.path("pkg/train-images-idx3-ubyte.gz"), idx(3, 5));
  write_gz(dir.path("pkg/train-labels-idx1-ubyte.gz"), idx(1, 5));
  write_gz(dir.path("pkg/t10k-images-idx3-ubyte.gz"), idx(3, 2));
  std::vector<char> cut = idx(1, 2);
  cut.pop_back();
  write_gz(dir.path("pkg/t10k-labels-idx1-ubyte.gz"), cut);
  EXPECT_THAT(error_of([&] { driver::resolve_fashion_mnist(dir.path("data"), dir.path("pkg")); }),
              HasSubstr("complete IDX"));
  write_gz(dir.path("pkg/t10k-labels-idx1-ubyte.gz"), idx(1, 2));
  DatasetFiles files = driver::resolve_fashion_mnist(dir.path("data"), dir.path("pkg"));
  Dataset train = load_images(files.train_images);
  load_labels(train, files.train_labels, 10);
  EXPECT_EQ(train.n, 5);
  EXPECT_FALSE(file_exists(files.test_labels + ".tmp"));
  // Once unpacked, the package is no longer needed.
  std::filesystem::remove_all(dir.path("pkg"));
  EXPECT_EQ(driver::resolve_fashion_mnist(dir.path("data"), dir.path("pkg")).train_images,
            files.train_images);
}

TEST(Datasets, RealFashionMnistPackageWhenInstalled) {
  if (!file_exists(std::string(driver::kFashionMnistPackageDir) + "/t10k-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  TempDir dir;
  DatasetFiles files = driver::resolve_dataset("fashion-mnist", dir.path("data"));
  Dataset test = load_images(files.test_images);
  load_labels(test, files.test_labels, 10);
  EXPECT_EQ(test.n, 10000);
  EXPECT_EQ(test.h, 28);
}

}  // namespace
}  // namespace cnnc::testing
