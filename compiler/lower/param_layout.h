// The parameter block: every variable of the graph at a fixed offset, in node
// order. Parameters, their gradients and the optimiser velocity share it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::lower {

struct ParamSlot {
  ir::Variable variable;
  int64_t offset = 0;  // floats
  int64_t size = 0;    // floats
  double l2 = 0.0;
  ir::Initializer init = ir::Initializer::Zeros;
  int64_t fan_in = 0, fan_out = 0;
};

struct ParamLayout {
  std::vector<ParamSlot> slots;
  std::map<std::string, int> index;  // variable name -> slot
  int64_t total_floats = 0;
  const ParamSlot& at(const std::string& name) const { return slots.at(index.at(name)); }
};

ParamLayout layout_params(const ir::Graph& g);

}  // namespace cnnc::lower
