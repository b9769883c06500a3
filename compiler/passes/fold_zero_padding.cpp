// ZeroPadding2D read only by a Conv2D becomes part of the convolution's own
// padding: both pad with zeros, so this is exact in inference and training.
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {

bool fold_zero_padding(ir::Graph& g, const PassContext& ctx) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (const ir::Node& pad : g.nodes) {
    if (pad.kind != ir::OpKind::ZeroPad2D) continue;
    int user = single_user(g, pad.id);
    // Pools are not folded: max pooling ignores its padding and average pooling
    // does not count it, where zero padding takes part in both.
    if (user < 0 || g.node(user).kind != ir::OpKind::Conv2D) continue;
    ir::Node& conv = g.node(user);
    conv.attrs.pads.top += pad.attrs.pads.top;
    conv.attrs.pads.bottom += pad.attrs.pads.bottom;
    conv.attrs.pads.left += pad.attrs.pads.left;
    conv.attrs.pads.right += pad.attrs.pads.right;
    conv.inputs[0] = pad.inputs[0];
    dead[pad.id] = changed = true;
    if (ctx.log) *ctx.log << "fold_zero_padding: '" << pad.name << "' into '" << conv.name << "'\n";
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace cnnc::passes
