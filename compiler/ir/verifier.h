// Internal invariants of a Graph, checked after the frontend and after every
// pass. A failure is a compiler bug, never a user error: it throws
// std::logic_error naming the node and the broken invariant.
#pragma once

#include "compiler/ir/graph.h"

namespace cnnc::ir {

// Checks: nodes[i].id == i; nodes[0] is the only Input; inputs refer to earlier
// nodes (topological order); input counts match the op table; names are unique
// and non-empty; every node has a non-empty shape of positive extents; the
// output id is valid; input_shape matches the Input node.
void verify(const Graph& g);

}  // namespace cnnc::ir
