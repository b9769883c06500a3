#include "compiler/driver/datasets.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/file_io.h"

namespace cnnc::driver {

namespace {

namespace fs = std::filesystem;

constexpr const char* kKnown = "mnist, fashion-mnist";

DatasetFiles idx_files_in(const std::string& folder) {
  return {folder + "/train-images-idx3-ubyte", folder + "/train-labels-idx1-ubyte",
          folder + "/t10k-images-idx3-ubyte", folder + "/t10k-labels-idx1-ubyte"};
}

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool all_present(const DatasetFiles& f) {
  return is_file(f.train_images) && is_file(f.train_labels) && is_file(f.test_images) &&
         is_file(f.test_labels);
}

std::vector<char> gunzip(const std::string& path) {
  gzFile in = gzopen(path.c_str(), "rb");
  if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<char> out;
  char buffer[1 << 16];
  int got;
  while ((got = gzread(in, buffer, sizeof buffer)) > 0) out.insert(out.end(), buffer, buffer + got);
  int code = Z_OK;
  std::string message = got < 0 ? gzerror(in, &code) : "";
  gzclose(in);
  if (got < 0) {
    throw Error(path + ": cannot decompress (" + message +
                "); reinstall it with apt-get install --reinstall dataset-fashion-mnist");
  }
  return out;
}

// The decompressed bytes must be an unsigned-byte IDX file of the right rank and size.
void check_idx(const std::string& source, const std::vector<char>& bytes, int rank) {
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  bool ok = bytes.size() >= header && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08 &&
            bytes[3] == rank;
  uint64_t count = 1;
  for (int i = 0; ok && i < rank; ++i) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data()) + 4 + 4 * i;
    count *= (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
  }
  if (!ok || bytes.size() - header != count) {
    throw Error(source +
                ": does not hold a complete IDX file; reinstall it with "
                "apt-get install --reinstall dataset-fashion-mnist");
  }
}

}  // namespace

DatasetFiles resolve_fashion_mnist(const std::string& data_dir, const std::string& package_dir) {
  const std::string folder = data_dir + "/fashion-mnist";
  DatasetFiles files = idx_files_in(folder);
  if (all_present(files)) return files;
  const std::string names[4][2] = {{"train-images-idx3-ubyte", files.train_images},
                                   {"train-labels-idx1-ubyte", files.train_labels},
                                   {"t10k-images-idx3-ubyte", files.test_images},
                                   {"t10k-labels-idx1-ubyte", files.test_labels}};
  for (const auto& [name, target] : names) {
    if (!is_file(package_dir + "/" + name + ".gz")) {
      throw Error("fashion-mnist is not installed (" + package_dir + "/" + name +
                  ".gz is missing); install it with: apt-get install dataset-fashion-mnist");
    }
  }
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) {
    throw Error(folder + ": cannot create folder (" + error.message() +
                "); set CNNC_DATA_DIR to a writable folder");
  }
  // Each file appears whole or not at all (written to .tmp, then renamed), so
  // an interrupted run or a concurrent one leaves nothing half-written.
  for (const auto& [name, target] : names) {
    if (is_file(target)) continue;
    const std::string source = package_dir + "/" + name + ".gz";
    std::vector<char> bytes = gunzip(source);
    check_idx(source, bytes, name.find("idx3") != std::string::npos ? 3 : 1);
    detail::write_file_atomic(target, {{bytes.data(), bytes.size()}});
  }
  return files;
}

DatasetFiles resolve_dataset(const std::string& name, const std::string& data_dir) {
  if (name == "mnist") {
    const std::string folder = data_dir + "/mnist";
    DatasetFiles files = idx_files_in(folder);
    if (!all_present(files)) {
      throw Error("MNIST is not in " + folder +
                  "; fetch and convert it with: tools/fetch_mnist.sh " + folder +
                  " <build>/tools/cnnc_mnist_to_idx");
    }
    return files;
  }
  if (name == "fashion-mnist") return resolve_fashion_mnist(data_dir, kFashionMnistPackageDir);
  throw Error("unknown data set '" + name + "'; known data sets: " + kKnown);
}

}  // namespace cnnc::driver
