// Inference: a linear 1x1 convolution (BatchNorm folded or not) whose only
// reader is a 1x1 stride-1 Conv2D or a Dense on the same pixels is a matrix
// product followed by another one, with nothing non-linear between: the two
// compose into one layer, kernel K1*K2 and bias b1*K2 + b2, computed at load
// time. Only where that is no more work (c_in * c_out <= c_mid * (c_in +
// c_out)), i.e. an expansion followed by a reduction or a narrow chain.
//
// None of the seed networks has such a pair (every 1x1 there is followed by a
// ReLU, possibly after a BatchNorm or an Add); models written from Keras
// blocks with a linear "projection" 1x1 before a classifier Dense do.
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {
namespace {

bool plain_1x1(const ir::Node& n) {
  const ir::Attrs& a = n.attrs;
  return n.kind == ir::OpKind::Conv2D && a.kernel_h == 1 && a.kernel_w == 1 && a.pads.top == 0 &&
         a.pads.bottom == 0 && a.pads.left == 0 && a.pads.right == 0 && a.merged.empty() &&
         a.composed.empty() && n.inputs.size() == 1;
}

}  // namespace

bool compose_1x1(ir::Graph& g, const PassContext& ctx) {
  if (ctx.training) return false;  // each layer keeps its own gradients in training
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (ir::Node& second : g.nodes) {
    bool is_conv = plain_1x1(second) && second.attrs.stride_h == 1 && second.attrs.stride_w == 1;
    bool is_dense = second.kind == ir::OpKind::Dense && second.attrs.composed.empty();
    if (!is_conv && !is_dense) continue;
    const ir::Node& first = g.node(second.inputs[0]);
    if (dead[first.id] || !plain_1x1(first)) continue;               // not a 1x1 convolution
    if (first.attrs.activation != ir::Activation::Linear) continue;  // non-linear between
    if (single_user(g, first.id) != second.id) continue;  // others read the middle tensor
    // A Dense reads pixels one by one only when the convolution keeps them all.
    if (is_dense && (first.attrs.stride_h != 1 || first.attrs.stride_w != 1)) continue;
    const int64_t c_in = g.node(first.inputs[0]).shape.back(), c_mid = first.attrs.filters,
                  c_out = second.attrs.filters;
    if (c_in * c_out > c_mid * (c_in + c_out)) continue;  // more work composed
    second.attrs.composed = {{first.name, first.attrs.filters, first.attrs.use_bias,
                              first.attrs.folded_batchnorm, first.attrs.folded_epsilon}};
    if (is_conv) {
      second.attrs.stride_h = first.attrs.stride_h;
      second.attrs.stride_w = first.attrs.stride_w;
    }
    second.inputs[0] = first.inputs[0];
    dead[first.id] = changed = true;
    if (ctx.log) *ctx.log << "compose_1x1: '" << first.name << "' into '" << second.name << "'\n";
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace cnnc::passes
