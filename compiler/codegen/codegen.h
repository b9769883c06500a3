// Emits the C++ of a generated model library: a self-contained public header
// (<name>.h: constants, the C++ Model class, a C API) and the source that calls
// the compiled kernels in order on the arena.
#pragma once

#include <map>
#include <string>

#include "compiler/ir/graph.h"
#include "compiler/kernels/kernel_spec.h"
#include "compiler/lower/param_layout.h"
#include "compiler/lower/program.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::codegen {

struct ModelSource {
  const ir::Graph& graph;
  const lower::Program& program;
  const lower::ParamLayout& params;
  const TrainRecipe& recipe;
  std::string source_file;  // the model file, named in comments
  // Compiled kernels by KernelSpec::key().
  const std::map<std::string, kernels::KernelSignature>& kernels;
  // The kernels run on a CUDA GPU: the generated code keeps parameters,
  // optimiser state and arena on the device (cnnc_cuda_abi.h).
  bool cuda = false;
};

std::string emit_header(const ModelSource& m);
std::string emit_source(const ModelSource& m);

}  // namespace cnnc::codegen
