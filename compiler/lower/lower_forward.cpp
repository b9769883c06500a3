// Forward pass: one kernel call per layer (bias and activation fused into the
// convolution and dense kernels), views for layers that move no data.
#include "compiler/lower/lowering.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::lower {
namespace {

using ir::Activation;
using ir::Node;
using ir::OpKind;
using kernels::Kind;

// A forward step: its output is the layer's output.
Step forward_step(Kind kind, const Node& n, const std::string& purpose) {
  Step st = make_step(kind, n, purpose);
  image_dims(n.shape, &st.spec.out_h, &st.spec.out_w, &st.spec.out_c);
  return st;
}

// Softmax over the last axis of a node's output, from `logits` into its storage.
Step softmax_step(const Lowering& l, const Node& n, int logits_tensor) {
  Step st = forward_step(Kind::Softmax, n, "softmax");
  int64_t channels = n.shape.back();
  int64_t rows = ir::num_elements(n.shape) / channels;
  st.spec.in_c = st.spec.out_c = channels;
  st.spec.in_h = st.spec.in_w = st.spec.out_h = st.spec.out_w = 1;
  Operand in = l.arena(logits_tensor, n.shape);
  in.extents = {channels};
  in.rows_per_image = rows;
  Operand out = l.output_of(n.id);
  out.extents = {channels};
  out.rows_per_image = rows;
  st.operands["input"] = in;
  st.operands["output"] = out;
  return st;
}

// BatchNorm over the last axis: inference uses the moving statistics; training
// normalises with the batch's and updates the moving ones in place.
void batchnorm_forward(Lowering& l, const Node& n, bool training, Operand x, Operand out,
                       std::vector<Step>* steps) {
  int64_t c = n.shape.back(), rows = ir::num_elements(n.shape) / c;
  Step st =
      forward_step(training ? Kind::BatchNormTraining : Kind::BatchNormInference, n, "forward");
  st.spec.in_c = st.spec.out_c = c;
  st.spec.in_h = st.spec.out_h = rows;
  st.spec.in_w = st.spec.out_w = 1;
  copy_layer_constants(n.attrs, &st.spec);
  st.spec.act = kernel_act(n.attrs.activation);  // training only (fuse_activation)
  x.extents = out.extents = {c};
  x.rows_per_image = out.rows_per_image = rows;
  st.operands["input"] = x;
  if (n.attrs.scale) st.operands["gamma"] = l.param(n.name + ".gamma", Space::Params);
  if (n.attrs.center) st.operands["beta"] = l.param(n.name + ".beta", Space::Params);
  st.operands["moving_mean"] = l.param(n.name + ".moving_mean", Space::Params);
  st.operands["moving_variance"] = l.param(n.name + ".moving_variance", Space::Params);
  if (int res = ir::residual_input(n); res >= 0) {  // training only (fuse_batchnorm_add)
    st.spec.residual = true;
    const int pair = l.paired_batchnorm(n);  // normalised here: its input read instead
    Operand r = l.output_of(pair >= 0 ? l.g.node(pair).inputs[0] : res);
    r.extents = {c};
    r.rows_per_image = rows;
    st.operands["residual"] = r;
    if (pair >= 0) {
      st.spec.residual_bn = true;
      const std::string& name = l.g.node(pair).name;
      Operand mean = l.arena(l.bn_mean[pair], {c}), affine = l.arena(l.bn_affine[pair], {c});
      affine.extents.push_back(2);
      mean.batched = affine.batched = false;
      st.operands["residual_beta"] = l.param(name + ".beta", Space::Params);
      st.operands["residual_mean"] = mean;
      st.operands["residual_affine"] = affine;
    }
  }
  // A paired BatchNorm's reader normalises its input itself: statistics only.
  bool read_normalised = false;
  if (training) {
    for (const Node& user : l.g.nodes) read_normalised |= l.paired_batchnorm(user) == n.id;
  }
  st.spec.stats_only = read_normalised;
  if (!read_normalised) st.operands["output"] = out;
  if (training) {
    l.bn_mean[n.id] = l.new_tensor(n.name + ".batch_mean", c, /*per_image=*/false);
    l.bn_inv_std[n.id] = l.new_tensor(n.name + ".batch_inv_std", c, /*per_image=*/false);
    l.bn_affine[n.id] = l.new_tensor(n.name + ".batch_affine", 2 * c, /*per_image=*/false);
    Operand mean = l.arena(l.bn_mean[n.id], {c}), inv_std = l.arena(l.bn_inv_std[n.id], {c});
    Operand affine = l.arena(l.bn_affine[n.id], {c});
    affine.extents.push_back(2);
    mean.batched = inv_std.batched = affine.batched = false;
    st.operands["batch_mean"] = mean;
    st.operands["batch_inv_std"] = inv_std;
    st.operands["batch_affine"] = affine;
    st.operands["new_moving_mean"] = st.operands["moving_mean"];
    st.operands["new_moving_variance"] = st.operands["moving_variance"];
  }
  steps->push_back(st);
}

// Each input is copied into its channel slice of the output.
void concat_forward(const Lowering& l, const Node& n, const Operand& out,
                    std::vector<Step>* steps) {
  int64_t h, w, total;
  image_dims(n.shape, &h, &w, &total);
  int64_t offset = 0;
  for (int id : n.inputs) {
    const Node& in = l.g.node(id);
    int64_t c = in.shape.back();
    if (l.value[id].tensor == l.value[n.id].tensor && l.value[id].space == Space::Arena) {
      offset += c;  // written in place by its producer
      continue;
    }
    Step st = forward_step(Kind::ChannelCopy, n, "forward slice of " + in.name);
    st.spec.in_h = st.spec.out_h = h;
    st.spec.in_w = st.spec.out_w = w;
    // A channel slice of a wider tensor is read in place, pixels that far apart.
    int64_t pixel_stride = l.value[id].pixel_stride;
    st.spec.in_c = pixel_stride > 0 ? pixel_stride : c;
    st.spec.out_c = total;
    st.spec.channels = c;
    Operand src = l.output_of(id), dst = out;
    src.extents = dst.extents = {c, w, h};
    dst.element_offset = offset;
    dst.strides = {1, total, total * w, total * w * h};
    st.operands["input"] = src;
    st.operands["output"] = dst;
    steps->push_back(st);
    offset += c;
  }
}

// A merged convolution's part (ChannelSlice) whose readers all take a
// channel slice in place: convolutions (their input or residual) and
// Concatenate. Its activation must be the merged convolution's own, so nothing
// is left to apply.
bool slice_in_place(const ir::Graph& g, const Node& n, bool training) {
  if (n.kind != OpKind::ChannelSlice || training || n.id == g.output) return false;
  const Node& merged = g.node(n.inputs[0]);
  if (merged.attrs.activation != n.attrs.activation || merged.shape.size() != 3) return false;
  for (int u : g.users(n.id)) {
    const OpKind kind = g.node(u).kind;
    if (kind != OpKind::Conv2D && kind != OpKind::Concat) return false;
  }
  return true;
}

// A Conv2D that only a Concatenate (not the model's output) reads writes
// straight into its channels of the Concatenate's output, so that nothing is
// copied for it. Returns the Concatenate's id, or -1.
int concat_written_into(const Lowering& l, const Node& n, bool training) {
  const ir::Graph& g = l.g;
  if (!l.concat_in_place || training) return -1;
  if (n.kind != OpKind::Conv2D || n.attrs.activation == Activation::Softmax) return -1;
  std::vector<int> users = g.users(n.id);
  if (users.size() != 1 || n.id == g.output) return -1;
  const Node& cat = g.node(users[0]);
  if (cat.kind != OpKind::Concat || cat.id == g.output || cat.shape.size() != 3) return -1;
  int uses = 0;
  for (int in : cat.inputs) uses += in == n.id;
  return uses == 1 ? cat.id : -1;
}

}  // namespace

void lower_forward(Lowering& l, bool training, std::vector<Step>* steps) {
  const ir::Graph& g = l.g;
  for (const Node& n : g.nodes) {
    bool is_output = n.id == g.output;
    const Node* in = n.inputs.empty() ? nullptr : &g.node(n.inputs[0]);
    // Storage of this node's output: views share their input's storage.
    bool is_view = n.kind == OpKind::Flatten || (n.kind == OpKind::Dropout && !training);
    if (n.kind == OpKind::Input) {
      l.value[n.id] = {Space::Input, -1};
      continue;
    }
    if (is_view) {
      l.value[n.id] = l.value[in->id];
      continue;
    }
    if (slice_in_place(g, n, training)) {
      l.value[n.id] = {Space::Arena, l.value[in->id].tensor, n.attrs.slice_begin, in->shape[2]};
      continue;
    }
    if (int cat = concat_written_into(l, n, training); cat >= 0) {
      const Node& c = g.node(cat);
      if (l.value[cat].tensor < 0) {
        l.value[cat] = {Space::Arena, l.new_tensor(c.name, ir::num_elements(c.shape))};
      }
      int64_t channel = 0;
      for (int i = 0; c.inputs[i] != n.id; ++i) channel += g.node(c.inputs[i]).shape[2];
      l.value[n.id] = {Space::Arena, l.value[cat].tensor, channel, c.shape[2]};
    } else if (n.kind == OpKind::Concat && l.value[n.id].tensor >= 0) {
      // Placed already by an input that writes into it.
    } else if (is_output && !training) {
      l.value[n.id] = {Space::Output, -1};
    } else {
      l.value[n.id] = {Space::Arena, l.new_tensor(n.name, ir::num_elements(n.shape))};
    }
    bool softmax =
        n.attrs.activation == Activation::Softmax &&
        (n.kind == OpKind::Conv2D || n.kind == OpKind::Dense || n.kind == OpKind::Activation);
    // With a softmax, the layer itself writes logits; a softmax step (inference)
    // or the cross-entropy step (training output) turns them into probabilities.
    Operand out = l.output_of(n.id);
    if (softmax && n.kind != OpKind::Activation) {
      l.logits[n.id] = l.new_tensor(n.name + ".logits", ir::num_elements(n.shape));
      out = l.arena(l.logits[n.id], n.shape);
    }
    Operand x = l.output_of(in->id);
    // A matrix product over `rows` rows of in_c features per image: a Dense
    // layer, or a 1x1 convolution over its pixels.
    auto dense_forward = [&](const char* purpose, int64_t in_c, int64_t rows) {
      Step st = forward_step(Kind::Dense, n, purpose);
      st.spec.in_c = in_c;
      st.spec.out_c = n.attrs.filters;
      st.spec.out_h = st.spec.out_w = 1;
      st.spec.act = kernel_act(n.attrs.activation);
      st.spec.use_bias = layer_has_bias(n);
      st.spec.rows_per_image = rows;
      x.extents = {in_c};
      out.extents = {n.attrs.filters};
      x.rows_per_image = out.rows_per_image = rows;
      return st;
    };
    switch (n.kind) {
      case OpKind::Conv2D: {
        if (l.as_gemm(n)) {
          // The kernel [1, 1, c_in, c_out] is the Dense kernel [c_in, c_out]; pixels are rows.
          const int64_t rows = n.shape[0] * n.shape[1];
          Step st = dense_forward("forward, 1x1 as a matrix product", in->shape.back(), rows);
          // Channel slices of wider tensors: rows are that many floats apart.
          if (int64_t p = l.value[in->id].pixel_stride; p > 0) {
            st.spec.in_pixel_stride = p;
            x.strides = {1, p};
          }
          if (int64_t p = l.value[n.id].pixel_stride; p > 0) {
            st.spec.out_pixel_stride = p;
            out.strides = {1, p};
          }
          Operand w = l.layer_param(n, "kernel");
          w.extents.resize(2);
          st.operands["input"] = x;
          st.operands["weights"] = w;
          if (st.spec.use_bias) st.operands["bias"] = l.layer_param(n, "bias");
          if (int res = ir::residual_input(n); res >= 0) {
            st.spec.residual = true;
            Operand r = l.output_of(res);
            r.extents = {n.attrs.filters};
            r.rows_per_image = rows;
            if (int64_t p = l.value[res].pixel_stride; p > 0) {
              st.spec.residual_pixel_stride = p;
              r.strides = {1, p};
            }
            st.operands["residual"] = r;
          }
          st.operands["output"] = out;
          steps->push_back(st);
          break;
        }
        Step st = forward_step(Kind::Conv2D, n, "forward");
        image_dims(in->shape, &st.spec.in_h, &st.spec.in_w, &st.spec.in_c);
        st.spec.kernel_h = n.attrs.kernel_h, st.spec.kernel_w = n.attrs.kernel_w;
        st.spec.stride_h = n.attrs.stride_h, st.spec.stride_w = n.attrs.stride_w;
        st.spec.pad_top = n.attrs.pads.top, st.spec.pad_left = n.attrs.pads.left;
        st.spec.in_pixel_stride = l.value[in->id].pixel_stride;
        st.spec.out_pixel_stride = l.value[n.id].pixel_stride;
        st.spec.act = kernel_act(n.attrs.activation);
        st.spec.use_bias = layer_has_bias(n);
        // Training keeps the direct kernel: its rounding is what the SGD
        // parity tests were set for. GPU targets too (no Winograd schedule).
        if (!training && l.winograd) {
          auto tuned = l.conv_algo.find(n.name);
          const bool usable =
              tuned != l.conv_algo.end() &&
              (tuned->second == kernels::ConvAlgo::Direct || kernels::winograd_applies(st.spec));
          st.spec.conv_algo = usable ? tuned->second : kernels::default_conv_algo(st.spec);
        }
        st.operands["input"] = x;
        st.operands["weights"] = l.layer_param(n, "kernel");
        if (st.spec.conv_algo != kernels::ConvAlgo::Direct) {
          // Winograd (and DirectPacked) reads its weights transformed, once at
          // load time (after a BatchNorm fold: layer_param is then the folded kernel).
          Step transform = st;
          transform.spec.kind = Kind::WinogradWeights;
          transform.purpose = st.spec.conv_algo == kernels::ConvAlgo::DirectPacked
                                  ? "conv weight packing"
                                  : "Winograd weight transform";
          transform.operands.clear();
          transform.operands["weights"] = st.operands["weights"];
          Operand u;
          u.space = Space::Derived;
          u.batched = false;
          u.extents = {kernels::winograd_weight_floats(st.spec)};
          u.offset = l.derive(u.extents[0]);
          transform.operands["transformed"] = u;
          l.program.prepare.push_back(transform);
          st.operands["weights"] = u;
        }
        if (st.spec.use_bias) st.operands["bias"] = l.layer_param(n, "bias");
        if (int res = ir::residual_input(n); res >= 0) {
          st.spec.residual = true;
          st.spec.residual_pixel_stride = l.value[res].pixel_stride;
          st.operands["residual"] = l.output_of(res);
        }
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::Dense: {
        const int64_t in_features = in->shape.back();
        Step st = dense_forward("forward", in_features, ir::num_elements(in->shape) / in_features);
        st.operands["input"] = x;
        st.operands["weights"] = l.layer_param(n, "kernel");
        if (st.spec.use_bias) st.operands["bias"] = l.layer_param(n, "bias");
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::MaxPool2D:
      case OpKind::AvgPool2D:
      case OpKind::GlobalAvgPool2D: {
        Step st = forward_step(Kind::Pool2D, n, "forward");
        image_dims(in->shape, &st.spec.in_h, &st.spec.in_w, &st.spec.in_c);
        bool global = n.kind == OpKind::GlobalAvgPool2D;
        st.spec.pool =
            n.kind == OpKind::MaxPool2D ? kernels::PoolKind::Max : kernels::PoolKind::Avg;
        st.spec.kernel_h = global ? st.spec.in_h : n.attrs.kernel_h;
        st.spec.kernel_w = global ? st.spec.in_w : n.attrs.kernel_w;
        st.spec.stride_h = global ? 1 : n.attrs.stride_h;
        st.spec.stride_w = global ? 1 : n.attrs.stride_w;
        st.spec.pad_top = global ? 0 : n.attrs.pads.top;
        st.spec.pad_left = global ? 0 : n.attrs.pads.left;
        if (global) out.extents = {n.shape[0], 1, 1};  // [C] viewed as 1x1xC
        st.operands["input"] = x;
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::Activation: {
        if (softmax) {
          // The logits are the input itself; the softmax or loss step below reads it.
          if (x.space != Space::Arena) {
            throw Error("layer '" + n.name +
                        "': a softmax directly on the model input is not supported");
          }
          l.logits[n.id] = l.value[in->id].tensor;
          break;
        }
        Step st = forward_step(Kind::Activation, n, "forward");
        st.spec.in_c = st.spec.out_c = ir::num_elements(n.shape);
        st.spec.out_h = st.spec.out_w = 1;
        st.spec.act = kernel_act(n.attrs.activation);
        x.extents = {st.spec.in_c};
        out.extents = {st.spec.in_c};
        st.operands["input"] = x;
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::BatchNorm:
        batchnorm_forward(l, n, training, x, out, steps);
        break;
      case OpKind::Dropout: {  // training only: at inference it is a view
        int64_t elems = ir::num_elements(n.shape);
        Step st = elementwise_step(Kind::Dropout, n.name, "forward", elems);
        copy_layer_constants(n.attrs, &st.spec);
        x.extents = out.extents = {elems};
        st.operands["input"] = x;
        st.operands["seed"] = dropout_seed_operand(n);
        st.operands["step"] = scalar_operand("step");
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::LRN: {
        Step st = forward_step(Kind::LRN, n, "forward");
        image_dims(in->shape, &st.spec.in_h, &st.spec.in_w, &st.spec.in_c);
        copy_layer_constants(n.attrs, &st.spec);
        st.operands["input"] = x;
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::ZeroPad2D: {
        Step st = forward_step(Kind::ZeroPad, n, "forward");
        image_dims(in->shape, &st.spec.in_h, &st.spec.in_w, &st.spec.in_c);
        st.spec.pad_top = n.attrs.pads.top;
        st.spec.pad_left = n.attrs.pads.left;
        st.operands["input"] = x;
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::Concat:
        concat_forward(l, n, out, steps);
        break;
      case OpKind::ChannelSlice: {
        // Its channels of the merged convolution, into a tensor of its own, with
        // its activation applied unless the merged convolution applied it.
        int64_t h, w, total, c = n.attrs.filters;
        image_dims(in->shape, &h, &w, &total);
        Step st = forward_step(Kind::ChannelCopy, n, "slice of " + in->name);
        st.spec.in_h = st.spec.out_h = h;
        st.spec.in_w = st.spec.out_w = w;
        st.spec.in_c = total;
        st.spec.out_c = c;
        st.spec.channels = c;
        bool applied = in->attrs.activation == n.attrs.activation;
        st.spec.act = kernel_act(applied ? Activation::Linear : n.attrs.activation);
        x.extents = out.extents = {c, w, h};
        x.element_offset = n.attrs.slice_begin;
        x.strides = {1, total, total * w, total * w * h};
        st.operands["input"] = x;
        st.operands["output"] = out;
        steps->push_back(st);
        break;
      }
      case OpKind::Add: {
        // Pairwise: out = in0 + in1, then out += in_k; the last applies the
        // activation (training only, fuse_activation).
        int64_t elems = ir::num_elements(n.shape);
        out.extents = {elems};
        for (size_t k = 1; k < n.inputs.size(); ++k) {
          Step st = elementwise_step(Kind::Add, n.name, "forward", elems);
          if (k + 1 == n.inputs.size()) st.spec.act = kernel_act(n.attrs.activation);
          Operand a = k == 1 ? l.output_of(n.inputs[0]) : out, b = l.output_of(n.inputs[k]);
          a.extents = b.extents = {elems};
          st.operands["a"] = a;
          st.operands["b"] = b;
          st.operands["output"] = out;
          steps->push_back(st);
        }
        break;
      }
      default:
        throw Error(std::string("internal: no forward lowering for ") + ir::op_name(n.kind));
    }
    if (!softmax) continue;
    if (!training) {
      steps->push_back(softmax_step(l, n, l.logits[n.id]));
      continue;
    }
    if (!is_output) {
      throw Error("internal: softmax inside the network is not trainable yet");
    }
    // Training output: probabilities, per-image loss and d(loss)/d(logits) at once.
    int64_t k = n.shape.back();
    Step st = forward_step(Kind::SoftmaxCrossEntropy, n, "loss");
    st.spec.in_c = st.spec.out_c = k;
    st.spec.out_h = st.spec.out_w = 1;
    l.labels_d_logits = l.new_tensor("d_" + n.name + ".logits", k);
    int loss = l.new_tensor(n.name + ".loss", 1);
    st.operands["logits"] = l.arena(l.logits[n.id], {k});
    Operand labels;
    labels.space = Space::Labels;
    labels.extents = {};
    labels.is_int32 = true;
    st.operands["labels"] = labels;
    st.operands["probs"] = l.output_of(n.id);
    st.operands["d_logits"] = l.arena(l.labels_d_logits, {k});
    st.operands["loss"] = l.arena(loss, {});
    l.program.loss_tensor = loss;
    l.program.probs_tensor = l.value[n.id].tensor;
    steps->push_back(st);
  }
  // A model ending in a view (Flatten, Dropout) still writes the caller's buffer.
  const Node& out = g.node(g.output);
  if (!training && l.value[out.id].space != Space::Output) {
    Step st = forward_step(Kind::Activation, out, "copy to output");
    st.spec.in_c = st.spec.out_c = ir::num_elements(out.shape);
    st.spec.out_h = st.spec.out_w = 1;
    Operand src = l.output_of(out.id), dst;
    src.extents = {st.spec.in_c};
    dst.space = Space::Output;
    dst.extents = {st.spec.in_c};
    st.operands["input"] = src;
    st.operands["output"] = dst;
    steps->push_back(st);
  }
}

}  // namespace cnnc::lower
