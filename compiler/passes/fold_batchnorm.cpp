// Inference: a BatchNormalization right after a linear Conv2D or Dense (no
// activation between, nothing else reading the convolution) is an affine map
// per output channel, folded into the layer's kernel and bias. The fold itself
// happens on the weights at load time (codegen's prepare step); the graph only
// records it. A BatchNorm after an activation or a pool (the seed's AlexNet) is
// left alone: folding it into the next layer is not exact at padded borders.
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {

bool fold_batchnorm(ir::Graph& g, const PassContext& ctx) {
  if (ctx.training) return false;  // training normalises with batch statistics
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (const ir::Node& bn : g.nodes) {
    if (bn.kind != ir::OpKind::BatchNorm) continue;
    ir::Node& layer = g.node(bn.inputs[0]);
    if (layer.kind != ir::OpKind::Conv2D && layer.kind != ir::OpKind::Dense) continue;
    if (layer.attrs.activation != ir::Activation::Linear) continue;  // not affine
    if (!layer.attrs.folded_batchnorm.empty()) continue;  // one fold per layer
    if (single_user(g, layer.id) != bn.id) continue;  // others read the unnormalised value
    layer.attrs.folded_batchnorm = bn.name;
    layer.attrs.folded_epsilon = bn.attrs.epsilon;
    layer.attrs.folded_center = bn.attrs.center;
    layer.attrs.folded_scale = bn.attrs.scale;
    replace_uses(g, bn.id, layer.id);
    dead[bn.id] = changed = true;
    if (ctx.log) *ctx.log << "fold_batchnorm: '" << bn.name << "' into '" << layer.name << "'\n";
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace cnnc::passes
