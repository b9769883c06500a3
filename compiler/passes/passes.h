// Graph passes: one per file, each `bool pass(Graph&, const PassContext&)`
// returning whether it changed the graph. The table in passes.cpp lists them in
// the order they run; the verifier runs after every pass that changed something.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::passes {

struct PassContext {
  bool training = false;       // the graph will be trained: keep what backward needs
  std::ostream* log = nullptr;  // one line per change, when set
};

bool remove_dropout(ir::Graph& g, const PassContext& ctx);
bool fold_zero_padding(ir::Graph& g, const PassContext& ctx);
bool fold_batchnorm(ir::Graph& g, const PassContext& ctx);
bool fuse_activation(ir::Graph& g, const PassContext& ctx);
bool fuse_batchnorm_add(ir::Graph& g, const PassContext& ctx);
bool compose_1x1(ir::Graph& g, const PassContext& ctx);
bool merge_parallel_1x1(ir::Graph& g, const PassContext& ctx);
bool fuse_residual_add(ir::Graph& g, const PassContext& ctx);
bool remove_dead_nodes(ir::Graph& g, const PassContext& ctx);

struct PassInfo {
  const char* name;
  // null: a lowering choice (gemm_1x1, concat_in_place, pair_strided_1x1, plan_memory)
  bool (*run)(ir::Graph&, const PassContext&);
  bool for_inference, for_training;
  const char* what;
};
const std::vector<PassInfo>& all_passes();

// "all", "none" or a comma-separated list of pass names. Throws cnnc::Error
// (exit 2) naming an unknown pass and listing the known ones.
std::vector<std::string> parse_pass_list(const std::string& spec);

bool pass_enabled(const std::vector<std::string>& enabled, const std::string& name);

struct PassRun {
  std::string pass;
  bool changed = false;
};
// Runs the enabled passes that apply (inference or training, from ctx) in table
// order, verifying the graph after each change.
std::vector<PassRun> run_passes(ir::Graph& g, const std::vector<std::string>& enabled,
                                const PassContext& ctx);

}  // namespace cnnc::passes
