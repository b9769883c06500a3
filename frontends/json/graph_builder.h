// Turns the "layers" list (and the modules it uses, expanded in place) into
// graph nodes: names, defaults, input resolution, module parameters.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "frontends/json/diagnostics.h"

namespace cnnc::frontend {

// A module definition from the "modules" section, checked once.
struct ModuleDef {
  std::vector<std::string> params;
  const json* layers = nullptr;  // non-empty array
  bool ok = false;               // false: its definition was already reported
};

// Reads and checks the "modules" object (at /modules).
std::map<std::string, ModuleDef> read_modules(const json& modules, Diagnostics& d);

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
