// Every tests/frontend/malformed/<case>.json must be refused with exit code 2
// and a message containing each line of <case>.expect.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/frontend/frontend_test_util.h"

namespace cnnc::frontend::testing {
namespace {

namespace fs = std::filesystem;

std::string malformed_dir() { return source_dir() + "/tests/frontend/malformed"; }

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(malformed_dir())) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> expected_fragments(const std::string& name) {
  std::vector<std::string> fragments;
  std::istringstream lines(read_text(malformed_dir() + "/" + name + ".expect"));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) fragments.push_back(line);
  }
  return fragments;
}

class MalformedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(MalformedModel, IsRefusedWithItsMessages) {
  const std::string name = GetParam();
  const std::vector<std::string> fragments = expected_fragments(name);
  ASSERT_FALSE(fragments.empty()) << name << ".expect is missing or empty";
  try {
    // A short file name keeps the expected messages independent of the checkout.
    parse_model(read_text(malformed_dir() + "/" + name + ".json"), name + ".json");
    FAIL() << name << ".json was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    const std::string message = e.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << "missing: " << fragment << "\nin:\n"
                                                           << message;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Files, MalformedModel, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(MalformedModels, AtLeastTwentyCases) { EXPECT_GE(case_names().size(), 20u); }

TEST(MalformedModels, LoadModelFileNamesThePath) {
  const std::string path = malformed_dir() + "/unknown_type.json";
  try {
    load_model_file(path);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": /layers/0/type", 0), 0u) << e.what();
  }
}

TEST(MalformedModels, MissingFileAndDirectory) {
  for (const std::string& path : {source_dir() + "/no/such/model.json", malformed_dir()}) {
    try {
      load_model_file(path);
      FAIL() << "accepted " << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

// Every problem is reported, one line each, not only the first.
TEST(MalformedModels, ReportsEveryProblem) {
  const json layers = {
      {{"type", "Conv2D"}, {"name", "c1"}, {"filters", 0}, {"kernel_size", 3}},
      {{"type", "Conv2D"}, {"name", "c2"}, {"filters", 2}, {"kernel_size", 3}, {"padding", "x"}},
      {{"type", "Dense"}, {"name", "d"}, {"units", 2}, {"inputs", {"nope"}}},
      {{"type", "Dropout"}, {"name", "drop"}, {"rate", -0.5}, {"inputs", {"input"}}},
  };
  const std::string message = parse_error(model_json(layers));
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 3) << message;
  for (const char* fragment :
       {"/layers/0/filters", "/layers/1/padding", "/layers/2/inputs/0", "/layers/3/rate"}) {
    EXPECT_NE(message.find(fragment), std::string::npos) << fragment << " in\n" << message;
  }
}

// A layer whose input was refused is not reported again (no cascades).
TEST(MalformedModels, NoCascadeFromABrokenLayer) {
  const json layers = {
      {{"type", "Conv2D"}, {"name", "c1"}, {"filters", 2}, {"kernel_size", 30}},
      {{"type", "Conv2D"}, {"name", "c2"}, {"filters", 2}, {"kernel_size", 30}},
  };
  const std::string message = parse_error(model_json(layers));
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 0) << message;
  EXPECT_NE(message.find("(Conv2D \"c1\")"), std::string::npos) << message;
}

// Text that is not JSON at all, or deeply nested, must not crash.
TEST(MalformedModels, HostileText) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const std::string& text :
       {std::string(""), std::string("\xff\xfe"), std::string("{\"a\":"), deep,
        std::string("{\"format\": \"cnnc/1\", \"x\": \"\xc3\x28\"}")}) {
    EXPECT_THROW(parse_model(text, "t.json"), Error);
  }
}

}  // namespace
}  // namespace cnnc::frontend::testing
