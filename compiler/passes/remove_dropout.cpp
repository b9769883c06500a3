// Inference: Dropout is the identity, so its readers read its input.
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {

bool remove_dropout(ir::Graph& g, const PassContext& ctx) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (const ir::Node& n : g.nodes) {
    if (n.kind != ir::OpKind::Dropout) continue;
    if (ctx.training) continue;  // training draws masks: keep it
    replace_uses(g, n.id, n.inputs[0]);
    dead[n.id] = changed = true;
    if (ctx.log) *ctx.log << "remove_dropout: removed '" << n.name << "'\n";
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace cnnc::passes
