// Small helpers shared by the emitters.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>

#include "compiler/codegen/codegen.h"

namespace cnnc::codegen {

// A double printed so that it reads back exactly ("0.0005", "1e-05", "2").
inline std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string emit_model_info(const ModelSource& m);

// The Model class of a CUDA library (emit_cuda_model.cpp); `statistics_floats`
// is the size of the moving statistics' backup.
void emit_cuda_model(const ModelSource& m, int64_t statistics_floats, std::ostringstream& s);

}  // namespace cnnc::codegen
