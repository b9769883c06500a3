// Nodes the output does not depend on are never computed.
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {

bool remove_dead_nodes(ir::Graph& g, const PassContext& ctx) {
  std::vector<bool> live(g.nodes.size(), false);
  live[0] = live[g.output] = true;  // the Input node stays: it defines the model's input
  for (int id = g.output; id >= 0; --id) {
    if (!live[id]) continue;
    for (int in : g.node(id).inputs) live[in] = true;
  }
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (const ir::Node& n : g.nodes) {
    if (live[n.id]) continue;
    dead[n.id] = changed = true;
    if (ctx.log) *ctx.log << "remove_dead_nodes: removed '" << n.name << "'\n";
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace cnnc::passes
