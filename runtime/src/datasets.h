// Image and label readers from bytes already in memory (internal): IDX
// (MNIST's format) or .npy, told apart by content. `path` only names the
// source in messages. load_images / load_labels read a file and call these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"

namespace cnnc::detail {

Dataset parse_images(const std::string& path, const std::vector<char>& bytes);
// The labels as stored; load_labels checks the count and the class range.
std::vector<int32_t> parse_labels(const std::string& path, const std::vector<char>& bytes);

}  // namespace cnnc::detail
