// The model's variables as safetensors tensors (internal; shared by weights
// files and checkpoints).
#pragma once

#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/safetensors.h"

namespace cnnc::detail {

std::vector<int64_t> param_shape(const ParamInfo& p);
// Every variable, named by ParamInfo.name, from `block` (params or velocity);
// only_trainable keeps the trainable ones; names get `prefix` in front.
std::vector<TensorToWrite> block_tensors(const ModelInfo& info, const float* block,
                                         const std::string& prefix, bool only_trainable);
// Every missing, mis-shaped or extra tensor of `file` against the variables;
// tensors whose name starts with `ignored_prefix` (if not empty) are not extra.
std::vector<std::string> variable_problems(const ModelInfo& info, const SafetensorsFile& file,
                                           const std::string& ignored_prefix);
// Copies the variables (already validated) into the parameter block.
void copy_variables(const ModelInfo& info, const SafetensorsFile& file, float* params);
// One Error listing the problems.
[[noreturn]] void refuse(const std::string& path, const std::string& what,
                         const std::vector<std::string>& problems);

}  // namespace cnnc::detail
