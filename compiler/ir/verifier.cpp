#include "compiler/ir/verifier.h"

#include <set>
#include <stdexcept>

namespace cnnc::ir {
namespace {

[[noreturn]] void fail(const Graph& g, const Node& n, const std::string& what) {
  throw std::logic_error("internal error: graph \"" + g.name + "\" node %" + std::to_string(n.id) +
                         " " + op_name(n.kind) + " \"" + n.name + "\": " + what);
}

}  // namespace

void verify(const Graph& g) {
  if (g.nodes.empty() || g.nodes[0].kind != OpKind::Input) {
    throw std::logic_error("internal error: graph \"" + g.name +
                           "\" must start with an Input node");
  }
  if (g.output < 0 || g.output >= static_cast<int>(g.nodes.size())) {
    throw std::logic_error("internal error: graph \"" + g.name + "\" has output id " +
                           std::to_string(g.output) + " out of range");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.id != static_cast<int>(i))
      fail(g, n, "id differs from its position " + std::to_string(i));
    if (i > 0 && n.kind == OpKind::Input) fail(g, n, "a second Input node");
    if (n.name.empty()) fail(g, n, "empty name");
    if (!names.insert(n.name).second) fail(g, n, "duplicate name");
    const int count = static_cast<int>(n.inputs.size());
    const int max_in =
        op_max_inputs(n.kind) < 0 ? -1 : op_max_inputs(n.kind) + op_fused_inputs(n.kind);
    if (count < op_min_inputs(n.kind) || (max_in >= 0 && count > max_in)) {
      fail(g, n, std::to_string(count) + " inputs, outside the op table's arity");
    }
    for (int in : n.inputs) {
      if (in < 0 || in >= n.id)
        fail(g, n, "input %" + std::to_string(in) + " is not an earlier node");
    }
    if (n.shape.empty()) fail(g, n, "no shape (run infer_shapes)");
    if (residual_input(n) >= 0 && g.node(residual_input(n)).shape != n.shape) {
      fail(g, n, "its residual's shape differs from its output's");
    }
    for (int64_t d : n.shape) {
      if (d <= 0) fail(g, n, "shape " + shape_str(n.shape) + " has a non-positive extent");
    }
  }
  if (g.nodes[0].shape != g.input_shape) {
    fail(g, g.nodes[0], "shape differs from the graph's input_shape " + shape_str(g.input_shape));
  }
}

}  // namespace cnnc::ir
