// File helpers shared by the runtime's readers and writers (internal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::detail {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "cnnc's file formats are little-endian; a big-endian host needs byte swapping");

// The whole file; an Error naming the file if it cannot be read.
std::vector<char> read_file(const std::string& path);

// A byte range to write, in order.
struct Chunk {
  const void* data;
  size_t size;
};

// Writes the chunks to <path>.tmp, fsyncs it, renames it over path and fsyncs
// the folder, so that path holds either the old or the complete new file.
void write_file_atomic(const std::string& path, const std::vector<Chunk>& chunks);

// 64-bit FNV-1a; any single changed byte changes the result.
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
uint64_t fnv1a64(const void* data, size_t size, uint64_t hash = kFnvOffset);

// "train.safetensors" -> "train"; "a/b" -> "a/b".
std::string path_stem(const std::string& path);

}  // namespace cnnc::detail
