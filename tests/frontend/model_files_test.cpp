// The bundled models and classic architectures: shapes, parameter counts
// (Keras's model.summary()), MACs and the training recipe.
#include <gtest/gtest.h>

#include "compiler/ir/printer.h"
#include "tests/frontend/frontend_test_util.h"

namespace cnnc::frontend::testing {
namespace {

const ir::Node& by_name(const ir::Graph& g, const std::string& name) {
  for (const ir::Node& n : g.nodes) {
    if (n.name == name) return n;
  }
  throw std::runtime_error("no node " + name);
}

TEST(ModelFiles, LeNet5) {
  const Model m = load_model_file(source_dir() + "/models/lenet5.json");
  const ir::Graph& g = m.graph;
  EXPECT_EQ(g.name, "lenet5");
  ASSERT_EQ(g.nodes.size(), 9u);
  EXPECT_EQ(ir::shape_str(by_name(g, "conv1").shape), "28x28x6");
  EXPECT_EQ(ir::shape_str(by_name(g, "pool1").shape), "14x14x6");
  EXPECT_EQ(ir::shape_str(by_name(g, "conv3").shape), "7x7x120");
  EXPECT_EQ(ir::shape_str(by_name(g, "flatten").shape), "5880");
  EXPECT_EQ(ir::shape_str(g.node(g.output).shape), "10");
  const ir::Attrs& conv1 = by_name(g, "conv1").attrs;
  EXPECT_EQ(conv1.pads.top, 2);
  EXPECT_EQ(conv1.pads.right, 2);
  EXPECT_EQ(conv1.activation, ir::Activation::Tanh);
  EXPECT_EQ(by_name(g, "fc2").attrs.activation, ir::Activation::Softmax);

  EXPECT_EQ(ir::node_param_count(g, by_name(g, "conv1")), 156);
  EXPECT_EQ(ir::node_param_count(g, by_name(g, "conv2")), 2416);
  EXPECT_EQ(ir::node_param_count(g, by_name(g, "conv3")), 48120);
  EXPECT_EQ(ir::node_param_count(g, by_name(g, "fc1")), 494004);
  EXPECT_EQ(ir::node_param_count(g, by_name(g, "fc2")), 850);
  EXPECT_EQ(ir::graph_param_counts(g).total(), 156 + 2416 + 48120 + 494004 + 850);
  EXPECT_EQ(ir::graph_param_counts(g).non_trainable, 0);
  // conv1: 28*28*6 outputs of 25 MACs; conv2: 14*14*16 of 150; conv3: 7*7*120 of 400.
  EXPECT_EQ(ir::node_macs(g, by_name(g, "conv1")), 28 * 28 * 6 * 25);
  EXPECT_EQ(ir::graph_macs(g), 117600 + 14 * 14 * 16 * 150 + 7 * 7 * 120 * 400 + 5880 * 84 + 840);

  ASSERT_TRUE(m.has_training_section);
  const TrainRecipe& r = m.recipe;
  EXPECT_EQ(r.batch_size, 32);
  EXPECT_EQ(r.epochs, 20);
  EXPECT_DOUBLE_EQ(r.learning_rate, 0.01);
  EXPECT_DOUBLE_EQ(r.momentum, 0.0);
  EXPECT_EQ(r.schedule.type, LrSchedule::Type::Piecewise);
  EXPECT_EQ(r.schedule.boundaries, (std::vector<int>{2, 5, 9}));
  EXPECT_EQ(r.schedule.values, (std::vector<double>{0.0005, 0.0002, 0.00005, 0.00001}));
  EXPECT_TRUE(r.shuffle);
  EXPECT_EQ(r.seed, 0u);
  EXPECT_EQ(r.checkpoint_monitor, "val_accuracy");
  EXPECT_TRUE(r.save_best_only);
  EXPECT_FALSE(m.description.empty());
}

TEST(ModelFiles, LeNet5Momentum) {
  const Model m = load_model_file(source_dir() + "/models/lenet5_momentum.json");
  EXPECT_EQ(m.graph.name, "lenet5_momentum");
  EXPECT_EQ(ir::graph_param_counts(m.graph).total(), 545546);
  EXPECT_DOUBLE_EQ(m.recipe.momentum, 0.9);
  EXPECT_DOUBLE_EQ(m.recipe.learning_rate, 0.01);
  EXPECT_EQ(m.recipe.epochs, 10);
  EXPECT_EQ(m.recipe.schedule.type, LrSchedule::Type::Constant);
}

TEST(ModelFiles, Vgg16ParameterCountMatchesKeras) {
  json layers = json::array();
  const int blocks[5][2] = {{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}};
  for (const auto& block : blocks) {
    for (int i = 0; i < block[0]; ++i) {
      layers.push_back({{"type", "Conv2D"},
                        {"filters", block[1]},
                        {"kernel_size", 3},
                        {"padding", "same"},
                        {"activation", "relu"}});
    }
    layers.push_back({{"type", "MaxPool2D"}});
  }
  layers.push_back({{"type", "Flatten"}});
  layers.push_back({{"type", "Dense"}, {"units", 4096}, {"activation", "relu"}});
  layers.push_back({{"type", "Dropout"}, {"rate", 0.5}});
  layers.push_back({{"type", "Dense"}, {"units", 4096}, {"activation", "relu"}});
  layers.push_back({{"type", "Dropout"}, {"rate", 0.5}});
  layers.push_back({{"type", "Dense"}, {"units", 1000}, {"activation", "softmax"}});
  const Model m = parse_ok(model_json(layers, 224, 224, 3));
  EXPECT_EQ(ir::graph_param_counts(m.graph).total(), 138357544);
  EXPECT_EQ(ir::shape_str(m.graph.node(m.graph.output).shape), "1000");
  // The commonly quoted 15.5 GMACs.
  EXPECT_EQ(ir::graph_macs(m.graph) / 100000000, 154);
}

TEST(ModelFiles, AlexNetWithBatchNormCountsNonTrainable) {
  const json layers = {
      {{"type", "Conv2D"}, {"filters", 96}, {"kernel_size", {11, 11}}, {"strides", {4, 4}}},
      {{"type", "Activation"}, {"activation", "relu"}},
      {{"type", "MaxPool2D"}, {"pool_size", {3, 3}}, {"strides", {2, 2}}},
      {{"type", "BatchNormalization"}},
      {{"type", "Conv2D"},
       {"filters", 256},
       {"kernel_size", 5},
       {"padding", "same"},
       {"kernel_regularizer", {{"l2", 0.0005}}}},
  };
  const Model m = parse_ok(model_json(layers, 227, 227, 3));
  const ir::Graph& g = m.graph;
  EXPECT_EQ(ir::shape_str(g.node(1).shape), "55x55x96");
  EXPECT_EQ(ir::shape_str(g.node(3).shape), "27x27x96");
  EXPECT_DOUBLE_EQ(g.node(5).attrs.l2, 0.0005);
  const ir::ParamCounts counts = ir::graph_param_counts(g);
  EXPECT_EQ(counts.non_trainable, 2 * 96);
  EXPECT_EQ(counts.trainable, 34944 + 2 * 96 + 614656);
  std::ostringstream summary;
  ir::print_summary(g, summary);
  EXPECT_NE(summary.str().find("Non-trainable params: 192"), std::string::npos) << summary.str();
  EXPECT_NE(summary.str().find("Trainable params: 649,792"), std::string::npos) << summary.str();
}

}  // namespace
}  // namespace cnnc::frontend::testing
