#include "compiler/passes/rewrite.h"

#include <stdexcept>

namespace cnnc::passes {

void replace_uses(ir::Graph& g, int from, int to) {
  for (ir::Node& n : g.nodes) {
    for (int& in : n.inputs) {
      if (in == from) in = to;
    }
  }
  if (g.output == from) g.output = to;
}

void remove_nodes(ir::Graph& g, const std::vector<bool>& dead) {
  std::vector<int> new_id(g.nodes.size(), -1);
  std::vector<ir::Node> kept;
  for (const ir::Node& n : g.nodes) {
    if (dead[n.id]) continue;
    new_id[n.id] = int(kept.size());
    kept.push_back(n);
  }
  for (ir::Node& n : kept) {
    n.id = new_id[n.id];
    for (int& in : n.inputs) {
      if (new_id[in] < 0) throw std::logic_error("remove_nodes: '" + n.name + "' reads a removed node");
      in = new_id[in];
    }
  }
  if (new_id[g.output] < 0) throw std::logic_error("remove_nodes: the output was removed");
  g.output = new_id[g.output];
  g.nodes = std::move(kept);
}

int single_user(const ir::Graph& g, int id) {
  if (id == g.output) return -1;
  std::vector<int> users = g.users(id);
  if (users.size() != 1) return -1;
  // A node listed twice among one reader's inputs counts as two uses.
  int uses = 0;
  for (int in : g.node(users[0]).inputs) uses += in == id;
  return uses == 1 ? users[0] : -1;
}

}  // namespace cnnc::passes
