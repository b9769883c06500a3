// The arguments every layer type takes (model-format.md's layer table), as one
// table of (type, argument, kind, required, Keras default), and the reader that
// checks a layer object against it.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "frontends/json/diagnostics.h"

namespace cnnc::frontend {

// Keys every layer object may have besides its arguments.
inline const std::vector<std::string>& common_layer_keys() {
  static const std::vector<std::string> keys = {"type", "name", "inputs"};
  return keys;
}

// Argument names of one op, in table order.
std::vector<std::string> layer_argument_names(ir::OpKind op);

// Reads the arguments of a layer of kind `op` from `layer` (a JSON object)
// into *attrs, starting from Keras's defaults. Reports unknown, missing and bad
// arguments to `d` at `site` (the layer). Returns true when all were fine.
bool parse_layer_args(const json& layer, ir::OpKind op, const Site& site, Diagnostics& d,
                      ir::Attrs* attrs);

}  // namespace cnnc::frontend
