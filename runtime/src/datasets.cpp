// load_images / load_labels: IDX (MNIST's format) or .npy, told apart by content.
#include <cstdio>
#include <cstring>

#include "runtime/src/datasets.h"

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/file_io.h"
#include "runtime/src/npy.h"

namespace cnnc {

namespace {

using detail::NpyArray;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

enum class Kind { Idx, Npy };

Kind detect(const std::string& path, const std::vector<char>& bytes) {
  if (detail::looks_like_npy(bytes)) return Kind::Npy;
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
      static_cast<unsigned char>(bytes[1]) == 0x8b) {
    fail(path, "is gzip-compressed; decompress it first (gunzip -k " + path + ")");
  }
  if (bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0) return Kind::Idx;
  fail(path, "is neither an IDX file nor a .npy file");
}

// An IDX file of unsigned bytes with `rank` dimensions; returns the dimensions
// and leaves the data at bytes[4 + 4 * rank ...].
std::vector<int64_t> idx_dims(const std::string& path, const std::vector<char>& bytes, int rank) {
  if (bytes.size() < 4) fail(path, "truncated IDX header");
  int type = static_cast<unsigned char>(bytes[2]);
  int file_rank = static_cast<unsigned char>(bytes[3]);
  if (type != 0x08) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", type);
    fail(path, std::string("IDX element type ") + hex +
                   " is not supported; cnnc reads unsigned-byte (0x08) IDX files");
  }
  if (file_rank != rank) {
    fail(path, "is an IDX file with " + std::to_string(file_rank) + " dimensions; expected " +
                   std::to_string(rank) + (rank == 3 ? " (images: idx3)" : " (labels: idx1)"));
  }
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header) fail(path, "truncated IDX header");
  std::vector<int64_t> dims;
  uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data()) + 4 + 4 * i;
    uint32_t d = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    dims.push_back(d);
    count *= d;  // at most 2^32 * (bytes.size() + 1): no overflow
    if (count > bytes.size()) count = bytes.size() + 1;  // more than there can be
  }
  if (bytes.size() - header != count) {
    std::string promised = std::to_string(dims[0]);
    for (int i = 1; i < rank; ++i) promised += " x " + std::to_string(dims[size_t(i)]);
    fail(path, "IDX dimensions " + promised + " do not match the " +
                   std::to_string(bytes.size() - header) + " bytes of data in the file" +
                   (bytes.size() - header < count ? " (truncated?)" : ""));
  }
  return dims;
}

Dataset images_from_npy(const std::string& path, const NpyArray& a) {
  if (a.dtype != "<f4") {
    fail(path, "images must be float32 ('<f4'), not '" + a.dtype + "'");
  }
  if (a.shape.size() != 3 && a.shape.size() != 4) {
    fail(path, "images must have shape [N, H, W, C] or [N, H, W]; this array has " +
                   std::to_string(a.shape.size()) + " dimensions");
  }
  Dataset d;
  d.n = a.shape[0];
  d.h = a.shape[1];
  d.w = a.shape[2];
  d.c = a.shape.size() == 4 ? a.shape[3] : 1;
  d.images.resize(static_cast<size_t>(a.count()));
  if (!a.data.empty()) std::memcpy(d.images.data(), a.data.data(), a.data.size());
  return d;
}

std::vector<int32_t> labels_from_npy(const std::string& path, const NpyArray& a) {
  if (a.shape.size() != 1) {
    fail(path, "labels must have shape [N] (class indices); this array has " +
                   std::to_string(a.shape.size()) + " dimensions");
  }
  std::vector<int32_t> labels(static_cast<size_t>(a.shape[0]));
  if (a.dtype == "<i4") {
    if (!a.data.empty()) std::memcpy(labels.data(), a.data.data(), a.data.size());
  } else if (a.dtype == "<i8") {
    for (size_t i = 0; i < labels.size(); ++i) {
      int64_t v;
      std::memcpy(&v, a.data.data() + 8 * i, 8);
      if (v < INT32_MIN || v > INT32_MAX) {
        fail(path, "label " + std::to_string(i) + " = " + std::to_string(v) + " is out of range");
      }
      labels[i] = static_cast<int32_t>(v);
    }
  } else {
    fail(path, "labels must be int32 or int64, not '" + a.dtype + "'");
  }
  return labels;
}

}  // namespace

namespace detail {

Dataset parse_images(const std::string& path, const std::vector<char>& bytes) {
  if (detect(path, bytes) == Kind::Npy)
    return images_from_npy(path, detail::parse_npy(path, bytes));
  std::vector<int64_t> dims = idx_dims(path, bytes, 3);
  Dataset d;
  d.n = dims[0];
  d.h = dims[1];
  d.w = dims[2];
  d.c = 1;
  d.images.resize(bytes.size() - 16);
  const unsigned char* data = reinterpret_cast<const unsigned char*>(bytes.data()) + 16;
  for (size_t i = 0; i < d.images.size(); ++i) d.images[i] = data[i] / 255.0f;
  return d;
}

std::vector<int32_t> parse_labels(const std::string& path, const std::vector<char>& bytes) {
  if (detect(path, bytes) == Kind::Npy) return labels_from_npy(path, parse_npy(path, bytes));
  idx_dims(path, bytes, 1);
  std::vector<int32_t> labels(bytes.begin() + 8, bytes.end());
  for (int32_t& l : labels) l &= 0xff;  // char may be signed
  return labels;
}

}  // namespace detail

Dataset load_images(const std::string& path) {
  return detail::parse_images(path, detail::read_file(path));
}

void load_labels(Dataset& d, const std::string& path, int64_t classes) {
  std::vector<int32_t> labels = detail::parse_labels(path, detail::read_file(path));
  if (static_cast<int64_t>(labels.size()) != d.n) {
    fail(path, "has " + std::to_string(labels.size()) + " labels but the images number " +
                   std::to_string(d.n) + "; pass the labels that belong to those images");
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      fail(path, "label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                     ", outside [0, " + std::to_string(classes) + ") for a model with " +
                     std::to_string(classes) + " outputs");
    }
  }
  d.labels = std::move(labels);
}

}  // namespace cnnc
