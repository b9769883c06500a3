// Inference: 1x1 convolutions that read the same tensor with the same stride
// (Inception's three reduces, ResNet's projection shortcut beside its branch's
// first 1x1) become one convolution with all their filters, computed at once;
// each original layer becomes a ChannelSlice of it that applies its own
// activation (or the merged one applies it, when all parts share it). The
// merged kernel and bias are derived from the parts' variables (BatchNorm
// folds included) at load time.
#include <map>

#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace cnnc::passes {
namespace {

bool is_pointwise(const ir::Node& n) {
  const ir::Attrs& a = n.attrs;
  return n.kind == ir::OpKind::Conv2D && a.kernel_h == 1 && a.kernel_w == 1 && a.pads.top == 0 &&
         a.pads.bottom == 0 && a.pads.left == 0 && a.pads.right == 0 && a.merged.empty() &&
         a.composed.empty() && n.inputs.size() == 1 && a.activation != ir::Activation::Softmax;
}

}  // namespace

bool merge_parallel_1x1(ir::Graph& g, const PassContext& ctx) {
  if (ctx.training) return false;  // each part keeps its own gradients in training
  // Groups of mergeable convolutions by (input, stride), in node order.
  std::map<std::tuple<int, int64_t, int64_t>, std::vector<int>> groups;
  for (const ir::Node& n : g.nodes) {
    if (!is_pointwise(n)) continue;
    groups[{n.inputs[0], n.attrs.stride_h, n.attrs.stride_w}].push_back(n.id);
  }
  std::map<int, std::vector<int>> merged_before;  // first part's id -> the group
  for (auto& [key, ids] : groups) {
    if (ids.size() >= 2) merged_before[ids.front()] = ids;
  }
  if (merged_before.empty()) return false;

  // Rebuild the node list: the merged convolution goes where its first part
  // was (all parts read the same earlier input), each part becomes a slice.
  std::vector<ir::Node> nodes;
  std::vector<int> new_id(g.nodes.size(), -1);
  std::map<int, int> slice_of;  // part id -> merged node's new id
  std::map<int, int64_t> begin_of;
  for (const ir::Node& n : g.nodes) {
    auto group = merged_before.find(n.id);
    if (group != merged_before.end()) {
      ir::Node merged = n;
      merged.name.clear();
      merged.attrs = ir::Attrs();
      merged.attrs.kernel_h = merged.attrs.kernel_w = 1;
      merged.attrs.stride_h = n.attrs.stride_h;
      merged.attrs.stride_w = n.attrs.stride_w;
      merged.attrs.use_bias = true;
      merged.attrs.filters = 0;
      for (int part_id : group->second) {
        const ir::Node& part = g.node(part_id);
        merged.attrs.merged.push_back({part.name, part.attrs.filters, part.attrs.use_bias,
                                       part.attrs.folded_batchnorm, part.attrs.folded_epsilon});
        begin_of[part_id] = merged.attrs.filters;
        merged.attrs.filters += part.attrs.filters;
        merged.name += (merged.name.empty() ? "merged(" : ",") + part.name;
        slice_of[part_id] = int(nodes.size());
      }
      merged.name += ")";
      // Parts that share one activation have the merged convolution apply it
      // (their slices can then be read in place); else each slice applies its own.
      bool one_act = true;
      for (int part_id : group->second) {
        one_act = one_act && g.node(part_id).attrs.activation == n.attrs.activation;
      }
      if (one_act) merged.attrs.activation = n.attrs.activation;
      merged.shape.back() = merged.attrs.filters;
      merged.inputs = {new_id[n.inputs[0]]};
      merged.id = int(nodes.size());
      nodes.push_back(merged);
      if (ctx.log) {
        *ctx.log << "merge_parallel_1x1: " << group->second.size() << " convolutions into '"
                 << merged.name << "'\n";
      }
    }
    ir::Node copy = n;
    copy.id = int(nodes.size());
    for (int& in : copy.inputs) in = new_id[in];
    if (slice_of.count(n.id)) {
      copy.kind = ir::OpKind::ChannelSlice;
      ir::Activation act = n.attrs.activation;
      int64_t filters = n.attrs.filters;
      copy.attrs = ir::Attrs();
      copy.attrs.activation = act;
      copy.attrs.filters = filters;
      copy.attrs.slice_begin = begin_of[n.id];
      copy.inputs = {slice_of[n.id]};
    }
    new_id[n.id] = copy.id;
    nodes.push_back(copy);
  }
  g.output = new_id[g.output];
  g.nodes = std::move(nodes);
  return true;
}

}  // namespace cnnc::passes
