// The graph IR: a flat list of nodes in topological order. Every node produces
// exactly one tensor; nodes refer to their inputs by node id. Shapes exclude the
// batch dimension and are channels-last: [H, W, C] for images, [N] for flat
// tensors (after Flatten / GlobalAveragePooling2D / Dense on a flat input).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::ir {

enum class OpKind {
#define OP(Enum, Name, MinIn, MaxIn, FusedIn) Enum,
#include "compiler/ir/ops.def"
#undef OP
};

// Canonical Keras type name of an op ("Conv2D", "MaxPooling2D", ...).
const char* op_name(OpKind kind);
// Looks up a Keras type name or one of its aliases ("MaxPool2D", "LRN").
// Returns false when the name is unknown.
bool op_from_name(const std::string& name, OpKind* kind);
int op_min_inputs(OpKind kind);
int op_max_inputs(OpKind kind);  // -1: unbounded; what a model file may give
// Inputs passes may add after the model's (a Conv2D's residual).
int op_fused_inputs(OpKind kind);

enum class Activation { Linear, Relu, Tanh, Sigmoid, Softmax };
const char* activation_name(Activation a);
bool activation_from_name(const std::string& name, Activation* a);

enum class Initializer { GlorotUniform, GlorotNormal, HeUniform, HeNormal, Zeros, Ones };
const char* initializer_name(Initializer i);
bool initializer_from_name(const std::string& name, Initializer* i);

enum class Padding { Valid, Same };

using Shape = std::vector<int64_t>;  // without batch; [H, W, C] or [N]
int64_t num_elements(const Shape& s);
std::string shape_str(const Shape& s);  // "28x28x1", "84"

// Explicit padding amounts, resolved from "same"/"valid" by shape inference.
struct Pads {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};

// All attributes of all ops in one plain struct; each op reads the fields its
// row of the table documents. Keeps passes and printers free of variant casts.
struct Attrs {
  // Conv2D / Dense
  int64_t filters = 0;  // Conv2D filters or Dense units
  bool use_bias = true;
  Activation activation = Activation::Linear;  // Conv2D, Dense, Activation
  double l2 = 0.0;                              // kernel_regularizer l2 (0 = none)
  Initializer kernel_init = Initializer::GlorotUniform;
  // Conv2D / pools: window and stride ([height, width])
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  Padding padding = Padding::Valid;
  Pads pads;  // resolved by shape inference (ZeroPad2D: given directly)
  // BatchNormalization
  double momentum = 0.99, epsilon = 0.001;
  bool center = true, scale = true;
  // Dropout
  double rate = 0.0;
  // LocalResponseNormalization
  int64_t lrn_size = 5;
  double lrn_alpha = 0.0001, lrn_beta = 0.75, lrn_bias = 2.0;
  // Conv2D / Dense after the fold_batchnorm pass: the BatchNormalization layer
  // folded into this one (its variables scale the kernel and shift the bias).
  std::string folded_batchnorm;  // layer name, "" when none
  double folded_epsilon = 0.001;
  bool folded_center = true, folded_scale = true;
  // ChannelSlice: the first channel taken (the count is `filters`).
  int64_t slice_begin = 0;
  // Conv2D made by merge_parallel_1x1: the convolutions it computes at once, in
  // output-channel order (each keeps its variables; the merged kernel and bias
  // are derived from them at load time).
  struct MergedPart {
    std::string layer;
    int64_t filters = 0;
    bool use_bias = true;
    std::string folded_batchnorm;
    double folded_epsilon = 0.001;
  };
  std::vector<MergedPart> merged;
  // Conv2D / Dense made by compose_1x1: the linear 1x1 convolution it applies
  // first (at most one; its kernel and bias are composed with this layer's at
  // load time). The layer reads that convolution's input.
  std::vector<MergedPart> composed;
};

struct Node {
  int id = -1;
  OpKind kind = OpKind::Input;
  std::string name;         // unique, e.g. "conv2d_0" or "inception3a/b1"
  std::vector<int> inputs;  // node ids, all smaller than id
  Attrs attrs;
  Shape shape;              // output shape, set by infer_shapes
};

// A Conv2D made by fuse_residual_add has a second input, its residual: out =
// act(conv + bias + residual); so has a BatchNorm made by fuse_batchnorm_add
// (training): out = act(batchnorm + residual). -1 when it has none.
inline int residual_input(const Node& n) {
  const bool can = n.kind == OpKind::Conv2D || n.kind == OpKind::BatchNorm;
  return can && n.inputs.size() == 2 ? n.inputs[1] : -1;
}

// A trainable or stateful variable of a layer, in the weights-file layout of
// model-format.md (Conv2D kernel [kh, kw, c_in, c_out], Dense kernel [in, out]).
struct Variable {
  int node = -1;
  std::string name;    // "<layer name>.<variable>", e.g. "conv1.kernel"
  std::string suffix;  // "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"
  Shape shape;
  bool trainable = true;  // moving statistics are not
};

struct Graph {
  std::string name;       // model name, a C identifier
  Shape input_shape;      // [H, W, C]
  std::vector<Node> nodes;  // nodes[0] is the Input node; nodes[i].id == i
  int output = -1;          // id of the output node (the last layer)

  // Appends a node, assigning its id. Returns the id.
  int add(Node node);
  const Node& node(int id) const { return nodes.at(id); }
  Node& node(int id) { return nodes.at(id); }
  // Ids of nodes that read node `id`.
  std::vector<int> users(int id) const;
};

// The variables of a node (none for ops without parameters), in a fixed order.
std::vector<Variable> node_variables(const Graph& g, const Node& n);
// All variables of the graph in node order.
std::vector<Variable> graph_variables(const Graph& g);
// Multiply-accumulates of one image through node n (0 for ops without them).
int64_t node_macs(const Graph& g, const Node& n);

}  // namespace cnnc::ir
