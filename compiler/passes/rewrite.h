// Graph surgery shared by the passes (internal to compiler/passes).
#pragma once

#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::passes {

// Makes every reader of node `from` read node `to` instead (and the graph
// output, if it was `from`).
void replace_uses(ir::Graph& g, int from, int to);

// Removes the nodes marked in `dead` (none may still be read) and renumbers the
// rest, keeping their order; ids, inputs and the output follow.
void remove_nodes(ir::Graph& g, const std::vector<bool>& dead);

// The single reader of node `id`, or -1 when it has none or several (or is the
// graph output, which the caller reads).
int single_user(const ir::Graph& g, int id);

}  // namespace cnnc::passes
