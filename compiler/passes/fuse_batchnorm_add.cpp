// Training: an Add of two tensors, one of them a BatchNorm that nothing else
// reads, becomes that BatchNorm's epilogue: it reads the other tensor as its
// residual, out = act(batchnorm + residual), with the Add's activation (which
// fuse_activation, run before, gave it). ResNet's bottlenecks end this way;
// the sum is then never written before its ReLU. The backward lowering takes
// the activation's derivative once and gives that gradient to both.
#include <algorithm>

#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {

bool fuse_batchnorm_add(ir::Graph& g, const PassContext& ctx) {
  if (!ctx.training) return false;  // inference folds the BatchNorms instead
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (const ir::Node& add : g.nodes) {
    if (add.kind != ir::OpKind::Add || add.inputs.size() != 2) continue;  // pairs only
    if (add.inputs[0] == add.inputs[1]) continue;  // x + x: read twice
    // The later input, so that the residual is computed before it.
    const int later = std::max(add.inputs[0], add.inputs[1]);
    const int other = std::min(add.inputs[0], add.inputs[1]);
    ir::Node& bn = g.node(later);
    if (bn.kind != ir::OpKind::BatchNorm || ir::residual_input(bn) >= 0) continue;
    if (bn.attrs.activation != ir::Activation::Linear) continue;
    if (single_user(g, bn.id) != add.id) continue;
    if (g.node(other).shape != bn.shape) continue;
    bn.inputs.push_back(other);
    bn.attrs.activation = add.attrs.activation;
    replace_uses(g, add.id, bn.id);
    dead[add.id] = changed = true;
    if (ctx.log) *ctx.log << "fuse_batchnorm_add: '" << add.name << "' into '" << bn.name << "'\n";
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace cnnc::passes
