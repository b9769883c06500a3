#include "compiler/kernels/kernel_spec.h"

#include <cstdio>
#include <sstream>

namespace cnnc::kernels {
namespace {

const char* act_name(Act a) {
  switch (a) {
    case Act::Linear:
      return "linear";
    case Act::Relu:
      return "relu";
    case Act::Tanh:
      return "tanh";
    case Act::Sigmoid:
      return "sigmoid";
  }
  return "?";
}

ArgDesc buffer(const char* name, int dims, bool is_output, bool is_int32 = false) {
  ArgDesc a;
  a.name = name;
  a.is_buffer = true;
  a.is_output = is_output;
  a.dims = dims;
  a.is_int32 = is_int32;
  return a;
}

ArgDesc scalar(const char* name, const char* type) {
  ArgDesc a;
  a.name = name;
  a.is_buffer = false;
  a.scalar_type = type;
  return a;
}

// The window fields shared by convolutions and pools.
void write_window(const KernelSpec& s, std::ostringstream& out) {
  out << " in=" << s.in_h << "x" << s.in_w << "x" << s.in_c << " out=" << s.out_h << "x" << s.out_w
      << "x" << s.out_c << " k=" << s.kernel_h << "x" << s.kernel_w << " s=" << s.stride_h << "x"
      << s.stride_w << " pad=" << s.pad_top << "," << s.pad_left;
}

// Round-trips: equal doubles give equal text, different ones different text.
std::string exact(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::vector<ArgDesc> batch_norm_args(const KernelSpec& s) {
  std::vector<ArgDesc> a;
  switch (s.kind) {
    case Kind::BatchNormInference:
    case Kind::BatchNormTraining:
      a.push_back(buffer("input", 2, false));
      if (s.scale) a.push_back(buffer("gamma", 1, false));
      if (s.center) a.push_back(buffer("beta", 1, false));
      a.push_back(buffer("moving_mean", 1, false));
      a.push_back(buffer("moving_variance", 1, false));
      if (s.kind == Kind::BatchNormTraining && s.residual) a.push_back(buffer("residual", 2, false));
      if (s.kind == Kind::BatchNormTraining && s.residual && s.residual_bn) {
        a.push_back(buffer("residual_beta", 1, false));
        a.push_back(buffer("residual_mean", 1, false));
        a.push_back(buffer("residual_affine", 2, false));
      }
      if (s.kind != Kind::BatchNormTraining || !s.stats_only)
        a.push_back(buffer("output", 2, true));
      if (s.kind == Kind::BatchNormTraining) {
        a.push_back(buffer("batch_mean", 1, true));
        a.push_back(buffer("batch_inv_std", 1, true));
        a.push_back(buffer("batch_affine", 2, true));
        a.push_back(buffer("new_moving_mean", 1, true));
        a.push_back(buffer("new_moving_variance", 1, true));
      }
      break;
    case Kind::BatchNormGradSums:
      a.push_back(buffer("output", 2, false));
      a.push_back(buffer("d_output", 2, false));
      if (s.residual) a.push_back(buffer("d_residual", 2, false));
      a.push_back(buffer("input", 2, false));
      a.push_back(buffer("batch_mean", 1, false));
      a.push_back(buffer("batch_inv_std", 1, false));
      if (s.batch_norms > 1) {
        for (const char* name : {"input2", "batch_mean2", "batch_inv_std2"})
          a.push_back(buffer(name, name[0] == 'i' ? 2 : 1, false));
      }
      a.push_back(buffer("d_input", 2, true));
      a.push_back(buffer("d_gamma", 1, true));
      a.push_back(buffer("d_beta", 1, true));
      a.push_back(buffer("grad_means", 2, true));
      if (s.batch_norms > 1) {
        a.push_back(buffer("d_gamma2", 1, true));
        a.push_back(buffer("d_beta2", 1, true));
        a.push_back(buffer("grad_means2", 2, true));
      }
      break;
    default:  // BatchNormBackward
      a.push_back(buffer("input", 2, false));
      a.push_back(buffer("d_output", 2, false));
      if (s.act == Act::Tanh || s.act == Act::Sigmoid) a.push_back(buffer("output", 2, false));
      if (s.scale) a.push_back(buffer("gamma", 1, false));
      if (s.center && s.act == Act::Relu) a.push_back(buffer("beta", 1, false));
      a.push_back(buffer("batch_mean", 1, false));
      a.push_back(buffer("batch_inv_std", 1, false));
      if (s.act == Act::Relu) a.push_back(buffer("batch_affine", 2, false));
      if (s.given_sums) a.push_back(buffer("grad_means", 2, false));
      a.push_back(buffer("d_input", 2, true));
      if (s.scale && !s.given_sums) a.push_back(buffer("d_gamma", 1, true));
      if (s.center && !s.given_sums) a.push_back(buffer("d_beta", 1, true));
      break;
  }
  return a;
}

// The residual and a strided input or output of Conv2D / Dense (absent when unused, so
// the keys of plain kernels stay as they were).
std::string dense_epilogue(const KernelSpec& s) {
  std::string out = s.residual ? " residual" : "";
  if (s.in_pixel_stride > 0) out += " in_stride=" + std::to_string(s.in_pixel_stride);
  if (s.out_pixel_stride > 0) out += " out_stride=" + std::to_string(s.out_pixel_stride);
  if (s.residual_pixel_stride > 0) {
    out += " residual_stride=" + std::to_string(s.residual_pixel_stride);
  }
  return out;
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Conv2D:
      return "conv2d";
    case Kind::Conv2DBackwardData:
      return "conv2d_backward_data";
    case Kind::Conv2DBackwardFilter:
      return "conv2d_backward_filter";
    case Kind::Dense:
      return "dense";
    case Kind::DenseBackwardData:
      return "dense_backward_data";
    case Kind::DenseBackwardWeights:
      return "dense_backward_weights";
    case Kind::Pool2D:
      return "pool2d";
    case Kind::Pool2DBackward:
      return "pool2d_backward";
    case Kind::Activation:
      return "activation";
    case Kind::ActivationBackward:
      return "activation_backward";
    case Kind::Softmax:
      return "softmax";
    case Kind::SoftmaxCrossEntropy:
      return "softmax_cross_entropy";
    case Kind::SgdUpdate:
      return "sgd_update";
    case Kind::BatchNormInference:
      return "batch_norm_inference";
    case Kind::BatchNormTraining:
      return "batch_norm_training";
    case Kind::BatchNormBackward:
      return "batch_norm_backward";
    case Kind::BatchNormGradSums:
      return "batch_norm_grad_sums";
    case Kind::Dropout:
      return "dropout";
    case Kind::DropoutBackward:
      return "dropout_backward";
    case Kind::LRN:
      return "lrn";
    case Kind::LRNBackward:
      return "lrn_backward";
    case Kind::ZeroPad:
      return "zero_pad";
    case Kind::ZeroPadBackward:
      return "zero_pad_backward";
    case Kind::ChannelCopy:
      return "channel_copy";
    case Kind::Add:
      return "add";
    case Kind::WinogradWeights:
      return "winograd_weights";
  }
  return "unknown";
}

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Direct:
      return "direct";
    case ConvAlgo::WinogradF2:
      return "winograd_f2";
    case ConvAlgo::WinogradF4:
      return "winograd_f4";
    case ConvAlgo::DirectPacked:
      return "direct_packed";
  }
  return "?";
}

bool parse_conv_algo(const std::string& name, ConvAlgo* out) {
  for (ConvAlgo a :
       {ConvAlgo::Direct, ConvAlgo::WinogradF2, ConvAlgo::WinogradF4, ConvAlgo::DirectPacked}) {
    if (name == conv_algo_name(a)) {
      *out = a;
      return true;
    }
  }
  return false;
}

bool winograd_applies(const KernelSpec& s) {
  return s.kind == Kind::Conv2D && s.kernel_h == 3 && s.kernel_w == 3 && s.stride_h == 1 &&
         s.stride_w == 1;
}

// Measured with bench/conv_vs_onednn (2 threads, CNNC_BENCH_ALGO; Winograd's
// time over the direct kernel's in the same run, fastest of each, one run on
// a heavily shared machine), the weights transformed beforehand (at load time):
// - from 56x56 up, F(4x4): 0.4-0.8 (224x224x64-64 0.56, 112x112x128-128
//   0.40, 56x56x256-256 0.49, 56x56x64-64 0.78); F(2x2) there 0.5-0.75.
// - 28x28, F(4x4): 0.28-0.75 (28x28x512-512 0.33, 28x28x256-512 0.28,
//   28x28x128-192 0.45, 28x28x128-128 0.75); F(2x2) there 0.29-0.89.
// - 7x7 to 14x14, F(2x2): 0.55-0.79 (14x14x512-512 0.38, 14x14x96..160
//   channels 0.55-0.58, 13x13x384-384 0.76, 7x7x512-512 0.69, 7x7x192-384
//   0.74); F(4x4) there 0.55-0.97 at 13x13-14x14 and 0.95-1.54 at 7x7. (All
//   of these against the direct kernel reading its weights in place.)
// - few input channels lose (224x224x3-64: 5.7, the input transform
//   outweighs the products).
// Before the weights were transformed at load time (in every call), 7x7 lost
// (1.3-6) and so did 512-channel layers at 14x14 and 28x28 (1.0-2.1).
// - below 10x10, direct with packed weights: at 7x7 F(2x2) saves 1.7x the
//   multiplications but reads a U 1.8x the size of the weights, and at batch 1
//   that traffic dominates. Winograd/packed, alternating in one process
//   (fastest, first quartile): 7x7x512-512 1.32, 1.28; 7x7x192-384 1.62,
//   1.45; 7x7x160-320 0.90, 0.94. At 13x13-14x14 Winograd stays: 0.73-1.03
//   (14x14x160-320 1.6).
// Otherwise the direct kernel, with weights packed at load time (DirectPacked)
// where they overflow L1 and the output channels fill 16-lane blocks: packed
// over in place, same run (CNNC_BENCH_ALGO=direct_packed, medians), 0.67-0.95
// on 70 of the 84 shapes (7x7x512-512 0.67, 7x7x2048-1x1-512 0.74,
// 13x13x384-384 0.71, 14x14 0.92-0.95), 0.95-1.04 on the rest but the
// large-image 3x3s that run as Winograd (224x224x64-64 1.12, 112x112 1.16);
// 3.7-6.4 with out_c off the blocks (the last tile straddles two).
ConvAlgo default_conv_algo(const KernelSpec& s) {
  const bool packable = s.kind == Kind::Conv2D && s.out_c % 16 == 0 &&
                        s.out_c * s.in_c * s.kernel_w * s.kernel_h >= 16 * 1024;
  const ConvAlgo direct = packable ? ConvAlgo::DirectPacked : ConvAlgo::Direct;
  if (!winograd_applies(s) || s.in_c < 64 || s.out_c < 64) return direct;
  const int64_t pixels = s.out_h * s.out_w;
  if (pixels >= 28 * 28) return ConvAlgo::WinogradF4;
  if (pixels >= 10 * 10) return ConvAlgo::WinogradF2;
  return direct;
}

std::string ScheduleChoice::key() const {
  if (!is_set()) return "";
  std::ostringstream out;
  out << " schedule=" << (algorithm.empty() ? "default" : algorithm);
  if (tile_vectors > 0 || tile_columns > 0) out << " tile=" << tile_vectors << "x" << tile_columns;
  if (estimate_batch > 0) out << " estimate_batch=" << estimate_batch;
  return out.str();
}

int64_t winograd_weight_floats(const KernelSpec& s) {
  if (s.conv_algo == ConvAlgo::DirectPacked) {
    return (s.out_c + 15) / 16 * 16 * s.in_c * s.kernel_w * s.kernel_h;
  }
  const int64_t alpha = s.conv_algo == ConvAlgo::WinogradF4 ? 6 : 4;
  // A channel tile is at most 4 vectors of 16 lanes (conv_schedule.cpp), so
  // the rounded-up channels are fewer than out_c + 64.
  return alpha * alpha * s.in_c * (s.out_c + 64);
}

// Only the fields that change the generated code appear, so that specs that
// differ in an ignored field share one kernel.
std::string KernelSpec::key() const {
  std::ostringstream out;
  out << kind_name(kind);
  const char* bias = use_bias ? " bias" : " nobias";
  switch (kind) {
    case Kind::Conv2D:
      write_window(*this, out);
      out << " act=" << act_name(act) << bias << dense_epilogue(*this);
      // Winograd kernels read weights transformed by a WinogradWeights kernel.
      if (conv_algo != ConvAlgo::Direct) {
        out << " algo=" << conv_algo_name(conv_algo) << " weights=transformed";
      }
      break;
    case Kind::WinogradWeights:
      write_window(*this, out);
      out << " algo=" << conv_algo_name(conv_algo);
      break;
    case Kind::Conv2DBackwardData:
      write_window(*this, out);
      if (pair_out_c > 0) out << " pair=" << pair_out_c;
      break;
    case Kind::Conv2DBackwardFilter:
      write_window(*this, out);
      out << bias;
      break;
    case Kind::Dense:
      out << " in=" << in_c << " out=" << out_c << " act=" << act_name(act) << bias;
      if (rows_per_image > 1) out << " rows_per_image=" << rows_per_image;
      out << dense_epilogue(*this);
      break;
    case Kind::DenseBackwardData:
      out << " in=" << in_c << " out=" << out_c;
      if (rows_per_image > 1) out << " rows_per_image=" << rows_per_image;
      if (residual) out << " residual";
      break;
    case Kind::DenseBackwardWeights:
      out << " in=" << in_c << " out=" << out_c << bias;
      if (rows_per_image > 1) out << " rows_per_image=" << rows_per_image;
      break;
    case Kind::Pool2D:
    case Kind::Pool2DBackward:
      write_window(*this, out);
      out << (pool == PoolKind::Max ? " max" : " avg");
      break;
    case Kind::Activation:
    case Kind::ActivationBackward:
      out << " elems=" << in_h * in_w * in_c << " act=" << act_name(act);
      if (kind == Kind::ActivationBackward && residual) out << " residual";
      break;
    case Kind::Softmax:
    case Kind::SoftmaxCrossEntropy:
      out << " classes=" << in_c;
      break;
    case Kind::SgdUpdate:
      break;
    case Kind::BatchNormInference:
      out << " c=" << in_c << " eps=" << exact(epsilon);
      break;
    case Kind::BatchNormTraining:
      out << " c=" << in_c << " eps=" << exact(epsilon) << " momentum=" << exact(momentum);
      break;
    case Kind::BatchNormBackward:
      out << " c=" << in_c;
      if (given_sums) out << " given_sums";
      break;
    case Kind::BatchNormGradSums:
      out << " c=" << in_c << " act=" << act_name(act) << " batch_norms=" << batch_norms;
      if (residual) out << " residual";
      break;
    case Kind::Dropout:
    case Kind::DropoutBackward:
      out << " elems=" << in_h * in_w * in_c << " rate=" << exact(rate);
      break;
    case Kind::LRN:
    case Kind::LRNBackward:
      out << " in=" << in_h << "x" << in_w << "x" << in_c << " size=" << lrn_size
          << " alpha=" << exact(lrn_alpha) << " beta=" << exact(lrn_beta)
          << " bias=" << exact(lrn_bias);
      break;
    case Kind::ZeroPad:
    case Kind::ZeroPadBackward:
      out << " in=" << in_h << "x" << in_w << "x" << in_c << " out=" << out_h << "x" << out_w
          << " pad=" << pad_top << "," << pad_left;
      break;
    case Kind::ChannelCopy:
      out << " hw=" << in_h << "x" << in_w << " channels=" << channels << " in_c=" << in_c
          << " out_c=" << out_c;
      if (act != Act::Linear) out << " act=" << int(act);
      break;
    case Kind::Add:
      out << " elems=" << in_h * in_w * in_c << " act=" << act_name(act);
      break;
  }
  if (kind == Kind::BatchNormInference || kind == Kind::BatchNormTraining ||
      kind == Kind::BatchNormBackward) {
    out << (scale ? " scale" : " noscale") << (center ? " center" : " nocenter");
    if (kind != Kind::BatchNormInference && act != Act::Linear) out << " act=" << act_name(act);
    if (kind == Kind::BatchNormTraining && residual)
      out << (residual_bn ? " residual_bn" : " residual");
    if (kind == Kind::BatchNormTraining && stats_only) out << " stats_only";
  }
  if (kind == Kind::Conv2D || kind == Kind::Dense) out << schedule.key();
  return out.str();
}

std::vector<ArgDesc> kernel_args(const KernelSpec& s) {
  switch (s.kind) {
    case Kind::Conv2D: {
      const int weight_dims = s.conv_algo == ConvAlgo::Direct ? 4 : 1;
      std::vector<ArgDesc> a = {buffer("input", 4, false), buffer("weights", weight_dims, false)};
      if (s.use_bias) a.push_back(buffer("bias", 1, false));
      if (s.residual) a.push_back(buffer("residual", 4, false));
      a.push_back(buffer("output", 4, true));
      return a;
    }
    case Kind::Conv2DBackwardData: {
      std::vector<ArgDesc> a = {buffer("d_output", 4, false), buffer("weights", 4, false)};
      if (s.pair_out_c > 0) {
        a.push_back(buffer("d_output2", 4, false));
        a.push_back(buffer("weights2", 4, false));
      }
      a.push_back(buffer("d_input", 4, true));
      return a;
    }
    case Kind::Conv2DBackwardFilter: {
      std::vector<ArgDesc> a = {buffer("input", 4, false), buffer("d_output", 4, false),
                                buffer("d_weights", 4, true)};
      if (s.use_bias) a.push_back(buffer("d_bias", 1, true));
      return a;
    }
    case Kind::Dense: {
      std::vector<ArgDesc> a = {buffer("input", 2, false), buffer("weights", 2, false)};
      if (s.use_bias) a.push_back(buffer("bias", 1, false));
      if (s.residual) a.push_back(buffer("residual", 2, false));
      a.push_back(buffer("output", 2, true));
      return a;
    }
    case Kind::DenseBackwardData: {
      std::vector<ArgDesc> a = {buffer("d_output", 2, false), buffer("weights", 2, false)};
      if (s.residual) a.push_back(buffer("d_residual", 2, false));
      a.push_back(buffer("d_input", 2, true));
      return a;
    }
    case Kind::DenseBackwardWeights: {
      std::vector<ArgDesc> a = {buffer("input", 2, false), buffer("d_output", 2, false),
                                buffer("d_weights", 2, true)};
      if (s.use_bias) a.push_back(buffer("d_bias", 1, true));
      return a;
    }
    case Kind::Pool2D:
      return {buffer("input", 4, false), buffer("output", 4, true)};
    case Kind::Pool2DBackward:
      return {buffer("input", 4, false), buffer("d_output", 4, false), buffer("d_input", 4, true)};
    case Kind::Activation:
      return {buffer("input", 2, false), buffer("output", 2, true)};
    case Kind::ActivationBackward: {
      std::vector<ArgDesc> a = {buffer("output", 2, false), buffer("d_output", 2, false)};
      if (s.residual) a.push_back(buffer("d_residual", 2, false));
      a.push_back(buffer("d_input", 2, true));
      return a;
    }
    case Kind::Softmax:
      return {buffer("input", 2, false), buffer("output", 2, true)};
    case Kind::SoftmaxCrossEntropy:
      return {buffer("logits", 2, false), buffer("labels", 1, false, /*is_int32=*/true),
              buffer("probs", 2, true), buffer("d_logits", 2, true), buffer("loss", 1, true)};
    case Kind::SgdUpdate:
      return {buffer("weights", 1, false),    buffer("grad", 1, false),
              buffer("velocity", 1, false),   scalar("lr", "float"),
              scalar("momentum", "float"),    scalar("l2", "float"),
              scalar("nesterov", "int32_t"),  buffer("new_weights", 1, true),
              buffer("new_velocity", 1, true)};
    case Kind::BatchNormInference:
    case Kind::BatchNormTraining:
    case Kind::BatchNormBackward:
    case Kind::BatchNormGradSums:
      return batch_norm_args(s);
    case Kind::Dropout:
      return {buffer("input", 2, false), scalar("seed", "uint64_t"), scalar("step", "uint64_t"),
              buffer("output", 2, true)};
    case Kind::DropoutBackward:
      return {buffer("d_output", 2, false), scalar("seed", "uint64_t"), scalar("step", "uint64_t"),
              buffer("d_input", 2, true)};
    case Kind::LRN:
      return {buffer("input", 4, false), buffer("output", 4, true)};
    case Kind::LRNBackward:
      return {buffer("input", 4, false), buffer("output", 4, false), buffer("d_output", 4, false),
              buffer("d_input", 4, true)};
    case Kind::ZeroPad:
      return {buffer("input", 4, false), buffer("output", 4, true)};
    case Kind::ZeroPadBackward:
      return {buffer("d_output", 4, false), buffer("d_input", 4, true)};
    case Kind::ChannelCopy:
      return {buffer("input", 4, false), buffer("output", 4, true)};
    case Kind::Add:
      return {buffer("a", 2, false), buffer("b", 2, false), buffer("output", 2, true)};
    case Kind::WinogradWeights:
      return {buffer("weights", 4, false), buffer("transformed", 1, true)};
  }
  return {};
}

}  // namespace cnnc::kernels
