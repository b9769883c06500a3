// Internal to compiler/lower: the state shared by the forward and backward
// lowering of one graph.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "compiler/lower/param_layout.h"
#include "compiler/lower/program.h"

namespace cnnc::lower {

// Where a node's output lives: an arena tensor, or one of the caller's buffers.
// A channel slice of a wider image tensor (a merged convolution's part read
// in place) starts `channel` floats in and is `pixel_stride` floats per pixel.
struct Storage {
  Space space = Space::Arena;
  int tensor = -1;
  int64_t channel = 0, pixel_stride = 0;  // pixel_stride 0: dense
};

struct Lowering {
  const ir::Graph& g;
  Program& program;
  ParamLayout params;
  std::vector<Storage> value;  // node id -> where its output is
  std::vector<int> grad;       // node id -> arena tensor of d(loss)/d(output), -1: none
  std::vector<int> logits;     // node id -> arena tensor of the pre-softmax values, -1: none
  int labels_d_logits = -1;    // training: d(loss)/d(logits) of the output node
  std::vector<int> pending;    // node id -> tensor of a gradient contribution to add
  std::vector<int> received;   // node id -> gradient contributions so far
  std::vector<bool> borrowed;  // node id -> grad is another node's tensor: never written
  // Training: batch statistics of BatchNorm nodes (bn_affine: c x 2, the mean's
  // low part and the scale that BatchNormTraining normalised with).
  std::vector<int> bn_mean, bn_inv_std, bn_affine;
  // BatchNorm node id -> the means of its gradient's terms that a
  // BatchNormGradSums step wrote (for its BatchNormBackward), -1: none.
  std::vector<int> bn_grad_means;
  bool gemm_1x1 = true;  // LowerOptions::gemm_1x1
  std::set<std::string> direct_1x1;  // LowerOptions::direct_1x1 (inference only)
  std::set<std::string> gemm_layers;  // LowerOptions::gemm_layers (inference only)
  // Inference on the CPU: 1x1 convolutions on few pixels run as packed convolutions.
  bool direct_few_pixels = false;
  bool concat_in_place = true;       // LowerOptions::concat_in_place
  bool winograd = true;              // LowerOptions::winograd (inference only)
  std::map<std::string, kernels::ConvAlgo> conv_algo;  // LowerOptions::conv_algo (inference only)
  bool pair_data_gradients = true;  // LowerOptions::pair_data_gradients (training only)
  // node id -> d(loss)/d(pre-activation) of a strided 1x1 convolution whose
  // data gradient its partner's step computes (lower_backward.cpp).
  std::map<int, Operand> deferred_data_grad;

  Lowering(const ir::Graph& graph, const ParamLayout& layout, Program& p)
      : g(graph),
        program(p),
        params(layout),
        value(graph.nodes.size()),
        grad(graph.nodes.size(), -1),
        logits(graph.nodes.size(), -1),
        pending(graph.nodes.size(), -1),
        received(graph.nodes.size(), 0),
        borrowed(graph.nodes.size(), false),
        bn_mean(graph.nodes.size(), -1),
        bn_inv_std(graph.nodes.size(), -1),
        bn_affine(graph.nodes.size(), -1),
        bn_grad_means(graph.nodes.size(), -1) {}

  // Whether node n (a Conv2D) runs as a matrix product (a Dense kernel).
  bool as_gemm(const ir::Node& n) const {
    if (!gemm_1x1 || !is_pointwise_conv(n) || direct_1x1.count(n.name)) return false;
    return gemm_layers.count(n.name) || !direct_few_pixels ||
           !packed_1x1_wins(n, g.node(n.inputs[0]).shape.back(), program.max_batch);
  }

  int new_tensor(const std::string& name, int64_t floats_per_image, bool per_image = true);
  // Operand for node `id`'s output (or its gradient), shaped as that node's
  // shape; for a channel slice, strided over the pixels of the wider tensor.
  Operand output_of(int id) const;
  Operand grad_of(int id) const;
  Operand arena(int tensor, const ir::Shape& shape) const;
  Operand param(const std::string& variable, Space space) const;
  // The kernel or bias a Conv2D/Dense layer computes with: its own variable, or
  // the derived one when a BatchNorm was folded into it.
  Operand layer_param(const ir::Node& n, const std::string& suffix);
  void own_weights(const std::string& layer, bool use_bias, const std::string& batchnorm,
                   double epsilon, int64_t* kernel, int64_t* bias, bool* derived);
  // The fold of BatchNorm `batchnorm` into `layer` (registered on first use).
  const BatchNormFold& fold(const std::string& layer, const std::string& batchnorm,
                            double epsilon);
  // Floats in the derived block, 64-byte aligned.
  int64_t derive(int64_t floats);

  // Gradients of a node read by several layers are sums. The first contribution
  // writes d(id) itself; later ones go to a scratch tensor that end_grad adds in,
  // except the last one of a node whose backward starts with its activation's
  // derivative: that step sums it in (pending[id] stays set for it).
  Operand begin_grad(int id);
  void end_grad(int id, std::vector<Step>* steps);
  // Contributes an existing gradient tensor unchanged (views, Add). The first
  // contribution takes the tensor itself (borrowed when more will be added:
  // the sum then goes to a new tensor), later ones are added as end_grad does.
  void share_grad(int id, int tensor, std::vector<Step>* steps);
  // Whether a later contribution to d(id) can be summed in by the step that
  // computes it (reading d(id) and writing it in place) instead of by an Add:
  // d(id) exists and is the node's own tensor, and the node's backward would
  // not sum this contribution in anyway. sum_grad_in_place then counts the
  // contribution and returns d(id).
  bool can_sum_grad_in_place(int id) const;
  Operand sum_grad_in_place(int id);
  // The layers reading node `id` (Add(x, x) reads x twice).
  int readers(int id) const;
  // Training: the BatchNorm that BatchNorm n's residual is (fuse_batchnorm_add)
  // when n is its only reader and it is plain (linear, gamma and beta, no
  // residual of its own; ResNet's projection shortcut), else -1. Its output is
  // then never written: n normalises its input itself in the forward pass,
  // and (n having gamma and beta) one BatchNormGradSums step makes both
  // BatchNorms' sums.
  int paired_batchnorm(const ir::Node& n) const;
};

// Whether a Conv2D/Dense computes with a bias: its own, or one a pass derived.
bool layer_has_bias(const ir::Node& n);

// A kernel call for layer n, its spec's kind set (shapes are the caller's).
Step make_step(kernels::Kind kind, const ir::Node& n, const std::string& purpose);
// The layer's own constants (BatchNorm, Dropout, LRN) into a kernel spec; each
// kind's key reads only the fields it uses.
void copy_layer_constants(const ir::Attrs& a, kernels::KernelSpec* spec);

// The kernel epilogue of an activation (softmax is a step of its own).
kernels::Act kernel_act(ir::Activation a);
// Image dimensions of a per-image shape; a flat [N] counts as 1x1xN.
void image_dims(const ir::Shape& s, int64_t* h, int64_t* w, int64_t* c);

// A scalar argument: a C++ expression in the generated training function.
Operand scalar_operand(const std::string& expr);
// Each Dropout layer draws its own mask: the step's seed mixed with the layer id.
Operand dropout_seed_operand(const ir::Node& n);

// An elementwise step over whole images: Add (a + b) or a copy (Activation, linear).
Step elementwise_step(kernels::Kind kind, const std::string& layer, const std::string& purpose,
                      int64_t elems);

// Halide extents (innermost first) of a per-image shape: [H, W, C] -> {C, W, H}.
std::vector<int64_t> halide_extents(const ir::Shape& s);

// Appends the forward pass to `steps`. In training mode the output node's
// softmax becomes the cross-entropy step, which also produces d(logits).
void lower_forward(Lowering& l, bool training, std::vector<Step>* steps);
// Appends the backward pass.
void lower_backward(Lowering& l, std::vector<Step>* steps);
// Appends the SGD updates of every trainable variable.
void lower_updates(Lowering& l, std::vector<Step>* steps);

}  // namespace cnnc::lower
