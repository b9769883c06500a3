#include "runtime/src/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/include/cnnc_runtime.h"

namespace cnnc::detail {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit
constexpr int64_t kMaxDim = int64_t(1) << 40;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

std::vector<int64_t> read_shape(const std::string& path, const std::string& name, const json& j) {
  if (!j.is_array()) fail(path, "tensor '" + name + "': \"shape\" is not a list");
  std::vector<int64_t> shape;
  for (const json& d : j) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > kMaxDim) {
      fail(path, "tensor '" + name + "': shape " + j.dump() + " has an invalid dimension");
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

StoredTensor read_entry(const std::string& path, const std::string& name, const json& entry) {
  if (!entry.is_object()) fail(path, "tensor '" + name + "' is not described by an object");
  for (const auto& [key, value] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      fail(path, "tensor '" + name + "' has an unknown field \"" + key + "\"");
    }
  }
  if (!entry.contains("dtype") || !entry["dtype"].is_string()) {
    fail(path, "tensor '" + name + "' has no \"dtype\"");
  }
  std::string dtype = entry["dtype"].get<std::string>();
  if (dtype != "F32") {
    fail(path, "tensor '" + name + "' has dtype " + dtype +
                   "; cnnc reads only F32 tensors (convert the file to float32)");
  }
  if (!entry.contains("shape")) fail(path, "tensor '" + name + "' has no \"shape\"");
  StoredTensor t;
  t.shape = read_shape(path, name, entry["shape"]);
  const json& offsets = entry.contains("data_offsets") ? entry["data_offsets"] : json();
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail(path, "tensor '" + name + "': \"data_offsets\" must be two non-negative integers");
  }
  uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  if (end < begin) fail(path, "tensor '" + name + "': data_offsets end before they begin");
  uint64_t floats = 1;
  for (int64_t d : t.shape) {
    floats *= static_cast<uint64_t>(d);
    if (floats > (uint64_t(1) << 60)) fail(path, "tensor '" + name + "': shape is too large");
  }
  if (floats * sizeof(float) != end - begin) {
    fail(path, "tensor '" + name + "': shape " + shape_text(t.shape) + " needs " +
                   std::to_string(floats * sizeof(float)) + " bytes but data_offsets span " +
                   std::to_string(end - begin));
  }
  t.begin = begin;
  t.end = end;
  return t;
}

void check_layout(const std::string& path, const std::map<std::string, StoredTensor>& tensors,
                  size_t data_size) {
  std::vector<std::pair<const std::string*, const StoredTensor*>> order;
  for (const auto& [name, t] : tensors) order.push_back({&name, &t});
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second->begin != b.second->begin ? a.second->begin < b.second->begin
                                              : a.second->end < b.second->end;
  });
  size_t covered = 0;
  const std::string* previous = nullptr;
  for (const auto& [name, t] : order) {
    if (t->end > data_size) {
      fail(path, "tensor '" + *name + "' ends at byte " + std::to_string(t->end) +
                     " but the data section has only " + std::to_string(data_size) +
                     " bytes (truncated file?)");
    }
    if (t->begin < covered) {
      fail(path, "tensors '" + *previous + "' and '" + *name + "' overlap");
    }
    if (t->begin > covered) {
      fail(path, "data bytes " + std::to_string(covered) + ".." + std::to_string(t->begin) +
                     " belong to no tensor");
    }
    covered = t->end;
    previous = name;
  }
  if (covered != data_size) {
    fail(path, "the data section has " + std::to_string(data_size - covered) +
                   " bytes after the last tensor");
  }
}

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void SafetensorsFile::copy_tensor(const std::string& name, float* dst) const {
  const StoredTensor& t = tensors.at(name);
  if (t.end > t.begin) std::memcpy(dst, bytes.data() + data_start() + t.begin, t.end - t.begin);
}

SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(path, read_file(path));
}

SafetensorsFile parse_safetensors(const std::string& path, std::vector<char> bytes) {
  SafetensorsFile file;
  file.path = path;
  if (bytes.size() < 8) {
    fail(path, "only " + std::to_string(bytes.size()) +
                   " bytes: too short to be a safetensors file (truncated?)");
  }
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  if (header_length < 2 || header_length > kMaxHeaderBytes || header_length > bytes.size() - 8) {
    fail(path, "header length " + std::to_string(header_length) + " is not sane for a file of " +
                   std::to_string(bytes.size()) +
                   " bytes; the file is truncated, corrupted or not safetensors");
  }
  file.header_size = header_length;
  const char* header = bytes.data() + 8;
  if (header[0] != '{') fail(path, "the header does not start with '{'; not a safetensors file");
  json root;
  try {
    root = json::parse(header, header + header_length);
  } catch (const json::exception& e) {
    fail(path, std::string("the header is not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) fail(path, "the header is not a JSON object");
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail(path, "__metadata__ value '" + key + "' is not a string");
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    file.tensors[name] = read_entry(path, name, entry);
  }
  check_layout(path, file.tensors, bytes.size() - 8 - header_length);
  file.bytes = std::move(bytes);
  return file;
}

std::vector<Chunk> EncodedSafetensors::chunks() const {
  std::vector<Chunk> all = {{&header_length, 8}, {header.data(), header.size()}};
  all.insert(all.end(), data.begin(), data.end());
  return all;
}

EncodedSafetensors encode_safetensors(const std::vector<TensorToWrite>& tensors,
                                      const std::map<std::string, std::string>& metadata) {
  EncodedSafetensors out;
  json root = json::object();
  if (!metadata.empty()) root["__metadata__"] = metadata;
  size_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    size_t bytes = t.count * sizeof(float);
    root[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    out.data.push_back({t.data, bytes});
    offset += bytes;
  }
  out.header = root.dump();
  out.header.append((8 - out.header.size() % 8) % 8, ' ');
  out.header_length = out.header.size();
  return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, encode_safetensors(tensors, metadata).chunks());
}

}  // namespace cnnc::detail
