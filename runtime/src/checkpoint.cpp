#include "runtime/src/checkpoint.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "runtime/src/weights.h"

namespace cnnc::detail {

namespace {

using nlohmann::json;

// The checksum is 64-bit FNV-1a over the whole file with these 16 hex digits
// set to '0'; FNV-1a changes with any single changed byte.
constexpr char kChecksumKey[] = "\"checksum\":\"fnv1a64:";
constexpr size_t kChecksumDigits = 16;

std::string number(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

std::string hex64(uint64_t v) {
  char buffer[20];
  std::snprintf(buffer, sizeof buffer, "%016" PRIx64, v);
  return buffer;
}

// Offset of the checksum digits in the file, or 0 if the header has none.
size_t find_checksum(const char* bytes, size_t size) {
  if (size < 8) return 0;
  uint64_t header_length;
  std::memcpy(&header_length, bytes, 8);
  std::string_view header(bytes + 8, std::min<uint64_t>(header_length, size - 8));
  size_t at = header.find(kChecksumKey);
  if (at == std::string_view::npos || header.find(kChecksumKey, at + 1) != std::string_view::npos) {
    return 0;
  }
  size_t digits = 8 + at + std::strlen(kChecksumKey);
  if (digits + kChecksumDigits >= 8 + header.size()) return 0;
  return digits;
}

uint64_t checksum_with_blank_field(const std::vector<Chunk>& chunks, size_t field) {
  static const char kZeros[kChecksumDigits + 1] = "0000000000000000";
  uint64_t hash = kFnvOffset;
  size_t position = 0;  // of the chunk's first byte in the file
  for (const Chunk& chunk : chunks) {
    const char* p = static_cast<const char*>(chunk.data);
    size_t end = position + chunk.size;
    // Split the chunk around the part of the field it overlaps.
    size_t blank_begin = std::min(std::max(field, position), end);
    size_t blank_end = std::min(std::max(field + kChecksumDigits, position), end);
    hash = fnv1a64(p, blank_begin - position, hash);
    hash = fnv1a64(kZeros, blank_end - blank_begin, hash);
    hash = fnv1a64(p + (blank_end - position), end - blank_end, hash);
    position = end;
  }
  return hash;
}

json history_json(const std::vector<EpochRecord>& history) {
  json list = json::array();
  for (const EpochRecord& r : history) {
    list.push_back({{"epoch", r.epoch},
                    {"loss", r.loss},
                    {"accuracy", r.accuracy},
                    {"val_loss", r.val_loss},
                    {"val_accuracy", r.val_accuracy},
                    {"seconds", r.seconds},
                    {"lr", r.lr},
                    {"has_val", r.has_val}});
  }
  return list;
}

std::vector<EpochRecord> parse_history(const std::string& text) {
  std::vector<EpochRecord> history;
  for (const json& j : json::parse(text)) {
    EpochRecord r;
    r.epoch = j.at("epoch").get<int>();
    r.loss = j.at("loss").get<double>();
    r.accuracy = j.at("accuracy").get<double>();
    r.val_loss = j.at("val_loss").get<double>();
    r.val_accuracy = j.at("val_accuracy").get<double>();
    r.seconds = j.at("seconds").get<double>();
    r.lr = j.at("lr").get<double>();
    r.has_val = j.at("has_val").get<bool>();
    history.push_back(r);
  }
  return history;
}

class MetadataReader {
 public:
  explicit MetadataReader(const SafetensorsFile& file) : file_(file) {}
  const std::string& text(const std::string& key) const {
    auto it = file_.metadata.find(key);
    if (it == file_.metadata.end()) {
      throw Error(file_.path + ": checkpoint metadata lacks '" + key + "'");
    }
    return it->second;
  }
  double real(const std::string& key) const {
    const std::string& s = text(key);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end)
      throw Error(file_.path + ": checkpoint metadata '" + key + "' is not a number");
    return v;
  }
  int64_t integer(const std::string& key) const {
    const std::string& s = text(key);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || v < 0) {
      throw Error(file_.path + ": checkpoint metadata '" + key + "' is not a count");
    }
    return v;
  }

 private:
  const SafetensorsFile& file_;
};

TrainingProgress parse_progress(const SafetensorsFile& file) {
  MetadataReader m(file);
  TrainingProgress p;
  try {
    p.epoch = static_cast<int>(m.integer("epoch"));
    p.batch_in_epoch = m.integer("batch_in_epoch");
    p.global_step = static_cast<uint64_t>(m.integer("global_step"));
    p.seed = std::strtoull(m.text("seed").c_str(), nullptr, 10);
    p.batch_size = static_cast<int>(m.integer("batch_size"));
    p.shuffle = m.text("shuffle") == "true";
    p.lr = m.real("lr");
    p.plateau_best = m.real("plateau_best");
    p.plateau_wait = static_cast<int>(m.integer("plateau_wait"));
    p.best_monitor = m.real("best_monitor");
    p.epoch_loss_sum = m.real("epoch_loss_sum");
    p.epoch_seconds = m.real("epoch_seconds");
    p.epoch_correct = m.integer("epoch_correct");
    p.epoch_seen = m.integer("epoch_seen");
    p.epoch_batches = m.integer("epoch_batches");
    p.history = parse_history(m.text("history"));
  } catch (const json::exception& e) {
    throw Error(file.path + ": checkpoint history is malformed (" + e.what() + ")");
  }
  return p;
}

}  // namespace

bool is_checkpoint(const SafetensorsFile& file) {
  auto it = file.metadata.find("format");
  return it != file.metadata.end() && it->second == kCheckpointFormat;
}

void verify_checkpoint_checksum(const SafetensorsFile& file) {
  size_t field = find_checksum(file.bytes.data(), file.bytes.size());
  auto stored = file.metadata.find("checksum");
  if (field == 0 || stored == file.metadata.end()) {
    throw Error(file.path + ": the checkpoint has no readable checksum; it is corrupted");
  }
  std::string digits(file.bytes.data() + field, kChecksumDigits);
  uint64_t actual = checksum_with_blank_field({{file.bytes.data(), file.bytes.size()}}, field);
  if (stored->second != "fnv1a64:" + digits || digits != hex64(actual)) {
    throw Error(file.path +
                ": checksum mismatch: the checkpoint is corrupted (use an earlier one)");
  }
}

void write_checkpoint(Network& net, const std::string& path, const TrainingProgress& p) {
  const ModelInfo& info = net.info();
  std::vector<TensorToWrite> tensors = block_tensors(info, net.params(), "", false);
  std::vector<TensorToWrite> velocity = block_tensors(info, net.velocity(), kOptimizerPrefix, true);
  tensors.insert(tensors.end(), velocity.begin(), velocity.end());
  std::map<std::string, std::string> metadata = {
      {"format", kCheckpointFormat},
      {"model", info.name},
      {"epoch", std::to_string(p.epoch)},
      {"batch_in_epoch", std::to_string(p.batch_in_epoch)},
      {"global_step", std::to_string(p.global_step)},
      {"seed", std::to_string(p.seed)},
      {"batch_size", std::to_string(p.batch_size)},
      {"shuffle", p.shuffle ? "true" : "false"},
      {"lr", number(p.lr)},
      {"plateau_best", number(p.plateau_best)},
      {"plateau_wait", std::to_string(p.plateau_wait)},
      {"best_monitor", number(p.best_monitor)},
      {"epoch_loss_sum", number(p.epoch_loss_sum)},
      {"epoch_seconds", number(p.epoch_seconds)},
      {"epoch_correct", std::to_string(p.epoch_correct)},
      {"epoch_seen", std::to_string(p.epoch_seen)},
      {"epoch_batches", std::to_string(p.epoch_batches)},
      {"history", history_json(p.history).dump()},
      {"checksum", "fnv1a64:" + std::string(kChecksumDigits, '0')},
  };
  EncodedSafetensors encoded = encode_safetensors(tensors, metadata);
  std::string head(reinterpret_cast<const char*>(&encoded.header_length), 8);
  head += encoded.header;
  size_t field = find_checksum(head.data(), head.size());
  if (field == 0) throw Error(path + ": internal error: no checksum field in the header", 1);
  std::string digits = hex64(checksum_with_blank_field(encoded.chunks(), field));
  encoded.header.replace(field - 8, kChecksumDigits, digits);
  write_file_atomic(path, encoded.chunks());
}

TrainingProgress read_checkpoint(Network& net, const std::string& path) {
  const ModelInfo& info = net.info();
  SafetensorsFile file = read_safetensors(path);
  if (!is_checkpoint(file)) {
    throw Error(path + ": not a cnnc checkpoint (no \"format\": \"" + kCheckpointFormat +
                "\" in its metadata); to start from plain weights use --weights");
  }
  verify_checkpoint_checksum(file);
  const std::string& model = MetadataReader(file).text("model");
  if (model != info.name) {
    throw Error(path + ": the checkpoint belongs to model '" + model + "', not '" + info.name +
                "'");
  }
  std::vector<std::string> problems = variable_problems(info, file, kOptimizerPrefix);
  for (const ParamInfo& p : info.params) {
    std::string name = kOptimizerPrefix + std::string(p.name);
    auto it = file.tensors.find(name);
    if (!p.trainable) {
      if (it != file.tensors.end()) problems.push_back("extra tensor '" + name + "'");
    } else if (it == file.tensors.end()) {
      problems.push_back("missing tensor '" + name + "'");
    } else if (it->second.shape != param_shape(p)) {
      problems.push_back("tensor '" + name + "' has shape " + shape_text(it->second.shape) +
                         ", the model needs " + shape_text(param_shape(p)));
    }
  }
  for (const auto& [name, tensor] : file.tensors) {
    if (name.rfind(kOptimizerPrefix, 0) != 0) continue;
    std::string variable = name.substr(std::strlen(kOptimizerPrefix));
    bool known = false;
    for (const ParamInfo& p : info.params) known = known || variable == p.name;
    if (!known) problems.push_back("extra tensor '" + name + "'");
  }
  if (!problems.empty()) refuse(path, "does not match model '" + info.name + "'", problems);
  TrainingProgress progress = parse_progress(file);
  copy_variables(info, file, net.params());
  float* velocity = net.velocity();
  std::memset(velocity, 0, info.param_floats * sizeof(float));
  for (const ParamInfo& p : info.params) {
    if (p.trainable) file.copy_tensor(kOptimizerPrefix + std::string(p.name), velocity + p.offset);
  }
  return progress;
}

}  // namespace cnnc::detail
