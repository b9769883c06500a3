// Modules: expansion in place, "$p" substitution, "$input", names, nesting.
#include <gtest/gtest.h>

#include "compiler/ir/printer.h"
#include "tests/frontend/frontend_test_util.h"

namespace cnnc::frontend::testing {
namespace {

json inception_module() {
  return json::parse(R"({
    "params": ["f1", "f3r", "f3", "f5r", "f5", "fp"],
    "layers": [
      {"type": "Conv2D", "name": "b1", "inputs": ["$input"], "filters": "$f1", "kernel_size": 1, "padding": "same", "activation": "relu"},
      {"type": "Conv2D", "name": "b2r", "inputs": ["$input"], "filters": "$f3r", "kernel_size": 1, "padding": "same", "activation": "relu"},
      {"type": "Conv2D", "name": "b2", "filters": "$f3", "kernel_size": 3, "padding": "same", "activation": "relu"},
      {"type": "Conv2D", "name": "b3r", "inputs": ["$input"], "filters": "$f5r", "kernel_size": 1, "padding": "same", "activation": "relu"},
      {"type": "Conv2D", "name": "b3", "filters": "$f5", "kernel_size": 5, "padding": "same", "activation": "relu"},
      {"type": "MaxPooling2D", "name": "b4p", "inputs": ["$input"], "pool_size": 3, "strides": 1, "padding": "same"},
      {"type": "Conv2D", "name": "b4", "filters": "$fp", "kernel_size": 1, "padding": "same", "activation": "relu"},
      {"type": "Concatenate", "name": "out", "inputs": ["b1", "b2", "b3", "b4"]}
    ]})");
}

TEST(Modules, InceptionUsedTwice) {
  json model = model_json(json::parse(R"([
    {"type": "Conv2D", "name": "stem", "filters": 192, "kernel_size": 3, "padding": "same"},
    {"type": "inception", "name": "inception3a", "f1": 64, "f3r": 96, "f3": 128, "f5r": 16, "f5": 32, "fp": 32},
    {"type": "inception", "name": "inception3b", "f1": 128, "f3r": 128, "f3": 192, "f5r": 32, "f5": 96, "fp": 64},
    {"type": "GlobalAveragePooling2D", "name": "gap", "inputs": ["inception3b"]}
  ])"),
                          28, 28, 3);
  model["modules"] = {{"inception", inception_module()}};
  const Model m = parse_ok(model);
  const ir::Graph& g = m.graph;
  ASSERT_EQ(g.nodes.size(), 1u + 1 + 8 + 8 + 1);
  EXPECT_EQ(g.node(2).name, "inception3a/b1");
  EXPECT_EQ(g.node(2).inputs, std::vector<int>{1});
  EXPECT_EQ(g.node(4).name, "inception3a/b2");
  EXPECT_EQ(g.node(4).inputs, std::vector<int>{3});
  EXPECT_EQ(g.node(9).name, "inception3a/out");
  EXPECT_EQ(ir::shape_str(g.node(9).shape), "28x28x256");
  EXPECT_EQ(g.node(10).name, "inception3b/b1");
  EXPECT_EQ(g.node(10).inputs, std::vector<int>{9});  // the first use's output
  EXPECT_EQ(ir::shape_str(g.node(17).shape), "28x28x480");
  EXPECT_EQ(g.node(18).inputs, std::vector<int>{17});
  // GoogLeNet's inception(3a) has 163,696 parameters, (3b) 388,736.
  int64_t params_3a = 0, params_3b = 0;
  for (const ir::Node& n : g.nodes) {
    if (n.name.rfind("inception3a/", 0) == 0) params_3a += ir::node_param_count(g, n);
    if (n.name.rfind("inception3b/", 0) == 0) params_3b += ir::node_param_count(g, n);
  }
  EXPECT_EQ(params_3a, 163696);
  EXPECT_EQ(params_3b, 388736);
}

TEST(Modules, NestedModulesAndSubstitutionInsideValues) {
  json model = model_json(json::parse(R"([
    {"type": "twice", "name": "t", "k": [3, 1], "act": "tanh", "reg": 0.01}
  ])"));
  model["modules"] = json::parse(R"({
    "conv": {"params": ["k", "act", "reg"], "layers": [
      {"type": "Conv2D", "filters": 4, "kernel_size": "$k", "padding": "same", "activation": "$act",
       "kernel_regularizer": {"l2": "$reg"}}]},
    "twice": {"params": ["k", "act", "reg"], "layers": [
      {"type": "conv", "name": "first", "k": "$k", "act": "$act", "reg": "$reg"},
      {"type": "conv", "name": "second", "params": {"k": "$k", "act": "relu", "reg": 0}}]}
  })");
  const Model m = parse_ok(model);
  const ir::Graph& g = m.graph;
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(g.node(1).name, "t/first/conv2d_0");
  EXPECT_EQ(g.node(2).name, "t/second/conv2d_0");
  EXPECT_EQ(g.node(1).attrs.kernel_h, 3);
  EXPECT_EQ(g.node(1).attrs.kernel_w, 1);
  EXPECT_EQ(g.node(1).attrs.activation, ir::Activation::Tanh);
  EXPECT_DOUBLE_EQ(g.node(1).attrs.l2, 0.01);
  EXPECT_EQ(g.node(2).attrs.activation, ir::Activation::Relu);
  EXPECT_EQ(g.node(2).inputs, std::vector<int>{1});
  EXPECT_EQ(g.output, 2);
}

TEST(Modules, SelfRecursionIsRefused) {
  json model = model_json({{{"type", "loop"}}});
  model["modules"] = {{"loop", {{"layers", {{{"type", "loop"}}}}}}};
  const std::string message = parse_error(model);
  EXPECT_NE(message.find("module \"loop\" uses itself (loop -> loop)"), std::string::npos)
      << message;
}

TEST(Modules, ModuleTakesOneInput) {
  json model = model_json(json::parse(R"([
    {"type": "Conv2D", "name": "a", "filters": 1, "kernel_size": 1},
    {"type": "block", "name": "b", "inputs": ["a", "input"]}])"));
  model["modules"] = {{"block", {{"layers", {{{"type", "Flatten"}}}}}}};
  const std::string message = parse_error(model);
  EXPECT_NE(
      message.find("/layers/1/inputs (block \"b\"): block takes exactly one input, but gets 2"),
      std::string::npos)
      << message;
}

TEST(Modules, BadDefinitions) {
  json model = model_json({{{"type", "Flatten"}}});
  model["modules"] = json::parse(R"({
    "Conv2D": {"layers": [{"type": "Flatten"}]},
    "empty": {"params": ["a", "a"], "layers": []},
    "odd": {"layers": [{"type": "Flatten"}], "outputs": 1}
  })");
  const std::string message = parse_error(model);
  for (const char* fragment :
       {"/modules/Conv2D (module \"Conv2D\"): \"Conv2D\" is a built-in layer type",
        "/modules/empty/params/1 (module \"empty\"): parameter \"a\" is listed twice",
        "/modules/empty/layers (module \"empty\"): a module needs a non-empty list of \"layers\"",
        "/modules/odd (module \"odd\"): unknown field \"outputs\""}) {
    EXPECT_NE(message.find(fragment), std::string::npos) << fragment << "\nin:\n" << message;
  }
}

}  // namespace
}  // namespace cnnc::frontend::testing
