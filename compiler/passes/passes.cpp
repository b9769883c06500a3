// The pass table and the pass manager.
#include "compiler/passes/passes.h"

#include <sstream>

#include "compiler/ir/verifier.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::passes {

const std::vector<PassInfo>& all_passes() {
  static const std::vector<PassInfo> table = {
      {"remove_dropout", remove_dropout, true, false, "Dropout is the identity at inference"},
      {"fold_zero_padding", fold_zero_padding, true, true,
       "ZeroPadding2D before a Conv2D becomes its padding"},
      {"fold_batchnorm", fold_batchnorm, true, false,
       "BatchNormalization after a linear Conv2D/Dense folds into its kernel and bias"},
      {"fuse_activation", fuse_activation, true, true,
       "an Activation after a linear Conv2D/Dense (training: also BatchNorm, Add) becomes its "
       "epilogue"},
      {"fuse_batchnorm_add", fuse_batchnorm_add, false, true,
       "training: an Add (+ Activation) after a BatchNorm becomes its epilogue, reading the "
       "residual"},
      {"compose_1x1", compose_1x1, true, false,
       "a linear 1x1 Conv2D read only by a 1x1 Conv2D or Dense composes into it"},
      {"merge_parallel_1x1", merge_parallel_1x1, true, false,
       "1x1 convolutions reading one tensor with one stride become one convolution"},
      {"fuse_residual_add", fuse_residual_add, true, false,
       "an Add (+ Activation) after a linear Conv2D becomes its epilogue, reading the residual"},
      {"remove_dead_nodes", remove_dead_nodes, true, true, "nothing the output does not need"},
      // Not graph passes: choices of the lowering.
      {"gemm_1x1", nullptr, true, true, "1x1 stride-1 convolutions run as matrix products"},
      {"concat_in_place", nullptr, true, false,
       "a convolution read only by a Concatenate writes into its channels of the output"},
      {"pair_strided_1x1", nullptr, false, true,
       "one kernel for the data gradients of two strided 1x1 convolutions reading one tensor"},
      {"plan_memory", nullptr, true, true, "tensors that are not alive together share memory"},
  };
  return table;
}

std::vector<std::string> parse_pass_list(const std::string& spec) {
  std::vector<std::string> names;
  if (spec == "none") return names;
  if (spec == "all") {
    for (const PassInfo& p : all_passes()) names.push_back(p.name);
    return names;
  }
  std::stringstream in(spec);
  std::string name;
  while (std::getline(in, name, ',')) {
    bool known = false;
    for (const PassInfo& p : all_passes()) known = known || name == p.name;
    if (!known) {
      std::string list;
      for (const PassInfo& p : all_passes()) list += std::string(" ") + p.name;
      throw Error("--passes: unknown pass '" + name + "'; use all, none or a comma list of:" + list);
    }
    names.push_back(name);
  }
  return names;
}

bool pass_enabled(const std::vector<std::string>& enabled, const std::string& name) {
  for (const std::string& e : enabled) {
    if (e == name) return true;
  }
  return false;
}

std::vector<PassRun> run_passes(ir::Graph& g, const std::vector<std::string>& enabled,
                                const PassContext& ctx) {
  std::vector<PassRun> runs;
  for (const PassInfo& p : all_passes()) {
    if (!p.run || !(ctx.training ? p.for_training : p.for_inference)) continue;
    if (!pass_enabled(enabled, p.name)) continue;
    PassRun run{p.name, p.run(g, ctx)};
    if (run.changed) ir::verify(g);
    runs.push_back(run);
  }
  return runs;
}

}  // namespace cnnc::passes
