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

Operand Lowering::begin_grad(int id) {
  const ir::Node& n = g.node(id);
  if (grad[id] < 0) {
    grad[id] = new_tensor("d_" + n.name, ir::num_elements(n.shape));
    return grad_of(id);
  }
  pending[id] = new_tensor("d_" + n.name + ".part", ir::num_elements(n.shape));
  return arena(pending[id], n.shape);
}

void Lowering::end_grad(int id, std::vector<Step>* steps) {
  if (pending[id] < 0) return;
  const ir::Node& n = g.node(id);
  int64_t elems = ir::num_elements(n.shape);
  Step st = elementwise_step(kernels::Kind::Add, n.name, "gradient sum", elems);
  Operand sum = grad_of(id), part = arena(pending[id], n.shape);
  sum.extents = part.extents = {elems};
  st.operands["a"] = sum;
  st.operands["b"] = part;
  st.operands["output"] = sum;
  steps->push_back(st);
  pending[id] = -1;
}

void Lowering::share_grad(int id, int tensor, std::vector<Step>* steps) {
  const ir::Node& n = g.node(id);
  if (n.kind == ir::OpKind::Input) return;
  int uses = 0;  // a layer reading `id` twice (Add(x, x)) counts twice
  for (const ir::Node& user : g.nodes) {
    for (int in : user.inputs) uses += in == id;
  }
  if (grad[id] < 0 && uses == 1) {
    grad[id] = tensor;  // the only reader: no copy needed
    return;
  }
  int64_t elems = ir::num_elements(n.shape);
  Operand src = arena(tensor, n.shape);
  src.extents = {elems};
  bool first = grad[id] < 0;
  if (first) grad[id] = new_tensor("d_" + n.name, elems);
  Operand dst = grad_of(id);
  dst.extents = {elems};
  Step st = elementwise_step(first ? kernels::Kind::Activation : kernels::Kind::Add, n.name,
                             first ? "gradient copy" : "gradient sum", elems);
  if (first) {
    st.operands["input"] = src;
  } else {
    st.operands["a"] = dst;
    st.operands["b"] = src;
  }
  st.operands["output"] = dst;
  steps->push_back(st);
}

}  // namespace cnnc::lower
