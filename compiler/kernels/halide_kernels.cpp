#include "compiler/kernels/halide_kernels.h"

#include <stdexcept>

namespace cnnc::kernels {

BuiltKernel build_kernel(const KernelSpec& spec, const Halide::Target& target) {
  switch (spec.kind) {
    case Kind::Conv2D:
      return spec.conv_algo == ConvAlgo::Direct ? build_conv2d(spec, target)
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
  }
  throw std::invalid_argument(std::string("no kernel builder for kind ") + kind_name(spec.kind));
}

}  // namespace cnnc::kernels
