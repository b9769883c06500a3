// Helpers shared by the forward and backward lowering, and how gradients flow
// into a node: written once, added when several layers read it.
#include "compiler/lower/lowering.h"

namespace cnnc::lower {

Step make_step(kernels::Kind kind, const ir::Node& n, const std::string& purpose) {
  Step st;
  st.spec.kind = kind;
  st.layer = n.name;
  st.purpose = purpose;
  return st;
}

void copy_layer_constants(const ir::Attrs& a, kernels::KernelSpec* spec) {
  spec->epsilon = a.epsilon;
  spec->momentum = a.momentum;
  spec->center = a.center;
  spec->scale = a.scale;
  spec->rate = a.rate;
  spec->lrn_size = a.lrn_size;
  spec->lrn_alpha = a.lrn_alpha;
  spec->lrn_beta = a.lrn_beta;
  spec->lrn_bias = a.lrn_bias;
}

kernels::Act kernel_act(ir::Activation a) {
  switch (a) {
    case ir::Activation::Relu: return kernels::Act::Relu;
    case ir::Activation::Tanh: return kernels::Act::Tanh;
    case ir::Activation::Sigmoid: return kernels::Act::Sigmoid;
    default: return kernels::Act::Linear;
  }
}

void image_dims(const ir::Shape& s, int64_t* h, int64_t* w, int64_t* c) {
  if (s.size() == 3) {
    *h = s[0], *w = s[1], *c = s[2];
  } else {
    *h = 1, *w = 1, *c = s.empty() ? 1 : s[0];
  }
}

Operand scalar_operand(const std::string& expr) {
  Operand o;
  o.space = Space::Scalar;
  o.batched = false;
  o.scalar = expr;
  return o;
}

Operand dropout_seed_operand(const ir::Node& n) {
  return scalar_operand("dropout_seed ^ (0x9E3779B97F4A7C15ull * " + std::to_string(n.id) + "u)");
}

Step elementwise_step(kernels::Kind kind, const std::string& layer, const std::string& purpose,
                      int64_t elems) {
  Step st;
  st.spec.kind = kind;
  st.spec.in_c = st.spec.out_c = elems;
  st.layer = layer;
  st.purpose = purpose;
  return st;
}

int Lowering::readers(int id) const {
  int uses = 0;
  for (const ir::Node& user : g.nodes) {
    for (int in : user.inputs) uses += in == id;
  }
  return uses;
}

int Lowering::paired_batchnorm(const ir::Node& n) const {
  const int residual = ir::residual_input(n);
  if (n.kind != ir::OpKind::BatchNorm || residual < 0) return -1;
  const ir::Node& r = g.node(residual);
  const bool plain = r.kind == ir::OpKind::BatchNorm && r.attrs.scale && r.attrs.center &&
                     r.attrs.activation == ir::Activation::Linear && ir::residual_input(r) < 0;
  return plain && r.shape == n.shape && readers(residual) == 1 ? residual : -1;
}

Operand Lowering::begin_grad(int id) {
  const ir::Node& n = g.node(id);
  ++received[id];
  if (grad[id] < 0) {
    grad[id] = new_tensor("d_" + n.name, ir::num_elements(n.shape));
    return grad_of(id);
  }
  pending[id] = new_tensor("d_" + n.name + ".part", ir::num_elements(n.shape));
  return arena(pending[id], n.shape);
}

namespace {

// Whether node n's backward starts with one ActivationBackward step over its
// output's gradient, which can sum in a last contribution (lower_backward.cpp).
bool sums_in_activation_backward(const ir::Graph& g, const ir::Node& n) {
  const bool residual = ir::residual_input(n) >= 0;
  const bool kind = n.kind == ir::OpKind::BatchNorm
                        ? residual
                        : !residual && (n.kind == ir::OpKind::Conv2D || n.kind == ir::OpKind::Dense ||
                                        n.kind == ir::OpKind::Add || n.kind == ir::OpKind::Activation);
  return kind && n.id != g.output && n.attrs.activation != ir::Activation::Linear &&
         n.attrs.activation != ir::Activation::Softmax;
}

}  // namespace

bool Lowering::can_sum_grad_in_place(int id) const {
  if (grad[id] < 0 || borrowed[id] || pending[id] >= 0) return false;
  return received[id] + 1 < readers(id) || !sums_in_activation_backward(g, g.node(id));
}

Operand Lowering::sum_grad_in_place(int id) {
  ++received[id];
  return grad_of(id);
}

void Lowering::end_grad(int id, std::vector<Step>* steps) {
  if (pending[id] < 0) return;
  const ir::Node& n = g.node(id);
  if (received[id] == readers(id) && sums_in_activation_backward(g, n)) return;
  int64_t elems = ir::num_elements(n.shape);
  Step st = elementwise_step(kernels::Kind::Add, n.name, "gradient sum", elems);
  Operand sum = grad_of(id), part = arena(pending[id], n.shape);
  if (borrowed[id]) {  // another node's gradient too: the sum goes to a tensor of its own
    grad[id] = new_tensor("d_" + n.name, elems);
    borrowed[id] = false;
  }
  Operand out = grad_of(id);
  sum.extents = part.extents = out.extents = {elems};
  st.operands["a"] = sum;
  st.operands["b"] = part;
  st.operands["output"] = out;
  steps->push_back(st);
  pending[id] = -1;
}

void Lowering::share_grad(int id, int tensor, std::vector<Step>* steps) {
  const ir::Node& n = g.node(id);
  if (n.kind == ir::OpKind::Input) return;
  ++received[id];
  if (grad[id] < 0) {
    grad[id] = tensor;
    borrowed[id] = readers(id) > 1;
    return;
  }
  pending[id] = tensor;  // only read
  end_grad(id, steps);
}

}  // namespace cnnc::lower
