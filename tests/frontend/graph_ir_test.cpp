// The IR on its own: op table, shape inference rules, printer, verifier.
#include <gtest/gtest.h>

#include <sstream>

#include "compiler/ir/printer.h"
#include "compiler/ir/shape_inference.h"
#include "compiler/ir/verifier.h"

namespace cnnc::ir {
namespace {

Graph input_graph(Shape shape) {
  Graph g;
  g.name = "t";
  g.input_shape = shape;
  Node input;
  input.name = "input";
  g.add(input);
  return g;
}

int add_window(Graph& g, OpKind kind, const std::string& name, int64_t kh, int64_t kw, int64_t sh,
               int64_t sw, Padding padding, int64_t filters = 4) {
  Node n;
  n.kind = kind;
  n.name = name;
  n.inputs = {static_cast<int>(g.nodes.size()) - 1};
  n.attrs.kernel_h = kh;
  n.attrs.kernel_w = kw;
  n.attrs.stride_h = sh;
  n.attrs.stride_w = sw;
  n.attrs.padding = padding;
  n.attrs.filters = filters;
  return g.add(n);
}

TEST(OpTable, NamesAliasesArity) {
  OpKind k;
  ASSERT_TRUE(op_from_name("MaxPool2D", &k));
  EXPECT_EQ(k, OpKind::MaxPool2D);
  EXPECT_STREQ(op_name(k), "MaxPooling2D");
  ASSERT_TRUE(op_from_name("LRN", &k));
  EXPECT_EQ(k, OpKind::LRN);
  EXPECT_FALSE(op_from_name("conv2d", &k));
  EXPECT_EQ(op_min_inputs(OpKind::Concat), 2);
  EXPECT_EQ(op_max_inputs(OpKind::Add), -1);
  EXPECT_EQ(op_max_inputs(OpKind::Conv2D), 1);
  Activation a;
  EXPECT_TRUE(activation_from_name("softmax", &a));
  EXPECT_STREQ(activation_name(a), "softmax");
  Initializer i;
  EXPECT_TRUE(initializer_from_name("he_uniform", &i));
  EXPECT_STREQ(initializer_name(i), "he_uniform");
  EXPECT_EQ(shape_str({28, 28, 1}), "28x28x1");
  EXPECT_EQ(num_elements({7, 7, 120}), 5880);
  EXPECT_EQ(with_commas(138357544), "138,357,544");
  EXPECT_EQ(with_commas(12), "12");
}

struct SameCase {
  int64_t in, k, stride, out, before, after;
};

TEST(ShapeInference, SamePaddingRule) {
  const SameCase cases[] = {
      {7, 3, 2, 4, 1, 1},     {8, 3, 2, 4, 0, 1},     {224, 7, 2, 112, 2, 3},
      {227, 11, 4, 57, 4, 4}, {224, 11, 4, 56, 3, 4}, {5, 1, 4, 2, 0, 0},
      {28, 5, 1, 28, 2, 2},   {1, 3, 1, 1, 1, 1},     {2, 2, 2, 1, 0, 0},
  };
  for (const SameCase& c : cases) {
    int64_t out, before, after;
    same_padding(c.in, c.k, c.stride, &out, &before, &after);
    EXPECT_EQ(out, c.out) << c.in << " " << c.k << " " << c.stride;
    EXPECT_EQ(before, c.before) << c.in << " " << c.k << " " << c.stride;
    EXPECT_EQ(after, c.after) << c.in << " " << c.k << " " << c.stride;
  }
}

TEST(ShapeInference, ConvAndPoolSameValidStrides) {
  Graph g = input_graph({224, 227, 3});
  add_window(g, OpKind::Conv2D, "same4", 11, 11, 4, 4, Padding::Same, 96);  // 56x57
  add_window(g, OpKind::Conv2D, "valid2", 3, 2, 2, 2, Padding::Valid, 8);   // 27x28
  add_window(g, OpKind::MaxPool2D, "same2", 3, 3, 2, 2, Padding::Same);     // 14x14
  add_window(g, OpKind::AvgPool2D, "valid4", 2, 4, 4, 4, Padding::Valid);   // 4x3
  g.output = 4;
  std::vector<ShapeError> errors;
  ASSERT_TRUE(infer_shapes(g, &errors));
  verify(g);
  EXPECT_EQ(shape_str(g.node(1).shape), "56x57x96");
  EXPECT_EQ(g.node(1).attrs.pads.top, 3);  // 224: total 7, smaller half first
  EXPECT_EQ(g.node(1).attrs.pads.bottom, 4);
  EXPECT_EQ(g.node(1).attrs.pads.left, 4);  // 227: total 8
  EXPECT_EQ(g.node(1).attrs.pads.right, 4);
  EXPECT_EQ(shape_str(g.node(2).shape), "27x28x8");
  EXPECT_EQ(g.node(2).attrs.pads.bottom, 0);
  EXPECT_EQ(shape_str(g.node(3).shape), "14x14x8");
  EXPECT_EQ(g.node(3).attrs.pads.top, 1);  // 27 -> 14: total 13 * 2 + 3 - 27 = 2
  EXPECT_EQ(shape_str(g.node(4).shape), "4x3x8");
}

TEST(ShapeInference, ErrorsNameTheNodeAndSkipDependents) {
  Graph g = input_graph({4, 4, 1});
  add_window(g, OpKind::Conv2D, "big", 5, 5, 1, 1, Padding::Valid);
  add_window(g, OpKind::Conv2D, "after", 1, 1, 1, 1, Padding::Valid);
  g.output = 2;
  std::vector<ShapeError> errors;
  EXPECT_FALSE(infer_shapes(g, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].node, 1);
  EXPECT_NE(errors[0].message.find("kernel_size 5x5 is larger than its input 4x4x1"),
            std::string::npos);
  EXPECT_THROW(infer_shapes(g), std::logic_error);
  EXPECT_THROW(verify(g), std::logic_error);  // shapes missing
}

TEST(Printer, SmallGraphExactText) {
  Graph g = input_graph({28, 28, 1});
  const int conv = add_window(g, OpKind::Conv2D, "conv1", 5, 5, 1, 1, Padding::Same, 6);
  g.node(conv).attrs.activation = Activation::Tanh;
  add_window(g, OpKind::AvgPool2D, "pool1", 2, 2, 2, 2, Padding::Valid);
  Node flat;
  flat.kind = OpKind::Flatten;
  flat.name = "flatten";
  flat.inputs = {2};
  g.add(flat);
  Node fc;
  fc.kind = OpKind::Dense;
  fc.name = "fc";
  fc.inputs = {3};
  fc.attrs.filters = 10;
  fc.attrs.activation = Activation::Softmax;
  fc.attrs.use_bias = false;
  fc.attrs.l2 = 0.0005;
  g.add(fc);
  g.output = 4;
  infer_shapes(g);
  verify(g);
  EXPECT_EQ(graph_to_string(g),
            "%0 = Input \"input\" () -> 28x28x1\n"
            "%1 = Conv2D \"conv1\" (%0) filters=6 kernel=5x5 stride=1x1 pads=2,2,2,2 act=tanh bias "
            "-> 28x28x6\n"
            "%2 = AveragePooling2D \"pool1\" (%1) pool=2x2 stride=2x2 pads=0,0,0,0 -> 14x14x6\n"
            "%3 = Flatten \"flatten\" (%2) -> 1176\n"
            "%4 = Dense \"fc\" (%3) units=10 act=softmax l2=0.0005 -> 10\n"
            "output %4\n");
  std::ostringstream summary;
  print_summary(g, summary);
  const std::string s = summary.str();
  EXPECT_NE(s.find("Model: \"t\""), std::string::npos) << s;
  EXPECT_NE(s.find("conv1 (Conv2D)"), std::string::npos) << s;
  EXPECT_NE(s.find("Total params: 11,916"), std::string::npos) << s;           // 156 + 11760
  EXPECT_NE(s.find("Total MACs: 129,360 per image"), std::string::npos) << s;  // 117600 + 11760
}

TEST(Verifier, CatchesBrokenInvariants) {
  Graph g = input_graph({4, 4, 1});
  add_window(g, OpKind::Conv2D, "c", 1, 1, 1, 1, Padding::Valid);
  g.output = 1;
  infer_shapes(g);
  verify(g);
  Graph forward_ref = g;
  forward_ref.node(1).inputs = {1};
  EXPECT_THROW(verify(forward_ref), std::logic_error);
  Graph bad_arity = g;
  bad_arity.node(1).inputs = {0, 0};
  EXPECT_THROW(verify(bad_arity), std::logic_error);
  Graph dup = g;
  dup.node(1).name = "input";
  EXPECT_THROW(verify(dup), std::logic_error);
  Graph bad_output = g;
  bad_output.output = 7;
  EXPECT_THROW(verify(bad_output), std::logic_error);
  Graph bad_id = g;
  bad_id.node(1).id = 3;
  EXPECT_THROW(verify(bad_id), std::logic_error);
}

}  // namespace
}  // namespace cnnc::ir
