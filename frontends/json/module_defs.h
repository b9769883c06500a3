// The "modules" section: reusable, parameterised lists of layers, checked once
// here and expanded at every use by the graph builder.
#pragma once

#include <map>
#include <string>
#include <vector>

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

}  // namespace cnnc::frontend
