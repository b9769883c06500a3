// Structural tests of the graph passes: a small graph before and after each
// pass in printed form, and a negative twin where the pass must not fire.
#include <gtest/gtest.h>

#include "compiler/ir/printer.h"
#include "compiler/passes/passes.h"
#include "frontends/json/json_frontend.h"

namespace cnnc::passes {
namespace {

// A model of the given layers on a 6x6x2 input.
ir::Graph graph_of(const std::string& layers) {
  return frontend::parse_model(R"({"format": "cnnc/1", "name": "t", "input": {"shape": [6, 6, 2]},
                                   "layers": [)" + layers + "]}",
                               "test.json")
      .graph;
}

// Runs one pass; returns the printed graph after it.
std::string after(ir::Graph& g, bool (*pass)(ir::Graph&, const PassContext&), bool expect_change,
                  bool training = false) {
  std::string before = ir::graph_to_string(g);
  bool changed = pass(g, PassContext{training, nullptr});
  EXPECT_EQ(changed, expect_change) << before;
  if (!expect_change) {
    EXPECT_EQ(ir::graph_to_string(g), before);
  }
  return ir::graph_to_string(g);
}

TEST(RemoveDropout, RemovedAtInference) {
  ir::Graph g = graph_of(R"({"type": "Flatten", "name": "f"}, {"type": "Dropout", "name": "d", "rate": 0.5},
                            {"type": "Dense", "name": "fc", "units": 3})");
  EXPECT_EQ(after(g, remove_dropout, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Flatten \"f\" (%0) -> 72\n"
            "%2 = Dense \"fc\" (%1) units=3 act=linear bias -> 3\n"
            "output %2\n");
}

TEST(RemoveDropout, KeptForTraining) {
  ir::Graph g = graph_of(R"({"type": "Dropout", "name": "d", "rate": 0.5}, {"type": "Flatten"})");
  after(g, remove_dropout, false, /*training=*/true);
}

TEST(FoldZeroPadding, IntoTheConvolution) {
  ir::Graph g = graph_of(R"({"type": "ZeroPadding2D", "name": "p", "padding": [[1, 2], [0, 1]]},
                            {"type": "Conv2D", "name": "c", "filters": 4, "kernel_size": 3, "padding": "same"})");
  EXPECT_EQ(after(g, fold_zero_padding, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"c\" (%0) filters=4 kernel=3x3 stride=1x1 pads=2,3,1,2 act=linear bias -> 9x7x4\n"
            "output %1\n");
}

TEST(FoldZeroPadding, NotIntoAPoolOrAConvWithOtherReaders) {
  ir::Graph pool = graph_of(R"({"type": "ZeroPadding2D", "name": "p", "padding": 1},
                               {"type": "MaxPooling2D", "name": "m"})");
  after(pool, fold_zero_padding, false);
  ir::Graph shared = graph_of(R"({"type": "ZeroPadding2D", "name": "p", "padding": 1},
                                 {"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 3},
                                 {"type": "Conv2D", "name": "c2", "inputs": ["p"], "filters": 2, "kernel_size": 3},
                                 {"type": "Add", "inputs": ["c", "c2"]})");
  after(shared, fold_zero_padding, false);
}

TEST(FoldBatchNorm, AfterALinearConvolution) {
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 4, "kernel_size": 1, "use_bias": false},
                            {"type": "BatchNormalization", "name": "bn", "epsilon": 0.01},
                            {"type": "Activation", "name": "r", "activation": "relu"})");
  EXPECT_EQ(after(g, fold_batchnorm, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"c\" (%0) filters=4 kernel=1x1 stride=1x1 pads=0,0,0,0 act=linear folded_bn=\"bn\" -> 6x6x4\n"
            "%2 = Activation \"r\" (%1) act=relu -> 6x6x4\n"
            "output %2\n");
  EXPECT_EQ(g.node(1).attrs.folded_epsilon, 0.01);
}

TEST(FoldBatchNorm, NotAfterAnActivationOrASharedConvolutionOrInTraining) {
  ir::Graph after_relu = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 4, "kernel_size": 1, "activation": "relu"},
                                     {"type": "BatchNormalization", "name": "bn"})");
  after(after_relu, fold_batchnorm, false);
  ir::Graph after_pool = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 4, "kernel_size": 1},
                                     {"type": "MaxPooling2D"}, {"type": "BatchNormalization", "name": "bn"})");
  after(after_pool, fold_batchnorm, false);
  ir::Graph shared = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 4, "kernel_size": 1},
                                 {"type": "BatchNormalization", "name": "bn"},
                                 {"type": "Add", "inputs": ["bn", "c"]})");
  after(shared, fold_batchnorm, false);
  ir::Graph training = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 4, "kernel_size": 1},
                                   {"type": "BatchNormalization", "name": "bn"})");
  after(training, fold_batchnorm, false, /*training=*/true);
}

TEST(FuseActivation, IntoDenseAndConvolution) {
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 3, "kernel_size": 3},
                            {"type": "Activation", "name": "t", "activation": "tanh"},
                            {"type": "Flatten", "name": "f"}, {"type": "Dense", "name": "d", "units": 2},
                            {"type": "Activation", "name": "s", "activation": "softmax"})");
  EXPECT_EQ(after(g, fuse_activation, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"c\" (%0) filters=3 kernel=3x3 stride=1x1 pads=0,0,0,0 act=tanh bias -> 4x4x3\n"
            "%2 = Flatten \"f\" (%1) -> 48\n"
            "%3 = Dense \"d\" (%2) units=2 act=softmax bias -> 2\n"
            "output %3\n");
}

TEST(FuseActivation, NotWhenTheLinearValueIsReadOrAlreadyActivated) {
  ir::Graph read = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
                               {"type": "Activation", "name": "r", "activation": "relu"},
                               {"type": "Add", "inputs": ["r", "c"]})");
  after(read, fuse_activation, false);
  ir::Graph twice = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1, "activation": "relu"},
                                {"type": "Activation", "name": "t", "activation": "tanh"})");
  after(twice, fuse_activation, false);
  ir::Graph inner_softmax = graph_of(R"({"type": "Flatten"}, {"type": "Dense", "name": "d", "units": 4},
                                        {"type": "Activation", "activation": "softmax"},
                                        {"type": "Dense", "units": 2, "activation": "softmax"})");
  after(inner_softmax, fuse_activation, false, /*training=*/true);
}

// In training a ReLU after a BatchNorm or an Add is fused too; not at inference
// (fold_batchnorm and fuse_residual_add take those).
TEST(FuseActivation, IntoBatchNormAndAddInTrainingOnly) {
  const std::string layers =
      R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
         {"type": "BatchNormalization", "name": "bn"},
         {"type": "Activation", "name": "r", "activation": "relu"},
         {"type": "Add", "name": "a", "inputs": ["r", "input"]},
         {"type": "Activation", "name": "out", "activation": "relu"})";
  ir::Graph inference = graph_of(layers);
  after(inference, fuse_activation, false);
  ir::Graph training = graph_of(layers);
  EXPECT_EQ(after(training, fuse_activation, true, /*training=*/true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"c\" (%0) filters=2 kernel=1x1 stride=1x1 pads=0,0,0,0 act=linear bias -> 6x6x2\n"
            "%2 = BatchNormalization \"bn\" (%1) momentum=0.99 epsilon=0.001 center scale act=relu -> 6x6x2\n"
            "%3 = Add \"a\" (%2, %0) act=relu -> 6x6x2\n"
            "output %3\n");
}

// ResNet's end of a block in training: relu(bn(conv) + shortcut) becomes the
// later BatchNorm's epilogue; not at inference, not when the BatchNorm's own
// output is read elsewhere or precedes the other input.
TEST(FuseBatchNormAdd, TheSumAndItsReluIntoTheLaterBatchNormInTrainingOnly) {
  const std::string layers =
      R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
         {"type": "BatchNormalization", "name": "bn"},
         {"type": "Conv2D", "name": "s", "inputs": ["input"], "filters": 2, "kernel_size": 1},
         {"type": "BatchNormalization", "name": "sbn"},
         {"type": "Add", "name": "a", "inputs": ["bn", "sbn"]})";
  ir::Graph inference = graph_of(layers);
  after(inference, fuse_batchnorm_add, false);
  ir::Graph training = graph_of(layers);
  training.node(5).attrs.activation = ir::Activation::Relu;  // as fuse_activation leaves it
  EXPECT_EQ(after(training, fuse_batchnorm_add, true, /*training=*/true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"c\" (%0) filters=2 kernel=1x1 stride=1x1 pads=0,0,0,0 act=linear bias -> 6x6x2\n"
            "%2 = BatchNormalization \"bn\" (%1) momentum=0.99 epsilon=0.001 center scale -> 6x6x2\n"
            "%3 = Conv2D \"s\" (%0) filters=2 kernel=1x1 stride=1x1 pads=0,0,0,0 act=linear bias -> 6x6x2\n"
            "%4 = BatchNormalization \"sbn\" (%3, %2) momentum=0.99 epsilon=0.001 center scale act=relu -> 6x6x2\n"
            "output %4\n");
  ir::Graph read = graph_of(R"({"type": "BatchNormalization", "name": "bn"},
                               {"type": "Add", "name": "a", "inputs": ["bn", "input"]},
                               {"type": "Add", "inputs": ["a", "bn"]})");
  after(read, fuse_batchnorm_add, false, /*training=*/true);
  ir::Graph earlier = graph_of(R"({"type": "BatchNormalization", "name": "bn"},
                                  {"type": "Conv2D", "name": "c", "inputs": ["input"], "filters": 2, "kernel_size": 1},
                                  {"type": "Add", "inputs": ["bn", "c"]})");
  after(earlier, fuse_batchnorm_add, false, /*training=*/true);
}

TEST(MergeParallel1x1, ThreeReducesBecomeOneConvolutionAndSlices) {
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 3, "kernel_size": 1, "activation": "relu"},
                            {"type": "Conv2D", "name": "b", "inputs": ["input"], "filters": 2, "kernel_size": 1},
                            {"type": "Conv2D", "name": "c", "inputs": ["input"], "filters": 4, "kernel_size": 1, "use_bias": false},
                            {"type": "Concatenate", "name": "cat", "inputs": ["a", "b", "c"]})");
  EXPECT_EQ(after(g, merge_parallel_1x1, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"merged(a,b,c)\" (%0) filters=9 kernel=1x1 stride=1x1 pads=0,0,0,0 act=linear bias merged=a,b,c -> 6x6x9\n"
            "%2 = ChannelSlice \"a\" (%1) channels=0..3 act=relu -> 6x6x3\n"
            "%3 = ChannelSlice \"b\" (%1) channels=3..5 act=linear -> 6x6x2\n"
            "%4 = ChannelSlice \"c\" (%1) channels=5..9 act=linear -> 6x6x4\n"
            "%5 = Concatenate \"cat\" (%2, %3, %4) -> 6x6x9\n"
            "output %5\n");
  EXPECT_FALSE(g.node(1).attrs.merged[2].use_bias);
}

TEST(MergeParallel1x1, NotAcrossStridesKernelsOrInputsNorInTraining) {
  ir::Graph strides = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 3, "kernel_size": 1, "strides": 2},
                                  {"type": "Conv2D", "name": "b", "inputs": ["input"], "filters": 3, "kernel_size": 1},
                                  {"type": "Add", "inputs": ["a", "a"]})");
  after(strides, merge_parallel_1x1, false);
  ir::Graph kernels = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 3, "kernel_size": 1},
                                  {"type": "Conv2D", "name": "b", "inputs": ["input"], "filters": 3, "kernel_size": 3, "padding": "same"},
                                  {"type": "Add", "inputs": ["a", "b"]})");
  after(kernels, merge_parallel_1x1, false);
  ir::Graph inputs = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 2, "kernel_size": 1},
                                 {"type": "Conv2D", "name": "b", "filters": 2, "kernel_size": 1})");
  after(inputs, merge_parallel_1x1, false);
  ir::Graph training = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 3, "kernel_size": 1},
                                   {"type": "Conv2D", "name": "b", "inputs": ["input"], "filters": 3, "kernel_size": 1},
                                   {"type": "Add", "inputs": ["a", "b"]})");
  after(training, merge_parallel_1x1, false, /*training=*/true);
}

TEST(MergeParallel1x1, PartsSharingAnActivationHaveTheMergedConvolutionApplyIt) {
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 3, "kernel_size": 1, "activation": "relu"},
                            {"type": "Conv2D", "name": "b", "inputs": ["input"], "filters": 2, "kernel_size": 1, "activation": "relu"},
                            {"type": "Concatenate", "name": "cat", "inputs": ["a", "b"]})");
  EXPECT_EQ(after(g, merge_parallel_1x1, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"merged(a,b)\" (%0) filters=5 kernel=1x1 stride=1x1 pads=0,0,0,0 act=relu bias merged=a,b -> 6x6x5\n"
            "%2 = ChannelSlice \"a\" (%1) channels=0..3 act=relu -> 6x6x3\n"
            "%3 = ChannelSlice \"b\" (%1) channels=3..5 act=relu -> 6x6x2\n"
            "%4 = Concatenate \"cat\" (%2, %3) -> 6x6x5\n"
            "output %4\n");
}

TEST(FuseResidualAdd, AddAndReluBecomeTheConvolutionsEpilogue) {
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "c1", "filters": 2, "kernel_size": 3, "padding": "same"},
                            {"type": "Conv2D", "name": "c2", "filters": 2, "kernel_size": 1},
                            {"type": "Add", "name": "add", "inputs": ["c2", "input"]},
                            {"type": "Activation", "name": "relu", "activation": "relu"},
                            {"type": "Flatten", "name": "f"})");
  EXPECT_EQ(after(g, fuse_residual_add, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"c1\" (%0) filters=2 kernel=3x3 stride=1x1 pads=1,1,1,1 act=linear bias -> 6x6x2\n"
            "%2 = Conv2D \"c2\" (%1, %0) filters=2 kernel=1x1 stride=1x1 pads=0,0,0,0 act=relu bias -> 6x6x2\n"
            "%3 = Flatten \"f\" (%2) -> 72\n"
            "output %3\n");
}

TEST(FuseResidualAdd, AResidualComputedLaterMovesBeforeTheConvolution) {
  // As a projection shortcut's slice after merge_parallel_1x1: it is written
  // after the branch but reads only what came before the branch's last conv.
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "branch", "filters": 2, "kernel_size": 1, "activation": "relu"},
                            {"type": "Conv2D", "name": "last", "filters": 2, "kernel_size": 1},
                            {"type": "Activation", "name": "shortcut", "inputs": ["input"], "activation": "tanh"},
                            {"type": "Add", "name": "add", "inputs": ["last", "shortcut"]})");
  EXPECT_EQ(after(g, fuse_residual_add, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"branch\" (%0) filters=2 kernel=1x1 stride=1x1 pads=0,0,0,0 act=relu bias -> 6x6x2\n"
            "%2 = Activation \"shortcut\" (%0) act=tanh -> 6x6x2\n"
            "%3 = Conv2D \"last\" (%1, %2) filters=2 kernel=1x1 stride=1x1 pads=0,0,0,0 act=linear bias -> 6x6x2\n"
            "output %3\n");
}

TEST(FuseResidualAdd, NotForASharedOrActivatedConvolutionOtherAddsOrInTraining) {
  ir::Graph shared = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
                                 {"type": "Add", "name": "add", "inputs": ["c", "input"]},
                                 {"type": "Add", "name": "add2", "inputs": ["add", "c"]})");
  after(shared, fuse_residual_add, false);
  ir::Graph no_conv = graph_of(R"({"type": "Activation", "name": "t", "activation": "tanh"},
                                  {"type": "Add", "name": "add", "inputs": ["t", "input"]})");
  after(no_conv, fuse_residual_add, false);
  ir::Graph activated = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1, "activation": "relu"},
                                    {"type": "Add", "name": "add", "inputs": ["c", "input"]})");
  after(activated, fuse_residual_add, false);
  // The residual reads a node computed after the convolution: no order works.
  ir::Graph later = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
                                {"type": "Activation", "name": "r", "inputs": ["input"], "activation": "relu"},
                                {"type": "Activation", "name": "t", "activation": "tanh"},
                                {"type": "Add", "name": "add", "inputs": ["c", "t"]})");
  after(later, fuse_residual_add, false);
  ir::Graph three = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
                                {"type": "Add", "name": "add", "inputs": ["c", "input", "input"]})");
  after(three, fuse_residual_add, false);
  ir::Graph training = graph_of(R"({"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 1},
                                   {"type": "Add", "name": "add", "inputs": ["c", "input"]})");
  after(training, fuse_residual_add, false, /*training=*/true);
}

TEST(Compose1x1, ALinear1x1IntoTheNext1x1OrDense) {
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "expand", "filters": 8, "kernel_size": 1, "strides": 2},
                            {"type": "Conv2D", "name": "reduce", "filters": 3, "kernel_size": 1, "activation": "relu"},
                            {"type": "Conv2D", "name": "c", "filters": 6, "kernel_size": 1, "use_bias": false},
                            {"type": "Dense", "name": "d", "units": 2})");
  EXPECT_EQ(after(g, compose_1x1, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Conv2D \"reduce\" (%0) filters=3 kernel=1x1 stride=2x2 pads=0,0,0,0 act=relu bias composed=expand -> 3x3x3\n"
            "%2 = Dense \"d\" (%1) units=2 act=linear bias composed=c -> 3x3x2\n"
            "output %2\n");
  EXPECT_FALSE(g.node(2).attrs.composed[0].use_bias);
}

TEST(Compose1x1, NotAcrossAnActivationAReaderA3x3OrMoreWork) {
  ir::Graph relu = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 8, "kernel_size": 1, "activation": "relu"},
                               {"type": "Conv2D", "name": "b", "filters": 2, "kernel_size": 1})");
  after(relu, compose_1x1, false);
  ir::Graph shared = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 8, "kernel_size": 1},
                                 {"type": "Conv2D", "name": "b", "filters": 8, "kernel_size": 1},
                                 {"type": "Add", "inputs": ["a", "b"]})");
  after(shared, compose_1x1, false);
  ir::Graph window = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 8, "kernel_size": 1},
                                 {"type": "Conv2D", "name": "b", "filters": 2, "kernel_size": 3})");
  after(window, compose_1x1, false);
  ir::Graph strided_next = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 8, "kernel_size": 1},
                                       {"type": "Conv2D", "name": "b", "filters": 2, "kernel_size": 1, "strides": 2})");
  after(strided_next, compose_1x1, false);
  // A bottleneck (2 -> 1 -> 8 channels): composed it would be 16 MACs a pixel, not 10.
  ir::Graph bottleneck = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 1, "kernel_size": 1},
                                     {"type": "Conv2D", "name": "b", "filters": 8, "kernel_size": 1})");
  after(bottleneck, compose_1x1, false);
  ir::Graph training = graph_of(R"({"type": "Conv2D", "name": "a", "filters": 8, "kernel_size": 1},
                                   {"type": "Conv2D", "name": "b", "filters": 2, "kernel_size": 1})");
  after(training, compose_1x1, false, /*training=*/true);
}

TEST(RemoveDeadNodes, DropsWhatTheOutputDoesNotRead) {
  ir::Graph g = graph_of(R"({"type": "Conv2D", "name": "unused", "filters": 2, "kernel_size": 1},
                            {"type": "Flatten", "name": "f", "inputs": ["input"]})");
  EXPECT_EQ(after(g, remove_dead_nodes, true),
            "%0 = Input \"input\" () -> 6x6x2\n"
            "%1 = Flatten \"f\" (%0) -> 72\n"
            "output %1\n");
  ir::Graph all_live = graph_of(R"({"type": "Flatten", "name": "f"})");
  after(all_live, remove_dead_nodes, false);
}

TEST(PassList, NamesAndErrors) {
  EXPECT_TRUE(parse_pass_list("none").empty());
  EXPECT_EQ(parse_pass_list("all").size(), all_passes().size());
  EXPECT_EQ(parse_pass_list("fold_batchnorm,plan_memory").size(), 2u);
  try {
    parse_pass_list("fold_bn");
    FAIL() << "an unknown pass was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown pass 'fold_bn'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("fold_batchnorm"), std::string::npos);
    EXPECT_EQ(e.exit_code(), 2);
  }
}

}  // namespace
}  // namespace cnnc::passes
