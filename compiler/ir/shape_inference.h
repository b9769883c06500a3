// Shape inference: output shapes of every node, and "same"/"valid" padding
// resolved into explicit Attrs::pads with model-format.md's rule.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::ir {

// A shape that does not fit, found in node `node`. The message says what is
// wrong and what to do, without naming the layer (the caller knows how to).
struct ShapeError {
  int node = -1;
  std::string message;
};

// Sets the shape of every node (and the pads of Conv2D / pools). A node whose
// shapes do not fit gets an empty shape and one error; nodes that read a node
// without a shape are skipped silently, so one mistake is reported once.
// Returns true when every node got a shape.
bool infer_shapes(Graph& g, std::vector<ShapeError>* errors);

// As above, for passes: a shape that does not fit is a compiler bug there, so
// it throws std::logic_error naming the node.
void infer_shapes(Graph& g);

// "same" padding for one axis: out = ceil(in / stride), the total padding
// max((out - 1) * stride + k - in, 0), the smaller half before.
void same_padding(int64_t in, int64_t k, int64_t stride, int64_t* out, int64_t* before,
                  int64_t* after);

}  // namespace cnnc::ir
