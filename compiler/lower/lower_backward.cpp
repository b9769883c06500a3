// Backward pass, in reverse node order, then the SGD updates of the trainable
// variables. Gradients of the model input are never computed.
#include <cstdio>

#include "compiler/lower/lowering.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::lower {
namespace {

using ir::Activation;
using ir::Node;
using ir::OpKind;
using kernels::Kind;

// dx = dy * f'(y) of node n's activation; a last gradient contribution that
// end_grad left pending is summed into dy in the same pass.
void push_activation_backward(Lowering& l, const Node& n, const std::string& purpose, Operand dx,
                              std::vector<Step>* steps) {
  Step st = make_step(Kind::ActivationBackward, n, purpose);
  int64_t elems = ir::num_elements(n.shape);
  st.spec.in_c = st.spec.out_c = elems;
  st.spec.act = kernel_act(n.attrs.activation);
  Operand y = l.output_of(n.id), dy = l.grad_of(n.id);
  y.extents = dy.extents = dx.extents = {elems};
  st.operands["output"] = y;
  st.operands["d_output"] = dy;
  if (l.pending[n.id] >= 0) {
    st.spec.residual = true;
    Operand part = l.arena(l.pending[n.id], n.shape);
    part.extents = {elems};
    st.operands["d_residual"] = part;
    l.pending[n.id] = -1;
  }
  st.operands["d_input"] = dx;
  steps->push_back(st);
}

// A new tensor dz = dy * f'(y) for a node with a (non-softmax) activation.
int activation_grad(Lowering& l, const Node& n, std::vector<Step>* steps) {
  int dz = l.new_tensor("dz_" + n.name, ir::num_elements(n.shape));
  push_activation_backward(l, n, "activation backward", l.arena(dz, n.shape), steps);
  return dz;
}

// d(loss)/d(pre-activation) of a Conv2D/Dense node: the loss step's d(logits)
// for the softmax output, dy itself for a linear layer, dy * f'(y) otherwise.
Operand pre_activation_grad(Lowering& l, const Node& n, std::vector<Step>* steps) {
  if (n.id == l.g.output && n.attrs.activation == Activation::Softmax) {
    return l.arena(l.labels_d_logits, n.shape);
  }
  if (n.attrs.activation == Activation::Linear) return l.grad_of(n.id);
  return l.arena(activation_grad(l, n, steps), n.shape);
}

// Every input's gradient is the sum's, through its activation (training:
// fuse_activation) first.
void add_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  int dz = l.grad[n.id];
  if (n.attrs.activation != Activation::Linear) dz = activation_grad(l, n, steps);
  for (int in : n.inputs) l.share_grad(in, dz, steps);
}

void dense_backward(Lowering& l, const Node& n, std::vector<Step>* steps);

// The weight (and bias) gradient of a Dense layer, or of a 1x1 convolution
// as a matrix product over its pixels; dz is d(loss)/d(pre-activation).
Step dense_weights_step(Lowering& l, const Node& n, const Node& in, Operand dz) {
  int64_t in_features = in.shape.back();
  int64_t rows = ir::num_elements(in.shape) / in_features;
  Step st = make_step(Kind::DenseBackwardWeights, n, "backward weights");
  st.spec.in_c = in_features;
  st.spec.out_c = n.attrs.filters;
  st.spec.use_bias = n.attrs.use_bias;
  st.spec.rows_per_image = rows;
  Operand x = l.output_of(in.id);
  x.extents = {in_features};
  x.rows_per_image = rows;
  dz.extents = {n.attrs.filters};
  dz.rows_per_image = rows;
  st.operands["input"] = x;
  st.operands["d_output"] = dz;
  Operand d_weights = l.param(n.name + ".kernel", Space::Grads);
  d_weights.extents.resize(2);  // a 1x1 convolution's kernel as a Dense one
  st.operands["d_weights"] = d_weights;
  if (n.attrs.use_bias) st.operands["d_bias"] = l.param(n.name + ".bias", Space::Grads);
  return st;
}

// A 1x1 convolution with a stride above 1 and no padding.
bool strided_pointwise_conv(const Node& n) {
  const ir::Attrs& a = n.attrs;
  return n.kind == OpKind::Conv2D && a.kernel_h == 1 && a.kernel_w == 1 &&
         a.stride_h * a.stride_w > 1 && a.pads.top == 0 && a.pads.bottom == 0 && a.pads.left == 0 &&
         a.pads.right == 0;
}

// The other reader of n's input when n and it are strided 1x1 convolutions
// with the same stride, the input's only readers (a projection block's first
// 1x1 and its shortcut): one kernel computes both data gradients, the
// input's gradient written once. -1 when there is none.
int data_gradient_partner(const Lowering& l, const Node& n) {
  const Node& in = l.g.node(n.inputs[0]);
  if (!l.pair_data_gradients || !strided_pointwise_conv(n) || in.kind == OpKind::Input ||
      l.readers(in.id) != 2) {
    return -1;
  }
  for (const Node& m : l.g.nodes) {
    if (m.id == n.id || m.inputs.size() != 1 || m.inputs[0] != in.id) continue;
    const bool same = strided_pointwise_conv(m) && m.attrs.stride_h == n.attrs.stride_h &&
                      m.attrs.stride_w == n.attrs.stride_w && ir::residual_input(m) < 0;
    return same ? m.id : -1;
  }
  return -1;
}

void conv_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  if (ir::residual_input(n) >= 0) {  // fuse_residual_add runs for inference only
    throw Error("internal: no backward for the fused residual of '" + n.name + "'");
  }
  if (l.as_gemm(n)) {
    dense_backward(l, n, steps);  // as its forward: a matrix product over pixels
    return;
  }
  const Node& in = l.g.node(n.inputs[0]);
  Operand dz = pre_activation_grad(l, n, steps);
  Step base = make_step(Kind::Conv2D, n, "");
  image_dims(in.shape, &base.spec.in_h, &base.spec.in_w, &base.spec.in_c);
  image_dims(n.shape, &base.spec.out_h, &base.spec.out_w, &base.spec.out_c);
  base.spec.kernel_h = n.attrs.kernel_h, base.spec.kernel_w = n.attrs.kernel_w;
  base.spec.stride_h = n.attrs.stride_h, base.spec.stride_w = n.attrs.stride_w;
  base.spec.pad_top = n.attrs.pads.top, base.spec.pad_left = n.attrs.pads.left;
  base.spec.use_bias = n.attrs.use_bias;

  if (is_pointwise_conv(n)) {
    // The same kernel (so the same sums) whether or not gemm_1x1 runs the
    // layer forward as a matrix product.
    steps->push_back(dense_weights_step(l, n, in, dz));
  } else {
    Step filter = base;
    filter.spec.kind = Kind::Conv2DBackwardFilter;
    filter.purpose = "backward filter";
    filter.operands["input"] = l.output_of(in.id);
    filter.operands["d_output"] = dz;
    filter.operands["d_weights"] = l.param(n.name + ".kernel", Space::Grads);
    if (n.attrs.use_bias) filter.operands["d_bias"] = l.param(n.name + ".bias", Space::Grads);
    steps->push_back(filter);
  }

  if (in.kind == OpKind::Input) return;
  // The later of a pair (its backward runs first) leaves its data gradient
  // to the earlier one's step.
  const int partner = data_gradient_partner(l, n);
  if (partner >= 0 && partner < n.id) {
    l.deferred_data_grad[n.id] = dz;
    return;
  }
  Step data = base;
  data.spec.kind = Kind::Conv2DBackwardData;
  data.spec.use_bias = false;
  data.purpose = "backward data";
  data.operands["d_output"] = dz;
  data.operands["weights"] = l.param(n.name + ".kernel", Space::Params);
  if (partner >= 0) {
    const Node& m = l.g.node(partner);
    data.spec.pair_out_c = m.attrs.filters;
    data.purpose = "backward data, with " + m.name + "'s";
    data.operands["d_output2"] = l.deferred_data_grad.at(partner);
    data.operands["weights2"] = l.param(m.name + ".kernel", Space::Params);
    ++l.received[in.id];  // the partner's contribution
  }
  data.operands["d_input"] = l.begin_grad(in.id);
  steps->push_back(data);
  l.end_grad(in.id, steps);
}

void dense_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  const Node& in = l.g.node(n.inputs[0]);
  Operand dz = pre_activation_grad(l, n, steps);
  int64_t in_features = in.shape.back();
  int64_t rows = ir::num_elements(in.shape) / in_features;
  Step base = make_step(Kind::Dense, n, "");
  base.spec.in_c = in_features;
  base.spec.out_c = n.attrs.filters;
  base.spec.use_bias = n.attrs.use_bias;
  steps->push_back(dense_weights_step(l, n, in, dz));
  dz.extents = {n.attrs.filters};
  dz.rows_per_image = rows;

  if (in.kind == OpKind::Input) return;
  Step data = base;
  data.spec.kind = Kind::DenseBackwardData;
  data.spec.use_bias = false;
  data.spec.rows_per_image = rows;
  data.purpose = "backward data";
  data.operands["d_output"] = dz;
  Operand w = l.param(n.name + ".kernel", Space::Params);
  w.extents.resize(2);
  data.operands["weights"] = w;
  // A 1x1 convolution's input read by another layer too (a ResNet block's
  // first convolution and its projection shortcut): the second data gradient
  // adds itself to the first in place, instead of an Add after it.
  const bool sum_in = rows > 1 && l.can_sum_grad_in_place(in.id);
  Operand dx = sum_in ? l.sum_grad_in_place(in.id) : l.begin_grad(in.id);
  dx.extents = {in_features};
  dx.rows_per_image = rows;
  data.operands["d_input"] = dx;
  if (sum_in) {
    data.spec.residual = true;
    data.operands["d_residual"] = dx;
  }
  steps->push_back(data);
  if (!sum_in) l.end_grad(in.id, steps);
}

void pool_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  const Node& in = l.g.node(n.inputs[0]);
  if (in.kind == OpKind::Input) return;
  Step st = make_step(Kind::Pool2DBackward, n, "backward");
  image_dims(in.shape, &st.spec.in_h, &st.spec.in_w, &st.spec.in_c);
  bool global = n.kind == OpKind::GlobalAvgPool2D;
  st.spec.out_h = global ? 1 : n.shape[0];
  st.spec.out_w = global ? 1 : n.shape[1];
  st.spec.out_c = n.shape.back();
  st.spec.pool = n.kind == OpKind::MaxPool2D ? kernels::PoolKind::Max : kernels::PoolKind::Avg;
  st.spec.kernel_h = global ? st.spec.in_h : n.attrs.kernel_h;
  st.spec.kernel_w = global ? st.spec.in_w : n.attrs.kernel_w;
  st.spec.stride_h = global ? 1 : n.attrs.stride_h;
  st.spec.stride_w = global ? 1 : n.attrs.stride_w;
  st.spec.pad_top = global ? 0 : n.attrs.pads.top;
  st.spec.pad_left = global ? 0 : n.attrs.pads.left;
  Operand dy = l.grad_of(n.id);
  if (global) dy.extents = {n.shape[0], 1, 1};
  st.operands["input"] = l.output_of(in.id);
  st.operands["d_output"] = dy;
  st.operands["d_input"] = l.begin_grad(in.id);
  steps->push_back(st);
  l.end_grad(in.id, steps);
}

void activation_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  const Node& in = l.g.node(n.inputs[0]);
  if (in.kind == OpKind::Input) return;
  if (n.attrs.activation == Activation::Linear) {
    l.share_grad(in.id, l.grad[n.id], steps);  // identity
    return;
  }
  if (n.id == l.g.output && n.attrs.activation == Activation::Softmax) {
    l.share_grad(in.id, l.labels_d_logits, steps);
    return;
  }
  push_activation_backward(l, n, "backward", l.begin_grad(in.id), steps);
  l.end_grad(in.id, steps);
}

// A C++ float expression that reads back the double exactly as printed.
std::string exact_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "float(%.17g)", v);
  return buf;
}

// A tensor of node n's shape as BatchNorm kernels see it: (c, rows).
Operand rowwise(const Node& n, Operand o) {
  o.extents = {n.shape.back()};
  o.rows_per_image = ir::num_elements(n.shape) / n.shape.back();
  return o;
}

// A BatchNorm's batch statistic (c floats, not per image; `columns` of them).
Operand batch_stat(const Lowering& l, const Node& n, int tensor, int64_t columns = 1) {
  Operand o = l.arena(tensor, {n.shape.back()});
  if (columns > 1) o.extents.push_back(columns);
  o.batched = false;
  return o;
}

// dz = act'(y) * dy of a BatchNorm with a residual (fuse_batchnorm_add),
// summing in a pending contribution, as one BatchNormGradSums step that also
// reduces the sums of n's BatchNormBackward and, when its residual is a
// BatchNorm only n reads (ResNet's projection shortcut), of that one's: those
// read them (given_sums) instead of passing over x and dz once more. It
// writes d_gamma and d_beta.
int grad_sums(Lowering& l, const Node& n, std::vector<Step>* steps) {
  Step st = make_step(Kind::BatchNormGradSums, n, "activation backward and sums");
  st.spec.in_c = st.spec.out_c = n.shape.back();
  st.spec.in_h = st.spec.out_h = ir::num_elements(n.shape) / n.shape.back();
  st.spec.act = kernel_act(n.attrs.activation);
  st.operands["output"] = rowwise(n, l.output_of(n.id));
  st.operands["d_output"] = rowwise(n, l.grad_of(n.id));
  if (l.pending[n.id] >= 0) {
    st.spec.residual = true;
    st.operands["d_residual"] = rowwise(n, l.arena(l.pending[n.id], n.shape));
    l.pending[n.id] = -1;
  }
  const int pair = l.paired_batchnorm(n);
  st.spec.batch_norms = pair >= 0 ? 2 : 1;
  for (int id : {n.id, pair}) {
    if (id < 0) break;
    const Node& bn = l.g.node(id);
    const std::string k = id == n.id ? "" : "2";
    st.operands["input" + k] = rowwise(n, l.output_of(bn.inputs[0]));
    st.operands["batch_mean" + k] = batch_stat(l, n, l.bn_mean[id]);
    st.operands["batch_inv_std" + k] = batch_stat(l, n, l.bn_inv_std[id]);
    st.operands["d_gamma" + k] = l.param(bn.name + ".gamma", Space::Grads);
    st.operands["d_beta" + k] = l.param(bn.name + ".beta", Space::Grads);
    l.bn_grad_means[id] = l.new_tensor("grad_means_" + bn.name, 2 * n.shape.back(), false);
    st.operands["grad_means" + k] = batch_stat(l, n, l.bn_grad_means[id], 2);
  }
  const int dz = l.new_tensor("dz_" + n.name, ir::num_elements(n.shape));
  st.operands["d_input"] = rowwise(n, l.arena(dz, n.shape));
  steps->push_back(st);
  return dz;
}

// BatchNorm's kernel always writes d_input; for the model input it is scratch.
// With a residual (fuse_batchnorm_add), the activation's derivative is a step
// of its own: its result is the gradient of both the BatchNorm and the residual.
void batchnorm_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  const Node& in = l.g.node(n.inputs[0]);
  const int residual = ir::residual_input(n);
  int dy = l.grad[n.id];
  if (residual >= 0 && n.attrs.activation != Activation::Linear) {
    dy = n.attrs.scale && n.attrs.center ? grad_sums(l, n, steps) : activation_grad(l, n, steps);
  }
  int64_t c = n.shape.back(), rows = ir::num_elements(n.shape) / c;
  Step st = make_step(Kind::BatchNormBackward, n, "backward");
  st.spec.in_c = st.spec.out_c = c;
  st.spec.in_h = st.spec.out_h = rows;
  copy_layer_constants(n.attrs, &st.spec);
  // fused (fuse_activation): y's derivative first
  st.spec.act = residual >= 0 ? kernels::Act::Linear : kernel_act(n.attrs.activation);
  st.spec.given_sums = l.bn_grad_means[n.id] >= 0;  // d_gamma, d_beta written already
  bool to_input = in.kind != OpKind::Input;
  Operand dx = to_input ? l.begin_grad(in.id)
                        : l.arena(l.new_tensor("d_" + in.name + ".unused", c * rows), n.shape);
  st.operands["input"] = rowwise(n, l.output_of(in.id));
  st.operands["d_output"] = rowwise(n, l.arena(dy, n.shape));
  if (st.spec.act == kernels::Act::Tanh || st.spec.act == kernels::Act::Sigmoid) {
    st.operands["output"] = rowwise(n, l.output_of(n.id));
  }
  if (n.attrs.scale) st.operands["gamma"] = l.param(n.name + ".gamma", Space::Params);
  st.operands["batch_mean"] = batch_stat(l, n, l.bn_mean[n.id]);
  st.operands["batch_inv_std"] = batch_stat(l, n, l.bn_inv_std[n.id]);
  if (st.spec.act == kernels::Act::Relu) {  // y computed again, as the forward did
    if (n.attrs.center) st.operands["beta"] = l.param(n.name + ".beta", Space::Params);
    st.operands["batch_affine"] = batch_stat(l, n, l.bn_affine[n.id], 2);
  }
  if (st.spec.given_sums) {
    st.operands["grad_means"] = batch_stat(l, n, l.bn_grad_means[n.id], 2);
  } else {
    if (n.attrs.scale) st.operands["d_gamma"] = l.param(n.name + ".gamma", Space::Grads);
    if (n.attrs.center) st.operands["d_beta"] = l.param(n.name + ".beta", Space::Grads);
  }
  st.operands["d_input"] = rowwise(n, dx);
  steps->push_back(st);
  if (to_input) l.end_grad(in.id, steps);
  if (residual >= 0) l.share_grad(residual, dy, steps);
}

void dropout_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  const Node& in = l.g.node(n.inputs[0]);
  if (in.kind == OpKind::Input) return;
  int64_t elems = ir::num_elements(n.shape);
  Step st = elementwise_step(Kind::DropoutBackward, n.name, "backward", elems);
  copy_layer_constants(n.attrs, &st.spec);
  Operand dy = l.grad_of(n.id), dx = l.begin_grad(in.id);
  dy.extents = dx.extents = {elems};
  st.operands["d_output"] = dy;
  st.operands["seed"] = dropout_seed_operand(n);
  st.operands["step"] = scalar_operand("step");
  st.operands["d_input"] = dx;
  steps->push_back(st);
  l.end_grad(in.id, steps);
}

void lrn_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  const Node& in = l.g.node(n.inputs[0]);
  if (in.kind == OpKind::Input) return;
  Step st = make_step(Kind::LRNBackward, n, "backward");
  image_dims(n.shape, &st.spec.in_h, &st.spec.in_w, &st.spec.in_c);
  image_dims(n.shape, &st.spec.out_h, &st.spec.out_w, &st.spec.out_c);
  copy_layer_constants(n.attrs, &st.spec);
  st.operands["input"] = l.output_of(in.id);
  st.operands["output"] = l.output_of(n.id);
  st.operands["d_output"] = l.grad_of(n.id);
  st.operands["d_input"] = l.begin_grad(in.id);
  steps->push_back(st);
  l.end_grad(in.id, steps);
}

void zeropad_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  const Node& in = l.g.node(n.inputs[0]);
  if (in.kind == OpKind::Input) return;
  Step st = make_step(Kind::ZeroPadBackward, n, "backward");
  image_dims(in.shape, &st.spec.in_h, &st.spec.in_w, &st.spec.in_c);
  image_dims(n.shape, &st.spec.out_h, &st.spec.out_w, &st.spec.out_c);
  st.spec.pad_top = n.attrs.pads.top;
  st.spec.pad_left = n.attrs.pads.left;
  st.operands["d_output"] = l.grad_of(n.id);
  st.operands["d_input"] = l.begin_grad(in.id);
  steps->push_back(st);
  l.end_grad(in.id, steps);
}

// Each input's gradient is its channel slice of d(output).
void concat_backward(Lowering& l, const Node& n, std::vector<Step>* steps) {
  int64_t h, w, total;
  image_dims(n.shape, &h, &w, &total);
  int64_t offset = 0;
  for (int id : n.inputs) {
    const Node& in = l.g.node(id);
    int64_t c = in.shape.back();
    if (in.kind != OpKind::Input) {
      Step st = make_step(Kind::ChannelCopy, n, "backward slice of " + in.name);
      st.spec.in_h = st.spec.out_h = h;
      st.spec.in_w = st.spec.out_w = w;
      st.spec.in_c = total;
      st.spec.out_c = c;
      st.spec.channels = c;
      Operand src = l.grad_of(n.id);
      src.extents = {c, w, h};
      src.element_offset = offset;
      src.strides = {1, total, total * w, total * w * h};
      Operand dst = l.begin_grad(in.id);
      dst.extents = {c, w, h};
      st.operands["input"] = src;
      st.operands["output"] = dst;
      steps->push_back(st);
      l.end_grad(in.id, steps);
    }
    offset += c;
  }
}

// One update call per run of trainable variables that lie next to each other
// in the parameter block and share their L2 factor: each call costs a kernel
// start and a parallel loop, and most variables (biases, BatchNorm's) are tiny.
void sgd_updates(Lowering& l, std::vector<Step>* steps) {
  const std::vector<ParamSlot>& slots = l.params.slots;
  for (size_t first = 0; first < slots.size();) {
    if (!slots[first].variable.trainable) {
      ++first;
      continue;
    }
    size_t end = first + 1;
    int64_t size = slots[first].size;
    while (end < slots.size() && slots[end].variable.trainable &&
           slots[end].l2 == slots[first].l2 && slots[end].offset == slots[first].offset + size) {
      size += slots[end++].size;
    }
    const std::string& name = slots[first].variable.name;
    const std::string& last = slots[end - 1].variable.name;
    Step st;
    st.spec.kind = Kind::SgdUpdate;
    // Layer names, not node ids (ids differ after passes): "conv1", "conv1..fc2",
    // "block1/conv..bn" (the last one's folder is the first one's).
    st.layer = name.substr(0, name.rfind('.'));
    std::string last_layer = last.substr(0, last.rfind('.'));
    if (last_layer != st.layer) {
      const size_t folder = st.layer.rfind('/') + 1;  // 0 without a folder
      if (last_layer.compare(0, folder, st.layer, 0, folder) == 0) last_layer.erase(0, folder);
      st.layer += ".." + last_layer;
    }
    st.purpose = "update " + name + (end - first > 1 ? " to " + last : "");
    auto flat = [&](Space space) {
      Operand o;
      o.space = space;
      o.offset = slots[first].offset;
      o.extents = {size};
      o.batched = false;
      return o;
    };
    auto scalar = scalar_operand;
    st.operands["weights"] = flat(Space::Params);
    st.operands["grad"] = flat(Space::Grads);
    st.operands["velocity"] = flat(Space::Velocity);
    st.operands["lr"] = scalar("sgd.learning_rate");
    st.operands["momentum"] = scalar("sgd.momentum");
    st.operands["l2"] = scalar(exact_float(slots[first].l2));
    st.operands["nesterov"] = scalar("sgd.nesterov ? 1 : 0");
    st.operands["new_weights"] = flat(Space::Params);
    st.operands["new_velocity"] = flat(Space::Velocity);
    steps->push_back(st);
    first = end;
  }
}

}  // namespace

void lower_backward(Lowering& l, std::vector<Step>* steps) {
  const ir::Graph& g = l.g;
  // The output node's gradient comes from the loss step (softmax output only).
  for (int id = int(g.nodes.size()) - 1; id > 0; --id) {
    const Node& n = g.node(id);
    bool reached = l.grad[id] >= 0 || id == g.output;
    if (!reached) continue;  // nothing downstream depends on it
    switch (n.kind) {
      case OpKind::Conv2D: conv_backward(l, n, steps); break;
      case OpKind::Dense: dense_backward(l, n, steps); break;
      case OpKind::MaxPool2D:
      case OpKind::AvgPool2D:
      case OpKind::GlobalAvgPool2D: pool_backward(l, n, steps); break;
      case OpKind::Activation: activation_backward(l, n, steps); break;
      case OpKind::Flatten: l.share_grad(n.inputs[0], l.grad[id], steps); break;
      case OpKind::Add: add_backward(l, n, steps); break;
      case OpKind::BatchNorm: batchnorm_backward(l, n, steps); break;
      case OpKind::Dropout: dropout_backward(l, n, steps); break;
      case OpKind::LRN: lrn_backward(l, n, steps); break;
      case OpKind::ZeroPad2D: zeropad_backward(l, n, steps); break;
      case OpKind::Concat: concat_backward(l, n, steps); break;
      default:
        throw Error(std::string("internal: no backward lowering for ") + ir::op_name(n.kind));
    }
  }
}

void lower_updates(Lowering& l, std::vector<Step>* steps) { sgd_updates(l, steps); }

}  // namespace cnnc::lower
