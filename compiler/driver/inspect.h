// `cnnc inspect`: the model as written, what the passes made of it, and the
// memory its arena needs.
#pragma once

#include <ostream>
#include <string>

namespace cnnc::driver {

struct InspectOptions {
  std::string model_path;
  std::string passes = "all";
  int max_batch = 0;  // 0: the recipe's batch size
  bool dot = false;   // Graphviz of the inference graph after passes instead
};

void inspect_model(const InspectOptions& options, std::ostream& out);

}  // namespace cnnc::driver
