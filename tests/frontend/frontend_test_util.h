// Helpers shared by the frontend tests: small models as JSON, parse results.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "frontends/json/json_frontend.h"

namespace cnnc::frontend::testing {

using nlohmann::json;

// The repository root, for models/ and tests/frontend/malformed/.
std::string source_dir();
std::string read_text(const std::string& path);

// {"format": "cnnc/1", "name": "m", "input": {"shape": [h, w, c]}, "layers": layers}
json model_json(const json& layers, int h = 8, int w = 8, int c = 1);

// Parses a model that must be valid (fails the test with the message otherwise).
Model parse_ok(const json& model);
// Parses a model that must be refused; returns the message (exit code checked).
std::string parse_error(const json& model);

}  // namespace cnnc::frontend::testing
