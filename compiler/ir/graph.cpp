// Op table lookups, names of enums, and the per-node variable / MAC rules.
#include "compiler/ir/graph.h"

#include <cstring>

#include "compiler/ir/checked_math.h"

namespace cnnc::ir {
namespace {

struct OpRow {
  const char* name;
  int min_inputs, max_inputs, fused_inputs;
};

constexpr OpRow kOpRows[] = {
#define OP(Enum, Name, MinIn, MaxIn, FusedIn) {Name, MinIn, MaxIn, FusedIn},
#include "compiler/ir/ops.def"
#undef OP
};

// Keras spells some layer types two ways; the op table keeps the canonical one.
struct OpAlias {
  const char* alias;
  OpKind kind;
};
constexpr OpAlias kOpAliases[] = {
    {"MaxPool2D", OpKind::MaxPool2D},
    {"AvgPool2D", OpKind::AvgPool2D},
    {"LRN", OpKind::LRN},
};

constexpr const char* kActivationNames[] = {"linear", "relu", "tanh", "sigmoid", "softmax"};
constexpr const char* kInitializerNames[] = {"glorot_uniform", "glorot_normal", "he_uniform",
                                             "he_normal",      "zeros",         "ones"};

template <typename Enum, size_t N>
bool enum_from_name(const char* const (&names)[N], const std::string& name, Enum* out) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) {
      *out = static_cast<Enum>(i);
      return true;
    }
  }
  return false;
}

}  // namespace

const char* op_name(OpKind kind) { return kOpRows[static_cast<int>(kind)].name; }
int op_min_inputs(OpKind kind) { return kOpRows[static_cast<int>(kind)].min_inputs; }
int op_max_inputs(OpKind kind) { return kOpRows[static_cast<int>(kind)].max_inputs; }
int op_fused_inputs(OpKind kind) { return kOpRows[static_cast<int>(kind)].fused_inputs; }

bool op_from_name(const std::string& name, OpKind* kind) {
  for (size_t i = 0; i < std::size(kOpRows); ++i) {
    if (static_cast<OpKind>(i) == OpKind::ChannelSlice) continue;  // internal
    if (name == kOpRows[i].name) {
      *kind = static_cast<OpKind>(i);
      return true;
    }
  }
  for (const OpAlias& a : kOpAliases) {
    if (name == a.alias) {
      *kind = a.kind;
      return true;
    }
  }
  return false;
}

const char* activation_name(Activation a) { return kActivationNames[static_cast<int>(a)]; }
bool activation_from_name(const std::string& name, Activation* a) {
  return enum_from_name(kActivationNames, name, a);
}
const char* initializer_name(Initializer i) { return kInitializerNames[static_cast<int>(i)]; }
bool initializer_from_name(const std::string& name, Initializer* i) {
  return enum_from_name(kInitializerNames, name, i);
}

int64_t num_elements(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n = saturating_mul(n, d);
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out.empty() ? "?" : out;
}

int Graph::add(Node node) {
  node.id = static_cast<int>(nodes.size());
  nodes.push_back(std::move(node));
  return nodes.back().id;
}

std::vector<int> Graph::users(int id) const {
  std::vector<int> result;
  for (const Node& n : nodes) {
    for (int in : n.inputs) {
      if (in == id) {
        result.push_back(n.id);
        break;
      }
    }
  }
  return result;
}

namespace {

// Channels (last axis) of the node's first input; 0 when not known yet.
int64_t input_channels(const Graph& g, const Node& n) {
  if (n.inputs.empty()) return 0;
  const Shape& s = g.node(n.inputs[0]).shape;
  return s.empty() ? 0 : s.back();
}

Variable make_variable(const Node& n, const char* suffix, Shape shape, bool trainable = true) {
  Variable v;
  v.node = n.id;
  v.name = n.name + "." + suffix;
  v.suffix = suffix;
  v.shape = std::move(shape);
  v.trainable = trainable;
  return v;
}

}  // namespace

std::vector<Variable> node_variables(const Graph& g, const Node& n) {
  std::vector<Variable> vars;
  const Attrs& a = n.attrs;
  switch (n.kind) {
    case OpKind::Conv2D:
      vars.push_back(
          make_variable(n, "kernel", {a.kernel_h, a.kernel_w, input_channels(g, n), a.filters}));
      if (a.use_bias) vars.push_back(make_variable(n, "bias", {a.filters}));
      break;
    case OpKind::Dense:
      vars.push_back(make_variable(n, "kernel", {input_channels(g, n), a.filters}));
      if (a.use_bias) vars.push_back(make_variable(n, "bias", {a.filters}));
      break;
    case OpKind::BatchNorm: {
      const int64_t c = input_channels(g, n);
      if (a.scale) vars.push_back(make_variable(n, "gamma", {c}));
      if (a.center) vars.push_back(make_variable(n, "beta", {c}));
      vars.push_back(make_variable(n, "moving_mean", {c}, /*trainable=*/false));
      vars.push_back(make_variable(n, "moving_variance", {c}, /*trainable=*/false));
      break;
    }
    default:
      break;
  }
  return vars;
}

std::vector<Variable> graph_variables(const Graph& g) {
  std::vector<Variable> all;
  for (const Node& n : g.nodes) {
    std::vector<Variable> vars = node_variables(g, n);
    all.insert(all.end(), vars.begin(), vars.end());
  }
  return all;
}

int64_t node_macs(const Graph& g, const Node& n) {
  const Attrs& a = n.attrs;
  switch (n.kind) {
    case OpKind::Conv2D: {
      // Every output element sums kh * kw * c_in products.
      const int64_t window =
          saturating_mul(saturating_mul(a.kernel_h, a.kernel_w), input_channels(g, n));
      return saturating_mul(num_elements(n.shape), window);
    }
    case OpKind::Dense:
      return saturating_mul(num_elements(n.shape), input_channels(g, n));
    default:
      return 0;
  }
}

}  // namespace cnnc::ir
