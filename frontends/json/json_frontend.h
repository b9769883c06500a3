// The JSON frontend: reads a cnnc/1 model file (model-format.md) into a Graph
// with shapes inferred, modules expanded, and its training recipe.
#pragma once

#include <string>

#include "compiler/ir/graph.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::frontend {

struct Model {
  ir::Graph graph;  // verified, shapes set
  TrainRecipe recipe;
  bool has_training_section = false;
  std::string description;  // the optional top-level "description"
};

// Reads and parses a model file. Every problem found is one line of the thrown
// cnnc::Error (exit code 2), naming the file, the JSON path and the layer.
Model load_model_file(const std::string& path);

// Parses model text; `filename` only names the source in messages.
Model parse_model(const std::string& json_text, const std::string& filename);

}  // namespace cnnc::frontend
