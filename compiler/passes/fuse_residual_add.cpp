// Inference: an Add of two tensors, one of them a linear Conv2D (BatchNorm
// folded or not) that nothing else reads, becomes that convolution's epilogue:
// the convolution reads the other tensor as its residual, out = conv + bias +
// residual, and an Activation after the Add (ResNet's ReLU) fuses in too:
// act(conv + bias + residual). ResNet's bottlenecks end this way. It runs after
// merge_parallel_1x1, so a projection shortcut is then a ChannelSlice.
//
// Training keeps the Add: the backward lowering does not route a gradient to
// a fused residual yet (it would be the pre-activation gradient the
// convolution's own backward takes from the fused output).
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {
namespace {

bool fusable_conv(const ir::Graph& g, const ir::Node& conv, int add) {
  return conv.kind == ir::OpKind::Conv2D && ir::residual_input(conv) < 0 &&
         conv.attrs.activation == ir::Activation::Linear && single_user(g, conv.id) == add;
}

// Moves node `id` to just before node `before` (ids between shift up by one),
// keeping every reader pointed at the same node. Its inputs must all precede
// `before`.
void hoist(ir::Graph& g, int id, int before) {
  std::vector<int> new_id(g.nodes.size());
  for (int i = 0; i < int(g.nodes.size()); ++i) {
    new_id[i] = i < before || i > id ? i : i == id ? before : i + 1;
  }
  std::vector<ir::Node> nodes(g.nodes.size());
  for (ir::Node& n : g.nodes) {
    n.id = new_id[n.id];
    for (int& in : n.inputs) in = new_id[in];
    nodes[n.id] = std::move(n);
  }
  g.nodes = std::move(nodes);
  g.output = new_id[g.output];
}

// Fuses the first Add that qualifies; returns whether there was one.
bool fuse_first(ir::Graph& g, const PassContext& ctx) {
  for (const ir::Node& add : g.nodes) {
    if (add.kind != ir::OpKind::Add || add.inputs.size() != 2) continue;  // pairs only
    if (add.inputs[0] == add.inputs[1]) continue;  // x + x: the conv has two uses
    // The later of two candidate convolutions, so that the other is computed first.
    int conv = -1, other = -1;
    for (int k : {0, 1}) {
      const ir::Node& c = g.node(add.inputs[k]);
      if (fusable_conv(g, c, add.id) && c.id > conv) conv = c.id, other = add.inputs[1 - k];
    }
    if (conv < 0) continue;  // no linear convolution that only this Add reads
    if (g.node(other).shape != g.node(conv).shape) continue;  // shapes must agree
    int sum = add.id;
    if (other > conv) {
      // The residual is computed after the convolution: move it before, when
      // its own inputs allow (a projection shortcut's slice, after merging).
      bool movable = true;
      for (int in : g.node(other).inputs) movable = movable && in < conv;
      if (!movable) continue;  // it depends on nodes after the convolution
      hoist(g, other, conv);
      other = conv, conv = conv + 1;  // `sum` is after both: its id stays
    }
    ir::Node& c = g.node(conv);
    c.inputs.push_back(other);
    std::vector<bool> dead(g.nodes.size(), false);
    dead[sum] = true;
    // A following Activation (not softmax: that is a step of its own) joins the epilogue.
    int act = single_user(g, sum);
    std::string fused = "'" + g.node(sum).name + "'";
    if (act >= 0 && g.node(act).kind == ir::OpKind::Activation &&
        g.node(act).attrs.activation != ir::Activation::Softmax) {
      c.attrs.activation = g.node(act).attrs.activation;
      replace_uses(g, act, conv);
      dead[act] = true;
      fused += " and '" + g.node(act).name + "'";
    }
    replace_uses(g, sum, conv);
    if (ctx.log) {
      *ctx.log << "fuse_residual_add: " << fused << " into '" << c.name << "' (residual '"
               << g.node(other).name << "')\n";
    }
    remove_nodes(g, dead);
    return true;
  }
  return false;
}

}  // namespace

bool fuse_residual_add(ir::Graph& g, const PassContext& ctx) {
  if (ctx.training) return false;  // see above
  bool changed = false;
  while (fuse_first(g, ctx)) changed = true;
  return changed;
}

}  // namespace cnnc::passes
