// save_weights / load_weights.
#include "runtime/src/weights.h"

#include <set>

#include "runtime/src/checkpoint.h"

namespace cnnc {
namespace detail {

std::vector<int64_t> param_shape(const ParamInfo& p) {
  return std::vector<int64_t>(p.shape, p.shape + p.rank);
}

std::vector<TensorToWrite> block_tensors(const ModelInfo& info, const float* block,
                                         const std::string& prefix, bool only_trainable) {
  std::vector<TensorToWrite> tensors;
  for (const ParamInfo& p : info.params) {
    if (only_trainable && !p.trainable) continue;
    tensors.push_back({prefix + p.name, param_shape(p), block + p.offset, p.size});
  }
  return tensors;
}

std::vector<std::string> variable_problems(const ModelInfo& info, const SafetensorsFile& file,
                                           const std::string& ignored_prefix) {
  std::vector<std::string> problems;
  std::set<std::string> known;
  for (const ParamInfo& p : info.params) {
    known.insert(p.name);
    auto it = file.tensors.find(p.name);
    if (it == file.tensors.end()) {
      problems.push_back("missing tensor '" + std::string(p.name) + "' " +
                         shape_text(param_shape(p)));
    } else if (it->second.shape != param_shape(p)) {
      problems.push_back("tensor '" + std::string(p.name) + "' has shape " +
                         shape_text(it->second.shape) + ", the model needs " +
                         shape_text(param_shape(p)));
    }
  }
  for (const auto& [name, tensor] : file.tensors) {
    if (known.count(name)) continue;
    if (!ignored_prefix.empty() && name.compare(0, ignored_prefix.size(), ignored_prefix) == 0) {
      continue;
    }
    problems.push_back("extra tensor '" + name + "' " + shape_text(tensor.shape) +
                       " that the model does not have");
  }
  return problems;
}

void copy_variables(const ModelInfo& info, const SafetensorsFile& file, float* params) {
  for (const ParamInfo& p : info.params) file.copy_tensor(p.name, params + p.offset);
}

void refuse(const std::string& path, const std::string& what,
            const std::vector<std::string>& problems) {
  std::string message = path + ": " + what + ":";
  for (const std::string& problem : problems) message += "\n  " + problem;
  throw Error(message);
}

}  // namespace detail

void save_weights(Network& net, const std::string& path) {
  const ModelInfo& info = net.info();
  detail::write_safetensors(path, detail::block_tensors(info, net.params(), "", false),
                            {{"format", "cnnc-weights/1"}, {"model", info.name}});
}

void load_weights(Network& net, const std::string& path) {
  const ModelInfo& info = net.info();
  detail::SafetensorsFile file = detail::read_safetensors(path);
  bool is_checkpoint = detail::is_checkpoint(file);
  if (is_checkpoint) detail::verify_checkpoint_checksum(file);
  std::vector<std::string> problems = detail::variable_problems(
      info, file, is_checkpoint ? std::string(detail::kOptimizerPrefix) : std::string());
  if (!problems.empty()) {
    detail::refuse(path, "does not match model '" + info.name + "'", problems);
  }
  detail::copy_variables(info, file, net.params());
}

}  // namespace cnnc
