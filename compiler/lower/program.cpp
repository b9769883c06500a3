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
  if (int64_t p = value[id].pixel_stride; p > 0) {
    const ir::Shape& s = g.node(id).shape;  // [H, W, C]
    o.element_offset = value[id].channel;
    o.strides = {1, p, p * s[1], p * s[1] * s[0]};
  }
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

bool is_pointwise_conv(const ir::Node& n) {
  const ir::Attrs& a = n.attrs;
  return n.kind == ir::OpKind::Conv2D && a.kernel_h == 1 && a.kernel_w == 1 && a.stride_h == 1 &&
         a.stride_w == 1 && a.pads.top == 0 && a.pads.bottom == 0 && a.pads.left == 0 &&
         a.pads.right == 0;
}

bool packed_1x1_wins(const ir::Node& n, int64_t in_c, int max_batch) {
  // Measured on ResNet-50's 1x1 layers: 7x7 pixels win by about a quarter at
  // batch 1 and by 7% at batch 2, lose by 3% at 4 and more at 32; 14x14 and
  // more are even or lose at batch 1.
  // The packed kernel needs whole vectors of 16 output channels
  // (kernels::default_conv_algo).
  const int64_t out_c = n.attrs.filters;
  return n.shape.size() == 3 && n.shape[0] * n.shape[1] * max_batch <= 2 * 7 * 7 &&
         out_c % 16 == 0 && out_c * in_c >= 16 * 1024;
}

int64_t Lowering::derive(int64_t floats) {
  int64_t at = program.derived_floats;
  program.derived_floats += (floats + 15) / 16 * 16;
  return at;
}

const BatchNormFold& Lowering::fold(const std::string& layer, const std::string& batchnorm,
                                    double epsilon) {
  for (const BatchNormFold& f : program.folds) {
    if (f.layer == layer) return f;
  }
  auto offset = [&](const std::string& v) {
    auto it = params.index.find(v);
    return it == params.index.end() ? int64_t(-1) : params.slots[it->second].offset;
  };
  const ParamSlot& kernel = params.at(layer + ".kernel");
  BatchNormFold f;
  f.layer = layer;
  f.batchnorm = batchnorm;
  f.kernel = kernel.offset;
  f.kernel_floats = kernel.size;
  f.channels = kernel.variable.shape.back();
  f.bias = offset(layer + ".bias");
  f.gamma = offset(batchnorm + ".gamma");
  f.beta = offset(batchnorm + ".beta");
  f.mean = offset(batchnorm + ".moving_mean");
  f.variance = offset(batchnorm + ".moving_variance");
  f.epsilon = epsilon;
  f.derived_kernel = derive(f.kernel_floats);
  f.derived_bias = derive(f.channels);
  program.folds.push_back(f);
  return program.folds.back();
}

// The kernel and bias a layer's own variables give, BatchNorm folded:
// offsets and whether they are in the derived block (bias -1: none).
void Lowering::own_weights(const std::string& layer, bool use_bias, const std::string& batchnorm,
                           double epsilon, int64_t* kernel, int64_t* bias, bool* derived) {
  *derived = !batchnorm.empty();
  if (*derived) {
    const BatchNormFold& f = fold(layer, batchnorm, epsilon);
    *kernel = f.derived_kernel, *bias = f.derived_bias;
    return;
  }
  *kernel = params.at(layer + ".kernel").offset;
  *bias = use_bias ? params.at(layer + ".bias").offset : -1;
}

bool layer_has_bias(const ir::Node& n) {
  return n.attrs.use_bias || !n.attrs.folded_batchnorm.empty() || !n.attrs.merged.empty() ||
         !n.attrs.composed.empty();
}

Operand Lowering::layer_param(const ir::Node& n, const std::string& suffix) {
  int64_t kernel_offset = -1, bias_offset = -1, channels = n.attrs.filters;
  if (!n.attrs.composed.empty()) {
    const ComposedWeights* found = nullptr;
    for (const ComposedWeights& c : program.composes) {
      if (c.layer == n.name) found = &c;
    }
    if (!found) {
      const ir::Attrs::MergedPart& first = n.attrs.composed[0];
      ComposedWeights c;
      c.layer = n.name;
      own_weights(first.layer, first.use_bias, first.folded_batchnorm, first.folded_epsilon,
                  &c.first_kernel, &c.first_bias, &c.first_derived);
      own_weights(n.name, n.attrs.use_bias, n.attrs.folded_batchnorm, n.attrs.folded_epsilon,
                  &c.second_kernel, &c.second_bias, &c.second_derived);
      c.c_mid = first.filters;
      c.c_out = n.attrs.filters;
      c.c_in = params.at(first.layer + ".kernel").size / c.c_mid;
      c.derived_kernel = derive(c.c_in * c.c_out);
      c.derived_bias = derive(c.c_out);
      program.composes.push_back(c);
      found = &program.composes.back();
    }
    kernel_offset = found->derived_kernel;
    bias_offset = found->derived_bias;
  } else if (!n.attrs.merged.empty()) {
    MergedWeights* merge = nullptr;
    for (MergedWeights& m : program.merges) {
      if (m.layer == n.name) merge = &m;
    }
    if (!merge) {
      MergedWeights m;
      m.layer = n.name;
      m.channels = n.attrs.filters;
      for (const ir::Attrs::MergedPart& part : n.attrs.merged) {
        MergedWeights::Part p;
        p.channels = part.filters;
        own_weights(part.layer, part.use_bias, part.folded_batchnorm, part.folded_epsilon,
                    &p.kernel, &p.bias, &p.derived);
        m.rows = params.at(part.layer + ".kernel").size / part.filters;
        m.parts.push_back(p);
      }
      m.derived_kernel = derive(m.rows * m.channels);
      m.derived_bias = derive(m.channels);
      program.merges.push_back(m);
      merge = &program.merges.back();
    }
    kernel_offset = merge->derived_kernel;
    bias_offset = merge->derived_bias;
  } else if (!n.attrs.folded_batchnorm.empty()) {
    const BatchNormFold& f = fold(n.name, n.attrs.folded_batchnorm, n.attrs.folded_epsilon);
    kernel_offset = f.derived_kernel;
    bias_offset = f.derived_bias;
  } else {
    return param(n.name + "." + suffix, Space::Params);
  }
  Operand o;
  o.space = Space::Derived;
  o.batched = false;
  if (suffix == "kernel") {
    // Halide order of a Conv2D kernel (out, in, kw, kh) or a Dense one (out, in).
    int64_t in = n.kind == ir::OpKind::Dense ? g.node(n.inputs[0]).shape.back()
                                             : g.node(n.inputs[0]).shape.back();
    o.offset = kernel_offset;
    o.extents = {channels, in};
    if (n.kind == ir::OpKind::Conv2D) {
      o.extents.push_back(n.attrs.kernel_w);
      o.extents.push_back(n.attrs.kernel_h);
    }
  } else {
    o.offset = bias_offset;
    o.extents = {channels};
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
    bool softmax =
        n.attrs.activation == ir::Activation::Softmax &&
        (n.kind == OpKind::Conv2D || n.kind == OpKind::Dense || n.kind == OpKind::Activation);
    if (training && softmax && n.id != g.output) {
      refuse(n, "a softmax before the last layer cannot be trained; use it only on the output");
    }
  }
  if (training) {
    const ir::Node& out = g.node(g.output);
    if (out.attrs.activation != ir::Activation::Softmax ||
        (out.kind != OpKind::Dense && out.kind != OpKind::Activation &&
         out.kind != OpKind::Conv2D)) {
      refuse(out,
             "training uses categorical cross-entropy, which needs a softmax on the last layer");
    } else if (out.shape.size() != 1) {
      refuse(out, "the softmax output must be flat ([classes]); add a Flatten or a pooling layer");
    }
  }
  if (problems.empty()) return;
  std::ostringstream msg;
  msg << "model '" << g.name << "' cannot be compiled for this target:";
  for (const std::string& p : problems) msg << "\n  " << p;
  msg << "\nChange these layers, or compile without training (--inference-only) where training is "
         "the cause.";
  throw Error(msg.str());
}

}  // namespace

Program lower_program(const ir::Graph& original, const ir::Graph& inference,
                      const ir::Graph* training, int max_batch, const LowerOptions& options) {
  check_supported(original, training != nullptr);
  ParamLayout layout = layout_params(original);
  Program p;
  p.model = original.name;
  p.max_batch = max_batch;
  p.output_floats_per_image = ir::num_elements(original.node(original.output).shape);
  {
    Lowering infer(inference, layout, p);
    infer.gemm_1x1 = options.gemm_1x1;
    infer.direct_1x1 = options.direct_1x1;
    infer.gemm_layers = options.gemm_layers;
    // The packed convolution's weights are packed at load time on the host.
    infer.direct_few_pixels = options.winograd;
    infer.concat_in_place = options.concat_in_place;
    infer.winograd = options.winograd;
    infer.conv_algo = options.conv_algo;
    lower_forward(infer, /*training=*/false, &p.infer);
  }
  if (training) {
    p.has_training = true;
    Lowering train(*training, layout, p);
    train.gemm_1x1 = options.gemm_1x1;
    train.pair_data_gradients = options.pair_data_gradients;
    lower_forward(train, /*training=*/true, &p.train);
    lower_backward(train, &p.train);
    lower_updates(train, &p.update);
  }
  plan_memory(p, options.plan_memory);
  return p;
}

}  // namespace cnnc::lower
