#include "tests/frontend/frontend_test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace cnnc::frontend::testing {

std::string source_dir() { return CNNC_SOURCE_DIR; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

json model_json(const json& layers, int h, int w, int c) {
  return {
      {"format", "cnnc/1"}, {"name", "m"}, {"input", {{"shape", {h, w, c}}}}, {"layers", layers}};
}

Model parse_ok(const json& model) {
  try {
    return parse_model(model.dump(), "test.json");
  } catch (const Error& e) {
    ADD_FAILURE() << "unexpected error:\n" << e.what();
    return Model();
  }
}

std::string parse_error(const json& model) {
  try {
    parse_model(model.dump(), "test.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "model was accepted: " << model.dump();
  return "";
}

}  // namespace cnnc::frontend::testing
