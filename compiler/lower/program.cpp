// Entry point of lowering: checks that every layer can run, lowers the
// inference and training passes, and places every tensor in the arena.
#include <sstream>

#include "compiler/lower/lowering.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::lower {

std::vector<int64_t> halide_extents(const ir::Shape& s) { return {s.rbegin(), s.rend()}; }

int Lowering::new_tensor(const std::string& name, int64_t floats_per_image, bool per_image) {
  program.tensors.push_back({name, floats_per_image, per_image, 0});
  return int(program.tensors.size()) - 1;
}

Operand Lowering::arena(int tensor, const ir::Shape& shape) const {
  Operand o;
  o.space = Space::Arena;
  o.tensor = tensor;
  o.extents = halide_extents(shape);
  return o;
}

Operand Lowering::output_of(int id) const {
  Operand o = arena(value[id].tensor, g.node(id).shape);
  o.space = value[id].space;
  return o;
}

Operand Lowering::grad_of(int id) const { return arena(grad[id], g.node(id).shape); }

Operand Lowering::param(const std::string& variable, Space space) const {
  const ParamSlot& s = params.at(variable);
  Operand o;
  o.space = space;
  o.offset = s.offset;
  o.extents = halide_extents(s.variable.shape);
  o.batched = false;
  return o;
}

Operand Lowering::layer_param(const ir::Node& n, const std::string& suffix) {
  if (n.attrs.folded_batchnorm.empty()) return param(n.name + "." + suffix, Space::Params);
  BatchNormFold* fold = nullptr;
  for (BatchNormFold& f : program.folds) {
    if (f.layer == n.name) fold = &f;
  }
  if (!fold) {
    BatchNormFold f;
    f.layer = n.name;
    f.batchnorm = n.attrs.folded_batchnorm;
    const ParamSlot& kernel = params.at(n.name + ".kernel");
    auto offset = [&](const std::string& v) {
      auto it = params.index.find(v);
      return it == params.index.end() ? int64_t(-1) : params.slots[it->second].offset;
    };
    f.kernel = kernel.offset;
    f.kernel_floats = kernel.size;
    f.channels = kernel.variable.shape.back();
    f.bias = offset(n.name + ".bias");
    f.gamma = offset(f.batchnorm + ".gamma");
    f.beta = offset(f.batchnorm + ".beta");
    f.mean = offset(f.batchnorm + ".moving_mean");
    f.variance = offset(f.batchnorm + ".moving_variance");
    f.epsilon = n.attrs.folded_epsilon;
    f.derived_kernel = program.derived_floats;
    f.derived_bias = f.derived_kernel + (f.kernel_floats + 15) / 16 * 16;
    program.derived_floats = f.derived_bias + (f.channels + 15) / 16 * 16;
    program.folds.push_back(f);
    fold = &program.folds.back();
  }
  Operand o = param(n.name + ".kernel", Space::Derived);
  if (suffix == "kernel") {
    o.offset = fold->derived_kernel;
  } else {
    o.offset = fold->derived_bias;
    o.extents = {fold->channels};
  }
  return o;
}

namespace {

using ir::OpKind;

// Every layer the host target cannot run yet, all named at once.
void check_supported(const ir::Graph& g, bool training) {
  std::vector<std::string> problems;
  auto refuse = [&](const ir::Node& n, const std::string& why) {
    problems.push_back("layer '" + n.name + "' (" + ir::op_name(n.kind) + "): " + why);
  };
  for (const ir::Node& n : g.nodes) {
    bool softmax = n.attrs.activation == ir::Activation::Softmax &&
                   (n.kind == OpKind::Conv2D || n.kind == OpKind::Dense || n.kind == OpKind::Activation);
    if (training && softmax && n.id != g.output) {
      refuse(n, "a softmax before the last layer cannot be trained; use it only on the output");
    }
  }
  if (training) {
    const ir::Node& out = g.node(g.output);
    if (out.attrs.activation != ir::Activation::Softmax ||
        (out.kind != OpKind::Dense && out.kind != OpKind::Activation && out.kind != OpKind::Conv2D)) {
      refuse(out, "training uses categorical cross-entropy, which needs a softmax on the last layer");
    } else if (out.shape.size() != 1) {
      refuse(out, "the softmax output must be flat ([classes]); add a Flatten or a pooling layer");
    }
  }
  if (problems.empty()) return;
  std::ostringstream msg;
  msg << "model '" << g.name << "' cannot be compiled for this target:";
  for (const std::string& p : problems) msg << "\n  " << p;
  msg << "\nChange these layers, or compile without training (--inference-only) where training is the cause.";
  throw Error(msg.str());
}

}  // namespace

Program lower_program(const ir::Graph& original, const ir::Graph& inference,
                      const ir::Graph* training, int max_batch, bool plan) {
  check_supported(original, training != nullptr);
  ParamLayout layout = layout_params(original);
  Program p;
  p.model = original.name;
  p.max_batch = max_batch;
  p.output_floats_per_image = ir::num_elements(original.node(original.output).shape);
  {
    Lowering infer(inference, layout, p);
    lower_forward(infer, /*training=*/false, &p.infer);
  }
  if (training) {
    p.has_training = true;
    Lowering train(*training, layout, p);
    lower_forward(train, /*training=*/true, &p.train);
    lower_backward(train, &p.train);
    lower_updates(train, &p.update);
  }
  plan_memory(p, plan);
  return p;
}

}  // namespace cnnc::lower
