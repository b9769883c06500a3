// A Program is the graph lowered to what the generated code does: a list of
// kernel calls on buffers placed in a few memory spaces. The code generator
// prints it; memory planning rewrites its arena offsets. It has no Halide in it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/kernels/kernel_spec.h"

namespace cnnc::lower {

// Where a buffer lives. Params, Grads and Velocity share one layout (the
// parameter block); Input, Labels and Output are the caller's pointers.
enum class Space { Arena, Params, Grads, Velocity, Derived, Input, Labels, Output, Scalar };

// One argument of one kernel call.
struct Operand {
  Space space = Space::Arena;
  int tensor = -1;     // Space::Arena: index into Program::tensors
  int64_t offset = 0;  // Params/Grads/Velocity: in floats, into the parameter block
  // Halide extents, innermost first, without the batch. When `batched`, the
  // call appends a last dimension of extent n * rows_per_image.
  std::vector<int64_t> extents;
  // A view into part of a tensor (Concatenate's channel slices): the first
  // element is `element_offset` floats in, and `strides` (one per dimension,
  // the batch's included) replace the dense ones when not empty.
  int64_t element_offset = 0;
  std::vector<int64_t> strides;
  bool batched = true;
  int64_t rows_per_image = 1;
  bool is_int32 = false;
  std::string scalar;  // Space::Scalar: a C++ expression in the generated code
};

struct Step {
  kernels::KernelSpec spec;
  std::string layer;    // the IR node this step belongs to
  std::string purpose;  // "forward", "backward data", "update conv1.kernel", ...
  std::map<std::string, Operand> operands;  // by the argument names of kernel_spec.h
};

// An arena tensor: one activation or gradient of the whole batch.
struct ArenaTensor {
  std::string name;           // "conv1", "d_conv1", ...
  int64_t floats_per_image = 0;
  bool per_image = true;      // false: floats_per_image is the whole size (batch statistics)
  int64_t offset = 0;         // in floats from the arena's start, assigned by planning
};

// A BatchNormalization folded into the Conv2D/Dense before it: at load time,
// derived kernel = kernel * s and derived bias = (bias - mean) * s + beta, with
// s = gamma / sqrt(variance + epsilon) per output channel. Offsets in floats:
// into the parameter block, -1 where the variable does not exist.
struct BatchNormFold {
  std::string layer, batchnorm;
  int64_t kernel = -1, bias = -1, gamma = -1, beta = -1, mean = -1, variance = -1;
  int64_t kernel_floats = 0, channels = 0;
  double epsilon = 0.001;
  int64_t derived_kernel = 0, derived_bias = 0;  // into the derived block
};

// A convolution merged from parallel 1x1 ones: its kernel and bias are the
// parts' (or their BatchNorm-folded versions) side by side along the output
// channels. Offsets in floats; *_derived says which block they are in.
struct MergedWeights {
  std::string layer;
  struct Part {
    int64_t kernel = 0, bias = -1;  // bias -1: the part has none (zeros)
    bool derived = false;           // kernel and bias come from a fold
    int64_t channels = 0;
  };
  std::vector<Part> parts;
  int64_t rows = 0;  // kernel floats per output channel (kh * kw * c_in)
  int64_t channels = 0;
  int64_t derived_kernel = 0, derived_bias = 0;
};

// A 1x1 convolution composed into the Conv2D/Dense after it (compose_1x1):
// kernel = first * second ([c_in, c_mid] x [c_mid, c_out]) and bias = b1 *
// second + b2. Offsets in floats; *_derived says which block each is in, bias
// -1 where a layer has none.
struct ComposedWeights {
  std::string layer;
  int64_t first_kernel = 0, first_bias = -1, second_kernel = 0, second_bias = -1;
  bool first_derived = false, second_derived = false;
  int64_t c_in = 0, c_mid = 0, c_out = 0;
  int64_t derived_kernel = 0, derived_bias = 0;
};

struct Program {
  std::string model;
  int max_batch = 1;
  std::vector<ArenaTensor> tensors;  // arena operands refer to these by index
  std::vector<Step> infer;           // forward in inference mode, ends writing Space::Output
  std::vector<Step> train;           // forward (training mode), loss, backward
  std::vector<Step> update;          // SGD updates of every trainable variable
  bool has_training = false;
  int64_t arena_floats = 0;          // for max_batch images, after planning
  int64_t unplanned_arena_floats = 0;  // every tensor in its own place
  std::vector<BatchNormFold> folds;  // inference: computed from the parameters at load time
  std::vector<ComposedWeights> composes;  // after the folds
  std::vector<MergedWeights> merges;      // after the folds
  // Kernel calls at load time after the folds, composes and merges, on the
  // params and derived blocks only: Winograd weight transforms into the
  // derived block (host targets only).
  std::vector<Step> prepare;
  int64_t derived_floats = 0;
  int64_t output_floats_per_image = 0;
  // Arena tensors holding the per-image loss and the softmax probabilities of
  // the training forward pass (for the loss and accuracy the step reports).
  int64_t loss_tensor = -1, probs_tensor = -1;
};

// Lowers verified, shape-inferred graphs: `inference` (after the inference
// passes) and, when given, `training` (after the training passes). Variables
// are laid out as in `original` (the frontend's graph: the weights files'
// naming). Throws cnnc::Error (exit 2) naming every layer that cannot run,
// never fails later at run time.
struct LowerOptions {
  bool plan_memory = true;  // arena by liveness (else every tensor in its own place)
  bool gemm_1x1 = true;     // 1x1 stride-1 convolutions run as matrix products (Dense kernels)
  // Inference: 1x1 layers that run as convolutions even with gemm_1x1 (cnnc tune's choice).
  std::set<std::string> direct_1x1;
  bool concat_in_place = true;  // inference: convolutions write into a Concatenate's output
  // Inference: 3x3 convolutions may run as Winograd (default_conv_algo), their
  // weights transformed in prepare(). False on GPU targets: Winograd has no GPU
  // schedule, and prepare() runs on the host there.
  bool winograd = true;
  // Inference: Conv2D layers' algorithms instead of default_conv_algo (cnnc
  // tune's choice; a Winograd one gets its weight transform in prepare;
  // ignored without `winograd`).
  std::map<std::string, kernels::ConvAlgo> conv_algo;
  // Inference: 1x1 layers that run as matrix products even where
  // packed_1x1_wins would pick the convolution (cnnc tune's choice).
  std::set<std::string> gemm_layers;
  // Training: the data gradients of two strided 1x1 convolutions reading one
  // tensor (a projection block's first 1x1 and its shortcut) as one kernel,
  // which has CPU schedules only (pass pair_strided_1x1).
  bool pair_data_gradients = true;
};
Program lower_program(const ir::Graph& original, const ir::Graph& inference,
                      const ir::Graph* training, int max_batch, const LowerOptions& options = {});

// A 1x1 convolution with stride 1 and no padding: a matrix product over pixels.
bool is_pointwise_conv(const ir::Node& n);
// Whether such a convolution runs faster as a convolution with packed weights
// (load-time packing, CPU inference) than as a matrix product, at batches up to
// max_batch: on few rows (pixels of all images; ResNet-50's 7x7 stage at batch
// 1), where the matrix product re-reads its weight rows, out_c floats apart,
// for only a few rows each.
bool packed_1x1_wins(const ir::Node& n, int64_t in_c, int max_batch);

// Gives every arena tensor its offset: by liveness when `share`, else each its
// own place. Sets arena_floats and unplanned_arena_floats.
void plan_memory(Program& p, bool share);

}  // namespace cnnc::lower
