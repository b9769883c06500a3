// Every layer type, its aliases, Keras defaults and argument forms.
#include <gtest/gtest.h>

#include "compiler/ir/printer.h"
#include "tests/frontend/frontend_test_util.h"

namespace cnnc::frontend::testing {
namespace {

TEST(Layers, EveryTypeAndAlias) {
  const json layers = json::parse(R"([
    {"type": "ZeroPadding2D", "name": "pad"},
    {"type": "Conv2D", "name": "conv", "filters": 8, "kernel_size": [3, 2], "strides": [1, 2],
     "use_bias": false, "kernel_initializer": "he_normal", "activation": null},
    {"type": "BatchNormalization", "name": "bn", "axis": 3, "momentum": 0.9, "epsilon": 1e-5,
     "center": false},
    {"type": "Activation", "name": "relu", "activation": "relu"},
    {"type": "LocalResponseNormalization", "name": "lrn", "size": 3, "alpha": 0.001, "beta": 0.5,
     "bias": 1},
    {"type": "LRN", "name": "lrn2"},
    {"type": "MaxPooling2D", "name": "mp", "pool_size": 3, "strides": 1, "padding": "same"},
    {"type": "MaxPool2D", "name": "mp2", "strides": null},
    {"type": "AveragePooling2D", "name": "ap", "pool_size": [1, 2], "inputs": ["mp"]},
    {"type": "AvgPool2D", "name": "ap2", "inputs": ["mp"], "pool_size": [2, 4], "strides": [2, 1]},
    {"type": "Concatenate", "name": "cat", "inputs": ["mp2", "ap2"], "axis": -1},
    {"type": "Add", "name": "sum", "inputs": ["cat", "cat", "cat"]},
    {"type": "Dropout", "name": "drop", "rate": 0},
    {"type": "GlobalAveragePooling2D", "name": "gap", "inputs": ["ap"]},
    {"type": "Dense", "name": "fc", "units": 3, "inputs": ["sum"], "activation": "sigmoid",
     "kernel_regularizer": {"l2": 0.1}, "kernel_initializer": "zeros"},
    {"type": "Flatten", "name": "flat"},
    {"type": "Dense", "name": "out", "units": 2, "activation": "softmax", "use_bias": true}
  ])");
  const Model m = parse_ok(model_json(layers, 9, 10, 2));
  const ir::Graph& g = m.graph;
  ASSERT_EQ(g.nodes.size(), 18u);
  EXPECT_EQ(
      ir::graph_to_string(g),
      "%0 = Input \"input\" () -> 9x10x2\n"
      "%1 = ZeroPadding2D \"pad\" (%0) pads=1,1,1,1 -> 11x12x2\n"
      "%2 = Conv2D \"conv\" (%1) filters=8 kernel=3x2 stride=1x2 pads=0,0,0,0 act=linear "
      "init=he_normal -> 9x6x8\n"
      "%3 = BatchNormalization \"bn\" (%2) momentum=0.9 epsilon=1e-05 scale -> 9x6x8\n"
      "%4 = Activation \"relu\" (%3) act=relu -> 9x6x8\n"
      "%5 = LocalResponseNormalization \"lrn\" (%4) size=3 alpha=0.001 beta=0.5 bias=1 -> 9x6x8\n"
      "%6 = LocalResponseNormalization \"lrn2\" (%5) size=5 alpha=0.0001 beta=0.75 bias=2 -> "
      "9x6x8\n"
      "%7 = MaxPooling2D \"mp\" (%6) pool=3x3 stride=1x1 pads=1,1,1,1 -> 9x6x8\n"
      "%8 = MaxPooling2D \"mp2\" (%7) pool=2x2 stride=2x2 pads=0,0,0,0 -> 4x3x8\n"
      "%9 = AveragePooling2D \"ap\" (%7) pool=1x2 stride=1x2 pads=0,0,0,0 -> 9x3x8\n"
      "%10 = AveragePooling2D \"ap2\" (%7) pool=2x4 stride=2x1 pads=0,0,0,0 -> 4x3x8\n"
      "%11 = Concatenate \"cat\" (%8, %10) -> 4x3x16\n"
      "%12 = Add \"sum\" (%11, %11, %11) -> 4x3x16\n"
      "%13 = Dropout \"drop\" (%12) rate=0 -> 4x3x16\n"
      "%14 = GlobalAveragePooling2D \"gap\" (%9) -> 8\n"
      "%15 = Dense \"fc\" (%12) units=3 act=sigmoid bias l2=0.1 init=zeros -> 4x3x3\n"
      "%16 = Flatten \"flat\" (%15) -> 36\n"
      "%17 = Dense \"out\" (%16) units=2 act=softmax bias -> 2\n"
      "output %17\n");
  // Dense on an image applies to the last axis: kernel [16, 3].
  const std::vector<ir::Variable> fc = ir::node_variables(g, g.node(15));
  ASSERT_EQ(fc.size(), 2u);
  EXPECT_EQ(fc[0].name, "fc.kernel");
  EXPECT_EQ(ir::shape_str(fc[0].shape), "16x3");
  // BatchNormalization without center: gamma, then the moving statistics.
  const std::vector<ir::Variable> bn = ir::node_variables(g, g.node(3));
  ASSERT_EQ(bn.size(), 3u);
  EXPECT_EQ(bn[0].suffix, "gamma");
  EXPECT_EQ(bn[1].suffix, "moving_mean");
  EXPECT_FALSE(bn[2].trainable);
  // Conv2D without bias: the kernel only.
  EXPECT_EQ(ir::node_variables(g, g.node(2)).size(), 1u);
  EXPECT_EQ(ir::node_param_count(g, g.node(2)), 3 * 2 * 2 * 8);
}

TEST(Layers, ZeroPaddingForms) {
  const json layers = json::parse(R"([
    {"type": "ZeroPadding2D", "padding": 2},
    {"type": "ZeroPadding2D", "padding": [1, 0]},
    {"type": "ZeroPadding2D", "padding": [[0, 1], [2, 3]]}
  ])");
  const ir::Graph g = parse_ok(model_json(layers, 4, 4, 1)).graph;
  EXPECT_EQ(ir::shape_str(g.node(1).shape), "8x8x1");
  EXPECT_EQ(ir::shape_str(g.node(2).shape), "10x8x1");
  const ir::Pads& p = g.node(3).attrs.pads;
  EXPECT_EQ(p.top, 0);
  EXPECT_EQ(p.bottom, 1);
  EXPECT_EQ(p.left, 2);
  EXPECT_EQ(p.right, 3);
  EXPECT_EQ(ir::shape_str(g.node(3).shape), "11x13x1");
}

TEST(Layers, DefaultNamesAndPreviousLayerInputs) {
  const json layers = json::parse(R"([
    {"type": "Conv2D", "filters": 2, "kernel_size": 3},
    {"type": "MaxPool2D"},
    {"type": "Dense", "units": 4, "inputs": ["conv2d_0"]}
  ])");
  const ir::Graph g = parse_ok(model_json(layers)).graph;
  EXPECT_EQ(g.node(1).name, "conv2d_0");
  EXPECT_EQ(g.node(2).name, "maxpool2d_1");
  EXPECT_EQ(g.node(2).inputs, std::vector<int>{1});
  EXPECT_EQ(g.node(3).name, "dense_2");
  EXPECT_EQ(g.node(3).inputs, std::vector<int>{1});
  EXPECT_EQ(g.output, 3);
  EXPECT_EQ(g.node(1).attrs.padding, ir::Padding::Valid);
  EXPECT_EQ(g.node(1).attrs.kernel_init, ir::Initializer::GlorotUniform);
  EXPECT_TRUE(g.node(1).attrs.use_bias);
}

TEST(Layers, DescriptionAndUnknownTopLevelField) {
  json model = model_json({{{"type", "Flatten"}}});
  model["description"] = "a test";
  EXPECT_EQ(parse_ok(model).description, "a test");
  model["optimizer"] = "sgd";
  EXPECT_NE(parse_error(model).find("test.json: /: unknown field \"optimizer\""),
            std::string::npos);
}

}  // namespace
}  // namespace cnnc::frontend::testing
