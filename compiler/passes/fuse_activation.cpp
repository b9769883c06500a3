// An Activation layer right after a linear Conv2D or Dense that nothing else
// reads becomes that layer's epilogue (and, in training, its backward kernels
// take the derivative from the fused output). In training also after a
// BatchNormalization or an Add: the tensor before the activation is then
// never written (inference folds those into the convolutions instead).
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {

bool fuse_activation(ir::Graph& g, const PassContext& ctx) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (const ir::Node& act : g.nodes) {
    if (act.kind != ir::OpKind::Activation) continue;
    ir::Node& layer = g.node(act.inputs[0]);
    const bool epilogue = layer.kind == ir::OpKind::Conv2D || layer.kind == ir::OpKind::Dense;
    const bool training_only = layer.kind == ir::OpKind::BatchNorm || layer.kind == ir::OpKind::Add;
    if (!epilogue && !(ctx.training && training_only)) continue;
    if (training_only && act.attrs.activation == ir::Activation::Softmax) continue;
    if (layer.attrs.activation != ir::Activation::Linear) continue;  // already has one
    if (single_user(g, layer.id) != act.id) continue;  // others read the linear value
    // Training keeps a softmax only on the output, where the loss takes it.
    if (ctx.training && act.attrs.activation == ir::Activation::Softmax && act.id != g.output) {
      continue;
    }
    layer.attrs.activation = act.attrs.activation;
    replace_uses(g, act.id, layer.id);
    dead[act.id] = changed = true;
    if (ctx.log) *ctx.log << "fuse_activation: '" << act.name << "' into '" << layer.name << "'\n";
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace cnnc::passes
