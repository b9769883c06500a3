// The "training" section of a model file, read into cnnc::TrainRecipe.
#pragma once

#include "frontends/json/diagnostics.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::frontend {

// Reads `training` (at /training) into *recipe, starting from its defaults;
// reports every unknown field and bad value.
void read_training(const json& training, Diagnostics& d, TrainRecipe* recipe);

}  // namespace cnnc::frontend
