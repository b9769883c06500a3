// Text forms of a Graph: a deterministic one-line-per-node dump for tests and
// debugging, and a Keras-like summary for `cnnc inspect`.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "compiler/ir/graph.h"

namespace cnnc::ir {

// One line per node, then the output:
//   %0 = Input "input" () -> 28x28x1
//   %1 = Conv2D "conv1" (%0) filters=6 kernel=5x5 stride=1x1 pads=2,2,2,2 act=tanh bias -> 28x28x6
//   output %1
// pads are top,bottom,left,right. Attributes at their defaults that rarely
// change (l2=0, init=glorot_uniform) are left out.
void print_graph(const Graph& g, std::ostream& os);
std::string graph_to_string(const Graph& g);

// The attribute text of one node (what follows "(inputs)" in print_graph).
std::string node_attrs_str(const Node& n);

// Parameter totals, counted like Keras's model.summary().
struct ParamCounts {
  int64_t trainable = 0;
  int64_t non_trainable = 0;
  int64_t total() const { return trainable + non_trainable; }
};
int64_t node_param_count(const Graph& g, const Node& n);
ParamCounts graph_param_counts(const Graph& g);
int64_t graph_macs(const Graph& g);

// Per layer: name, type, output shape, parameters, MACs (per image); then the
// totals. Needs shapes (run infer_shapes first).
void print_summary(const Graph& g, std::ostream& os);

// 138357544 -> "138,357,544".
std::string with_commas(int64_t value);

}  // namespace cnnc::ir
