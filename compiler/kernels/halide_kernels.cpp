#include "compiler/kernels/halide_kernels.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "compiler/kernels/conv_schedule.h"

namespace cnnc::kernels {
namespace {

// Debian's libhalide14 ships the autoscheduler as a plugin.
constexpr char kAdams2019Plugin[] =
    "/usr/lib/x86_64-linux-gnu/halide14/libautoschedule_adams2019.so";

// Every buffer's estimate: its constant extents, `batch` for the free one.
Halide::Region estimates(const Halide::Internal::Parameter& p, int batch) {
  Halide::Region r;
  for (int d = 0; d < p.dimensions(); ++d) {
    Halide::Expr e = p.extent_constraint(d);
    r.push_back({0, e.defined() ? e : Halide::Expr(batch)});
  }
  return r;
}

// Schedules an unscheduled pipeline with Adams2019 for this machine's cores.
void autoschedule(BuiltKernel& k, const KernelSpec& spec, const Halide::Target& target) {
  static std::once_flag loaded;
  std::call_once(loaded, [] { Halide::load_plugin(kAdams2019Plugin); });
  const int batch = std::max(spec.schedule.estimate_batch, 1);
  for (Halide::ImageParam& p : k.inputs) p.set_estimates(estimates(p.parameter(), batch));
  for (Halide::Func& f : k.outputs)
    f.set_estimates(estimates(f.output_buffer().parameter(), batch));
  const int cores = static_cast<int>(std::max(std::thread::hardware_concurrency(), 1u));
  // A greedy search (beam 1, one pass): seconds instead of minutes per kernel,
  // and the same schedule whenever this spec is compiled again.
  setenv("HL_BEAM_SIZE", "1", 1);
  setenv("HL_NUM_PASSES", "1", 1);
  // The plugin reports its search on stderr; failures come back as exceptions.
  std::fflush(stderr);
  const int saved = dup(2), null = open("/dev/null", O_WRONLY);
  if (null >= 0) dup2(null, 2);
  try {
    k.pipeline.auto_schedule("Adams2019", target, Halide::MachineParams(cores, 32 << 20, 40));
  } catch (...) {
    dup2(saved, 2);
    throw;
  }
  std::fflush(stderr);
  dup2(saved, 2);
  if (null >= 0) close(null);
  close(saved);
}

BuiltKernel build_family(const KernelSpec& spec, const Halide::Target& target) {
  switch (spec.kind) {
    case Kind::Conv2D:
      // Winograd has CPU schedules only (and its rule was measured on CPUs):
      // on a GPU every algorithm gets the direct convolution.
      return spec.conv_algo == ConvAlgo::Direct || spec.conv_algo == ConvAlgo::DirectPacked ||
                     target.has_gpu_feature()
                 ? build_conv2d(spec, target)
                 : build_conv2d_winograd(spec, target);
    case Kind::Conv2DBackwardData:
      return build_conv2d_backward_data(spec, target);
    case Kind::Conv2DBackwardFilter:
      return build_conv2d_backward_filter(spec, target);
    case Kind::Dense:
      return build_dense(spec, target);
    case Kind::DenseBackwardData:
      return build_dense_backward_data(spec, target);
    case Kind::DenseBackwardWeights:
      return build_dense_backward_weights(spec, target);
    case Kind::Pool2D:
      return build_pool2d(spec, target);
    case Kind::Pool2DBackward:
      return build_pool2d_backward(spec, target);
    case Kind::Activation:
      return build_activation(spec, target);
    case Kind::ActivationBackward:
      return build_activation_backward(spec, target);
    case Kind::Softmax:
      return build_softmax(spec, target);
    case Kind::SoftmaxCrossEntropy:
      return build_softmax_cross_entropy(spec, target);
    case Kind::SgdUpdate:
      return build_sgd_update(spec, target);
    case Kind::BatchNormInference:
      return build_batch_norm_inference(spec, target);
    case Kind::BatchNormTraining:
      return build_batch_norm_training(spec, target);
    case Kind::BatchNormBackward:
      return build_batch_norm_backward(spec, target);
    case Kind::BatchNormGradSums:
      return build_batch_norm_grad_sums(spec, target);
    case Kind::Dropout:
      return build_dropout(spec, target);
    case Kind::DropoutBackward:
      return build_dropout_backward(spec, target);
    case Kind::LRN:
      return build_lrn(spec, target);
    case Kind::LRNBackward:
      return build_lrn_backward(spec, target);
    case Kind::ZeroPad:
      return build_zero_pad(spec, target);
    case Kind::ZeroPadBackward:
      return build_zero_pad_backward(spec, target);
    case Kind::ChannelCopy:
      return build_channel_copy(spec, target);
    case Kind::Add:
      return build_add(spec, target);
    case Kind::WinogradWeights:
      return spec.conv_algo == ConvAlgo::DirectPacked ? build_packed_conv_weights(spec, target)
                                                      : build_winograd_weights(spec, target);
  }
  throw std::invalid_argument(std::string("no kernel builder for kind ") + kind_name(spec.kind));
}

}  // namespace

BuiltKernel build_kernel(const KernelSpec& spec, const Halide::Target& target) {
  BuiltKernel k = build_family(spec, target);
  // A tuning file's autoscheduler choice is a CPU schedule: a GPU target
  // keeps its GPU schedule.
  if (detail::autoscheduled(spec) && !target.has_gpu_feature()) autoschedule(k, spec, target);
  if (k.schedule.empty()) k.schedule = "default";
  return k;
}

}  // namespace cnnc::kernels
