// NumPy .npy arrays (internal): version 1/2 headers, C order, '<f4', '<i4', '<i8'.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::detail {

struct NpyArray {
  std::string dtype;  // "<f4", "<i4" or "<i8"
  std::vector<int64_t> shape;
  std::vector<char> data;  // element bytes, C order
  int64_t count() const;
};

bool looks_like_npy(const std::vector<char>& bytes);
NpyArray read_npy(const std::string& path);
NpyArray parse_npy(const std::string& path, const std::vector<char>& bytes);

// Writes a C-order array; dtype "<f4", "<i4" or "<i8"; data holds count() elements.
void write_npy(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape,
               const void* data);

}  // namespace cnnc::detail
