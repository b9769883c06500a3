#include "compiler/driver/inspect.h"

#include <iomanip>
#include <sstream>

#include "compiler/ir/printer.h"
#include "compiler/lower/program.h"
#include "compiler/passes/passes.h"
#include "frontends/json/json_frontend.h"

namespace cnnc::driver {
namespace {

std::string mib(int64_t floats) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << double(floats) * 4 / (1024.0 * 1024.0) << " MiB";
  return s.str();
}

int count(const ir::Graph& g, ir::OpKind kind) {
  int n = 0;
  for (const ir::Node& node : g.nodes) n += node.kind == kind;
  return n;
}

void print_dot(const ir::Graph& g, std::ostream& out) {
  out << "digraph \"" << g.name << "\" {\n  node [shape=box, fontname=\"monospace\"];\n";
  for (const ir::Node& n : g.nodes) {
    out << "  n" << n.id << " [label=\"" << n.name << "\\n" << ir::op_name(n.kind)
        << (n.attrs.folded_batchnorm.empty() ? "" : " + BN") << "\\n"
        << ir::shape_str(n.shape) << "\"];\n";
    for (int in : n.inputs) out << "  n" << in << " -> n" << n.id << ";\n";
  }
  out << "}\n";
}

}  // namespace

void inspect_model(const InspectOptions& o, std::ostream& out) {
  frontend::Model model = frontend::load_model_file(o.model_path);
  const ir::Graph& g = model.graph;
  std::vector<std::string> enabled = passes::parse_pass_list(o.passes);
  std::ostringstream log;
  ir::Graph inference = g, training = g;
  passes::run_passes(inference, enabled, {/*training=*/false, &log});
  passes::run_passes(training, enabled, {/*training=*/true, nullptr});
  if (o.dot) {
    print_dot(inference, out);
    return;
  }
  ir::print_summary(g, out);

  int folded = 0, merged = 0, merges = 0, residuals = 0, composed = 0;
  for (const ir::Node& n : inference.nodes) {
    residuals += ir::residual_input(n) >= 0;
    composed += int(n.attrs.composed.size());
    for (const ir::Attrs::MergedPart& part : n.attrs.composed)
      folded += !part.folded_batchnorm.empty();
    folded += !n.attrs.folded_batchnorm.empty();
    for (const ir::Attrs::MergedPart& part : n.attrs.merged) folded += !part.folded_batchnorm.empty();
    merged += int(n.attrs.merged.size());
    merges += !n.attrs.merged.empty();
  }
  out << "\nAfter the inference passes (" << o.passes << "): " << inference.nodes.size() - 1
      << " layers (" << g.nodes.size() - 1 << " as written); " << folded
      << " BatchNormalization folded, "
      << count(g, ir::OpKind::Activation) - count(inference, ir::OpKind::Activation)
      << " activations fused, "
      << count(g, ir::OpKind::ZeroPad2D) - count(inference, ir::OpKind::ZeroPad2D)
      << " paddings folded, "
      << count(g, ir::OpKind::Dropout) - count(inference, ir::OpKind::Dropout)
      << " dropouts removed, " << composed << " 1x1 convolutions composed into the next layer, "
      << merged << " parallel 1x1 convolutions merged into " << merges << ", " << residuals
      << " residual adds fused into a convolution\n"
      << log.str();
  ir::print_graph(inference, out);

  int batch = o.max_batch > 0 ? o.max_batch : model.recipe.batch_size;
  bool plan = passes::pass_enabled(enabled, "plan_memory");
  lower::LowerOptions lowering{plan, passes::pass_enabled(enabled, "gemm_1x1"),
                               {},   passes::pass_enabled(enabled, "concat_in_place"),
                               true, {},
                               {}};
  lowering.pair_data_gradients = passes::pass_enabled(enabled, "pair_strided_1x1");
  lower::Program infer = lower::lower_program(g, inference, nullptr, batch, lowering);
  // Channel copies left: slices and Concatenate inputs not read or written in place.
  int copies = 0;
  for (const lower::Step& st : infer.infer) copies += st.spec.kind == kernels::Kind::ChannelCopy;
  out << "\nInference: " << infer.infer.size() << " kernel calls, " << copies
      << " of them channel copies\n";
  out << "\nArena at batch " << batch << " (" << (plan ? "planned by liveness" : "unplanned")
      << "):\n  inference: " << mib(infer.arena_floats) << " of "
      << mib(infer.unplanned_arena_floats) << " for all tensors ("
      << std::fixed << std::setprecision(1)
      << 100.0 * double(infer.arena_floats) / double(std::max<int64_t>(1, infer.unplanned_arena_floats))
      << "%)\n";
  try {
    lower::Program train = lower::lower_program(g, inference, &training, batch, lowering);
    // The training arena also holds the inference tensors' plan; report training's own.
    out << "  training:  " << mib(train.arena_floats) << " of " << mib(train.unplanned_arena_floats)
        << " for all tensors, inference's included ("
        << 100.0 * double(train.arena_floats) / double(std::max<int64_t>(1, train.unplanned_arena_floats))
        << "%)\n";
  } catch (const std::exception& e) {
    out << "  training:  not available: " << e.what() << "\n";
  }
}

}  // namespace cnnc::driver
