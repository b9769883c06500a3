// Turns the "layers" list (and the modules it uses, expanded in place) into
// graph nodes: names, defaults, input resolution, module parameters.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "frontends/json/diagnostics.h"
#include "frontends/json/module_defs.h"

namespace cnnc::frontend {

// Where each node came from, to name it in later messages.
struct NodeOrigin {
  Site site;
};

// Appends a node for every layer of `layers` (at /layers) to g, whose node 0
// (the Input) must exist. Sets g->output. Layers with problems are reported and
// left out, and so are the layers that read them (silently). origins gets one
// entry per node.
void build_layers(const json& layers, const std::map<std::string, ModuleDef>& modules,
                  Diagnostics& d, ir::Graph* g, std::vector<NodeOrigin>* origins);

}  // namespace cnnc::frontend
