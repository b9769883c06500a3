// safetensors files with F32 tensors (internal): strict reading and writing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/src/file_io.h"

namespace cnnc::detail {

struct StoredTensor {
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // byte offsets into the data section
  size_t count() const { return (end - begin) / sizeof(float); }
};

// A fully validated safetensors file held in memory.
struct SafetensorsFile {
  std::string path;
  std::vector<char> bytes;  // the whole file
  size_t header_size = 0;   // JSON header bytes after the 8-byte length
  std::map<std::string, std::string> metadata;
  std::map<std::string, StoredTensor> tensors;

  size_t data_start() const { return 8 + header_size; }
  // Copies a tensor's floats to dst (count() floats).
  void copy_tensor(const std::string& name, float* dst) const;
};

// Reads and validates: header length, JSON, dtype F32, shapes matching sizes,
// offsets in range, contiguous and non-overlapping, no trailing bytes.
SafetensorsFile read_safetensors(const std::string& path);
SafetensorsFile parse_safetensors(const std::string& path, std::vector<char> bytes);

struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;
  size_t count;
};

// A file ready to be written: the length prefix, the header (padded with
// spaces to a multiple of 8) and the tensors' data in header order.
struct EncodedSafetensors {
  uint64_t header_length = 0;  // little-endian on disk
  std::string header;
  std::vector<Chunk> data;
  std::vector<Chunk> chunks() const;
};
EncodedSafetensors encode_safetensors(const std::vector<TensorToWrite>& tensors,
                                      const std::map<std::string, std::string>& metadata);
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata);

std::string shape_text(const std::vector<int64_t>& shape);  // "[3, 3, 1, 6]"

}  // namespace cnnc::detail
