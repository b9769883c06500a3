// Conv2D, Conv2DBackwardData and Conv2DBackwardFilter against the reference.
#include <stdexcept>

#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-5;
using kernels::ConvAlgo;

std::vector<int> weight_sizes(const KernelSpec& s) {
  return {static_cast<int>(s.out_c), static_cast<int>(s.in_c), static_cast<int>(s.kernel_w),
          static_cast<int>(s.kernel_h)};
}

// A kernel whose algorithm is not Direct (DirectPacked here) reads its weights
// through the transform kernel, as at load time.
void expect_conv_matches_reference(const KernelSpec& s,
                                   const std::vector<int64_t>& batches = {1, 3}) {
  SCOPED_TRACE(s.key());
  JitKernel k(s);
  for (int64_t batch : batches) {
    const Vec input = random_vec(in_size(s, batch), 1);
    const Vec weights = random_vec(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 2);
    const Vec bias = s.use_bias ? random_vec(s.out_c, 3) : Vec();
    Halide::Buffer<> weight_buffer = to_buffer(weights, weight_sizes(s));
    if (s.conv_algo != ConvAlgo::Direct) {
      const int floats = static_cast<int>(kernels::winograd_weight_floats(s));
      weight_buffer = to_buffer(
          JitKernel(with_kind(s, Kind::WinogradWeights)).run({weight_buffer}, {{floats}})[0],
          {floats});
    }
    std::vector<Halide::Buffer<>> inputs = {
        to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch)), weight_buffer};
    if (s.use_bias) inputs.push_back(to_buffer(bias, {static_cast<int>(s.out_c)}));
    const Vec got = k.run(inputs, {image_sizes(s.out_c, s.out_w, s.out_h, batch)})[0];
    const Vec want = reference::conv2d(s, batch, input, weights, bias);
    EXPECT_LE(relative_error(got, want), kTolerance) << "batch " << batch;
  }
}

TEST(Conv2DKernel, MatchesReference) {
  std::vector<KernelSpec> specs = conv_specs();
  // One channel vector by a row of columns with a ragged tail (19 = 10 + 9,
  // shifted inwards): the kernel columns unrolled.
  specs.push_back(window_spec(Kind::Conv2D, 5, 19, 8, 16, 5, 5, 1, 1, true));
  // A row of two such tiles (24 = 2 x 12): both unrolled, the border's taps
  // skipped and the input read in place.
  specs.push_back(window_spec(Kind::Conv2D, 6, 24, 8, 16, 5, 5, 1, 1, true));
  for (const KernelSpec& s : specs) expect_conv_matches_reference(s);
}

// DirectPacked: the test shapes, and shapes that reach the whole-image
// schedule (small images, many channels; strided 1x1s, one with enough
// output channels to subsample its input first) and
// the row schedule with chunks of input channels, channel counts off the
// 16-channel blocks included.
TEST(Conv2DKernel, PackedWeightsMatchReference) {
  std::vector<KernelSpec> specs = conv_specs();
  specs.push_back(window_spec(Kind::Conv2D, 7, 7, 64, 128, 3, 3, 1, 1, true));
  specs.push_back(window_spec(Kind::Conv2D, 14, 14, 32, 64, 5, 5, 1, 1, true));
  specs.push_back(window_spec(Kind::Conv2D, 14, 14, 48, 72, 1, 1, 2, 2, false));
  specs.push_back(window_spec(Kind::Conv2D, 6, 5, 16, 512, 1, 1, 2, 2, false));
  specs.push_back(window_spec(Kind::Conv2D, 30, 26, 136, 96, 3, 3, 1, 1, true));
  specs.push_back(window_spec(Kind::Conv2D, 9, 9, 24, 40, 3, 3, 1, 1, true));
  for (KernelSpec s : specs) {
    s.conv_algo = ConvAlgo::DirectPacked;
    expect_conv_matches_reference(s);
  }
}

// Strided 1x1 convolutions without padding (conv_strided_1x1.cpp): odd
// sizes, strides 2 and 3 by 2, channel counts off the vector width and its
// register tiles; 9 images: blocks of rows spanning images, and a tail.
std::vector<KernelSpec> strided_1x1_specs() {
  std::vector<KernelSpec> v = {
      window_spec(Kind::Conv2D, 9, 8, 12, 16, 1, 1, 2, 2, false),
      window_spec(Kind::Conv2D, 10, 7, 5, 24, 1, 1, 3, 2, false),
      window_spec(Kind::Conv2D, 13, 13, 40, 48, 1, 1, 2, 2, false),
      window_spec(Kind::Conv2D, 14, 14, 24, 72, 1, 1, 2, 2, false),
      window_spec(Kind::Conv2D, 8, 8, 16, 128, 1, 1, 2, 2, false),
  };
  for (size_t i = 0; i < v.size(); ++i) {
    v[i].act = i % 2 ? Act::Relu : Act::Linear;
    v[i].use_bias = i % 3 != 1;
  }
  return v;
}

// That the kernel of `s` runs conv_strided_1x1.cpp's schedule (a CPU's).
void expect_strided_schedule(const KernelSpec& s) {
  if (schedule_target().has_gpu_feature()) return;
  const std::string how = kernels::build_kernel(s, schedule_target()).schedule;
  EXPECT_NE(how.find("strided"), std::string::npos) << s.key() << ": " << how;
}

TEST(Conv2DKernel, Strided1x1MatchesReference) {
  for (const KernelSpec& s : strided_1x1_specs()) {
    expect_strided_schedule(s);
    expect_conv_matches_reference(s, {1, 3, 9});
  }
}

// The schedules `cnnc tune` may choose compute the same convolution: register
// tiles (also larger than the extents: clamped) and the Adams2019 autoscheduler.
TEST(Conv2DKernel, TunedSchedulesMatchReference) {
  int autoscheduled = 0;
  for (KernelSpec s : conv_specs()) {
    if (s.out_c < 8) continue;
    for (const auto& [vectors, columns] :
         std::vector<std::pair<int, int>>{{1, 8}, {3, 4}, {4, 40}}) {
      s.schedule = {};
      s.schedule.tile_vectors = vectors;
      s.schedule.tile_columns = columns;
      expect_conv_matches_reference(s);
    }
    // The autoscheduler's search is slow: two shapes. It vectorises by 16
    // without regard to the exact output extents: fewer channels fail Halide's
    // bounds check (cnnc tune discards such candidates).
    if (s.out_c >= 16 && autoscheduled++ < 2) {
      s.schedule = {};
      s.schedule.algorithm = "autoschedule";
      s.schedule.estimate_batch = 1;  // as cnnc tune plans: valid for every batch
      expect_conv_matches_reference(s);
    }
  }
  EXPECT_GT(autoscheduled, 0);
}

TEST(Conv2DKernel, ScheduleChoiceEntersTheKeyOnlyWhenSet) {
  KernelSpec s = conv_specs()[0];
  const std::string plain = s.key();
  EXPECT_EQ(plain.find("schedule"), std::string::npos);
  s.schedule.tile_vectors = 2;
  EXPECT_NE(s.key(), plain);
  s.schedule = {};
  s.schedule.algorithm = "winograd?";
  EXPECT_THROW(Halide::Pipeline p = kernels::build_kernel(s, Halide::get_host_target()).pipeline,
               std::invalid_argument);
}

// 3x3 stride-1 shapes for Winograd: 'same' and 'valid', sizes that leave
// partial tiles, channel counts off the vector width, a single pixel, and
// images with several blocks of tile rows (run in parallel, or one block with
// its channel tiles in parallel).
std::vector<KernelSpec> winograd_specs() {
  std::vector<KernelSpec> v = {
      window_spec(Kind::Conv2D, 7, 9, 3, 5, 3, 3, 1, 1, false),
      window_spec(Kind::Conv2D, 9, 7, 13, 24, 3, 3, 1, 1, true),
      window_spec(Kind::Conv2D, 1, 1, 8, 16, 3, 3, 1, 1, true),
      window_spec(Kind::Conv2D, 13, 13, 40, 72, 3, 3, 1, 1, true),
      window_spec(Kind::Conv2D, 14, 14, 64, 64, 3, 3, 1, 1, true),
      window_spec(Kind::Conv2D, 20, 18, 128, 96, 3, 3, 1, 1, false),
      window_spec(Kind::Conv2D, 40, 11, 64, 72, 3, 3, 1, 1, true),
      window_spec(Kind::Conv2D, 1030, 3, 16, 24, 3, 3, 1, 1, true),  // 4+ blocks
  };
  const Act acts[] = {Act::Relu, Act::Tanh,   Act::Linear, Act::Sigmoid,
                      Act::Relu, Act::Linear, Act::Relu,   Act::Tanh};
  for (size_t i = 0; i < v.size(); ++i) {
    v[i].act = acts[i];
    v[i].use_bias = i != 1;
  }
  return v;
}

// Winograd rounds more than the direct sum: the transforms add rounded
// terms before and after the products, F(4x4)'s with coefficients up to 8
// and down to 1/24. Measured on these shapes (inputs and weights uniform in
// [-1, 1)): F(2x2) at most 1.8e-6 of the largest output, F(4x4) 3.1e-5; the
// bounds leave about 3x to 5x.
double winograd_tolerance(ConvAlgo algo) { return algo == ConvAlgo::WinogradF4 ? 1e-4 : 1e-5; }

// The weights go through the transform kernel (as at load time), then the
// convolution reads its output. Winograd has no GPU schedule (GPU targets
// lower every convolution to the direct kernel).
TEST(Conv2DWinogradKernel, MatchesReference) {
  if (schedule_target().has_gpu_feature()) GTEST_SKIP() << "no GPU schedule for Winograd";
  for (ConvAlgo algo : {ConvAlgo::WinogradF2, ConvAlgo::WinogradF4}) {
    for (KernelSpec s : winograd_specs()) {
      s.conv_algo = algo;
      SCOPED_TRACE(s.key());
      JitKernel k(s), transform(with_kind(s, Kind::WinogradWeights));
      const int u_floats = static_cast<int>(kernels::winograd_weight_floats(s));
      for (int64_t batch : {1, 2}) {
        const Vec input = random_vec(in_size(s, batch), 11);
        const Vec weights = random_vec(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 12 + batch);
        const Vec bias = s.use_bias ? random_vec(s.out_c, 13) : Vec();
        const Vec u = transform.run({to_buffer(weights, weight_sizes(s))}, {{u_floats}})[0];
        std::vector<Halide::Buffer<>> inputs = {
            to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch)), to_buffer(u, {u_floats})};
        if (s.use_bias) inputs.push_back(to_buffer(bias, {static_cast<int>(s.out_c)}));
        const Vec got = k.run(inputs, {image_sizes(s.out_c, s.out_w, s.out_h, batch)})[0];
        const Vec want = reference::conv2d(s, batch, input, weights, bias);
        EXPECT_LE(relative_error(got, want), winograd_tolerance(algo)) << "batch " << batch;
      }
    }
  }
}

// The epilogue fuse_residual_add makes (act(conv + bias + residual)), with the
// input and the residual channel slices of wider tensors (merged convolutions'
// parts) and the output one too (a Concatenate's); direct and Winograd (CPU
// targets only), the latter reading weights transformed as at load time.
TEST(Conv2DKernel, ResidualAndChannelSlices) {
  std::vector<KernelSpec> specs = conv_specs();
  const bool gpu = schedule_target().has_gpu_feature();
  for (ConvAlgo algo : {ConvAlgo::WinogradF2, ConvAlgo::WinogradF4}) {
    if (gpu) break;
    for (int i : {0, 1, 4}) {
      specs.push_back(winograd_specs()[i]);
      specs.back().conv_algo = algo;
    }
  }
  for (int i : {0, 6}) {
    specs.push_back(conv_specs()[i]);
    specs.back().conv_algo = ConvAlgo::DirectPacked;
  }
  // A merged projection block's strided 1x1 (inference: merge_parallel_1x1).
  specs.push_back(strided_1x1_specs()[2]);
  for (KernelSpec s : specs) {
    s.residual = true;
    s.in_pixel_stride = s.in_c + 3;
    s.out_pixel_stride = s.out_c + 2;
    s.residual_pixel_stride = s.out_c + 4;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 2}) {
      const Vec input = random_vec(in_size(s, batch), 11);
      const Vec weights = random_vec(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 12);
      const Vec bias = s.use_bias ? random_vec(s.out_c, 13) : Vec();
      const Vec residual = random_vec(out_size(s, batch), 14);
      Halide::Buffer<> weight_buffer = to_buffer(weights, weight_sizes(s));
      Vec u;
      if (s.conv_algo != ConvAlgo::Direct) {
        const int u_floats = static_cast<int>(kernels::winograd_weight_floats(s));
        u = JitKernel(with_kind(s, Kind::WinogradWeights)).run({weight_buffer}, {{u_floats}})[0];
        weight_buffer = to_buffer(u, {u_floats});
      }
      std::vector<Halide::Buffer<>> inputs = {
          channel_slice_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch),
                               static_cast<int>(s.in_pixel_stride), 2),
          weight_buffer};
      if (s.use_bias) inputs.push_back(to_buffer(bias, {static_cast<int>(s.out_c)}));
      inputs.push_back(channel_slice_buffer(residual, image_sizes(s.out_c, s.out_w, s.out_h, batch),
                                            static_cast<int>(s.residual_pixel_stride), 3));
      const int stride = static_cast<int>(s.out_pixel_stride);
      std::vector<Halide::Buffer<>> outputs = {channel_slice_buffer(
          Vec(out_size(s, batch)), image_sizes(s.out_c, s.out_w, s.out_h, batch), stride, 1)};
      k.run_into(inputs, outputs);
      bool untouched = false;
      const Vec got = from_channel_slice(Halide::Buffer<float>(outputs[0]), stride, 1, &untouched);
      const Vec want = reference::conv2d(s, batch, input, weights, bias, residual);
      const double tolerance =
          s.conv_algo == ConvAlgo::Direct || s.conv_algo == ConvAlgo::DirectPacked
              ? kTolerance
              : winograd_tolerance(s.conv_algo);
      EXPECT_LE(relative_error(got, want), tolerance) << "batch " << batch;
      EXPECT_TRUE(untouched) << "batch " << batch << ": wrote outside its channels";
    }
  }
}

TEST(Conv2DWinogradKernel, OnlyFor3x3Stride1) {
  KernelSpec s = conv_specs()[1];  // 4x4 stride 2
  s.conv_algo = ConvAlgo::WinogradF2;
  EXPECT_FALSE(kernels::winograd_applies(s));
  EXPECT_THROW(kernels::build_kernel(s, Halide::get_host_target()), std::invalid_argument);
  EXPECT_THROW(
      kernels::build_kernel(with_kind(s, Kind::WinogradWeights), Halide::get_host_target()),
      std::invalid_argument);
  EXPECT_EQ(kernels::default_conv_algo(s), ConvAlgo::Direct);
}

// The default rule (kernel_spec.cpp) on shapes of the seed networks.
TEST(Conv2DWinogradKernel, DefaultRule) {
  auto algo = [](int64_t hw, int64_t c, int64_t k, int64_t stride, int64_t f) {
    return kernels::default_conv_algo(
        window_spec(Kind::Conv2D, hw, hw, c, f, k, k, stride, stride, true));
  };
  EXPECT_EQ(algo(224, 64, 3, 1, 64), ConvAlgo::WinogradF4);
  EXPECT_EQ(algo(56, 64, 3, 1, 64), ConvAlgo::WinogradF4);
  EXPECT_EQ(algo(28, 512, 3, 1, 512), ConvAlgo::WinogradF4);
  EXPECT_EQ(algo(28, 96, 3, 1, 128), ConvAlgo::WinogradF4);
  EXPECT_EQ(algo(14, 144, 3, 1, 288), ConvAlgo::WinogradF2);
  EXPECT_EQ(algo(14, 512, 3, 1, 512), ConvAlgo::WinogradF2);
  EXPECT_EQ(algo(13, 384, 3, 1, 256), ConvAlgo::WinogradF2);
  EXPECT_EQ(algo(7, 192, 3, 1, 384), ConvAlgo::DirectPacked);
  EXPECT_EQ(algo(7, 512, 3, 1, 512), ConvAlgo::DirectPacked);
  EXPECT_EQ(algo(6, 512, 3, 1, 512), ConvAlgo::DirectPacked);
  EXPECT_EQ(algo(14, 32, 3, 1, 64), ConvAlgo::DirectPacked);
  EXPECT_EQ(algo(56, 64, 3, 2, 64), ConvAlgo::DirectPacked);
  EXPECT_EQ(algo(56, 64, 5, 1, 64), ConvAlgo::DirectPacked);
  EXPECT_EQ(algo(7, 832, 1, 1, 384), ConvAlgo::DirectPacked);
  // Few weights, or output channels off the 16-channel blocks: in place.
  EXPECT_EQ(algo(224, 3, 3, 1, 64), ConvAlgo::Direct);
  EXPECT_EQ(algo(7, 16, 5, 1, 120), ConvAlgo::Direct);
  EXPECT_EQ(algo(14, 512, 1, 1, 24), ConvAlgo::Direct);
}

TEST(Conv2DWinogradKernel, AlgorithmIsPartOfTheKey) {
  KernelSpec s = winograd_specs()[4];
  const std::string direct = s.key();
  s.conv_algo = ConvAlgo::WinogradF4;
  EXPECT_NE(s.key(), direct);
  kernels::ConvAlgo parsed = ConvAlgo::Direct;
  EXPECT_TRUE(kernels::parse_conv_algo(kernels::conv_algo_name(s.conv_algo), &parsed));
  EXPECT_EQ(parsed, ConvAlgo::WinogradF4);
  EXPECT_FALSE(kernels::parse_conv_algo("winograd", &parsed));
}

void expect_backward_data_matches_reference(const KernelSpec& forward) {
  const KernelSpec s = with_kind(forward, Kind::Conv2DBackwardData);
  SCOPED_TRACE(s.key());
  JitKernel k(s);
  // 9: whole groups of the images a tile may span (4) and a tail.
  for (int64_t batch : {1, 3, 9}) {
    const Vec d_output = random_vec(out_size(s, batch), 4);
    const Vec weights = random_vec(s.kernel_h * s.kernel_w * s.in_c * s.out_c, 5);
    const Vec got = k.run({to_buffer(d_output, image_sizes(s.out_c, s.out_w, s.out_h, batch)),
                           to_buffer(weights, weight_sizes(s))},
                          {image_sizes(s.in_c, s.in_w, s.in_h, batch)})[0];
    const Vec want = reference::conv2d_backward_data(s, batch, d_output, weights);
    EXPECT_LE(relative_error(got, want), kTolerance) << "batch " << batch;
  }
}

TEST(Conv2DBackwardDataKernel, MatchesReference) {
  std::vector<KernelSpec> specs = conv_specs();
  // Rows of one tile whose taps on the border are skipped: stride 1 (in
  // TrainingShapesMatchReference) and 2, and 5 kernel columns.
  specs.push_back(window_spec(Kind::Conv2D, 7, 7, 32, 24, 3, 3, 2, 2, true));
  specs.push_back(window_spec(Kind::Conv2D, 6, 10, 32, 16, 5, 5, 1, 1, true));
  // One channel vector by 12 columns, two tiles a row: both unrolled.
  specs.push_back(window_spec(Kind::Conv2D, 6, 24, 16, 8, 3, 3, 1, 1, true));
  for (const KernelSpec& forward : specs) expect_backward_data_matches_reference(forward);
}

// Strided 1x1 convolutions (ResNet's projections): a matrix product over the
// output pixels scattered to the pixels read (8 or more input channels, odd
// and even sizes, stride 2 and 3), else gathered like the others.
TEST(Conv2DBackwardDataKernel, Strided1x1MatchesReference) {
  for (const KernelSpec& forward : {window_spec(Kind::Conv2D, 9, 8, 12, 16, 1, 1, 2, 2, true),
                                    window_spec(Kind::Conv2D, 8, 8, 32, 24, 1, 1, 2, 2, false),
                                    window_spec(Kind::Conv2D, 10, 7, 8, 5, 1, 1, 3, 2, true),
                                    window_spec(Kind::Conv2D, 7, 7, 3, 8, 1, 1, 2, 2, false)}) {
    expect_backward_data_matches_reference(forward);
  }
}

// Those with 16 or more input channels run as matrix products at the pixels
// read (conv_strided_1x1.cpp).
TEST(Conv2DBackwardDataKernel, Strided1x1PixelGemmMatchesReference) {
  for (KernelSpec forward : strided_1x1_specs()) {
    std::swap(forward.in_c, forward.out_c);  // many input channels, few output ones
    expect_strided_schedule(with_kind(forward, Kind::Conv2DBackwardData));
    expect_backward_data_matches_reference(forward);
  }
}

// A pair (pair_out_c): two strided 1x1 convolutions reading one input, the
// sum of their data gradients. CPU targets only (the lowering pairs none for
// GPU ones).
TEST(Conv2DBackwardDataKernel, Strided1x1PairMatchesReference) {
  if (schedule_target().has_gpu_feature()) GTEST_SKIP() << "pairs have CPU schedules only";
  std::vector<KernelSpec> specs = strided_1x1_specs();
  specs.push_back(window_spec(Kind::Conv2D, 7, 9, 16, 5, 1, 1, 2, 2, false));   // 5 channels
  specs.push_back(window_spec(Kind::Conv2D, 7, 9, 16, 12, 1, 1, 2, 2, false));  // 8-lane vectors
  for (KernelSpec forward : specs) {
    std::swap(forward.in_c, forward.out_c);
    KernelSpec first = with_kind(forward, Kind::Conv2DBackwardData), second = first;
    second.out_c = first.out_c + 8;
    first.pair_out_c = second.out_c;
    SCOPED_TRACE(first.key());
    expect_strided_schedule(first);
    JitKernel k(first);
    for (int64_t batch : {1, 3, 9}) {
      const Vec d1 = random_vec(out_size(first, batch), 4),
                d2 = random_vec(out_size(second, batch), 5);
      const Vec w1 = random_vec(first.in_c * first.out_c, 6),
                w2 = random_vec(second.in_c * second.out_c, 7);
      const Vec got =
          k.run({to_buffer(d1, image_sizes(first.out_c, first.out_w, first.out_h, batch)),
                 to_buffer(w1, weight_sizes(first)),
                 to_buffer(d2, image_sizes(second.out_c, second.out_w, second.out_h, batch)),
                 to_buffer(w2, weight_sizes(second))},
                {image_sizes(first.in_c, first.in_w, first.in_h, batch)})[0];
      Vec want = reference::conv2d_backward_data(first, batch, d1, w1);
      const Vec want2 = reference::conv2d_backward_data(second, batch, d2, w2);
      for (size_t i = 0; i < want.size(); ++i) want[i] += want2[i];
      EXPECT_LE(relative_error(got, want), kTolerance) << "batch " << batch;
    }
  }
  // Only strided 1x1 convolutions pair.
  KernelSpec s = with_kind(conv_specs()[0], Kind::Conv2DBackwardData);
  s.pair_out_c = 8;
  EXPECT_THROW(kernels::build_kernel(s, schedule_target()), std::invalid_argument);
}

void expect_backward_filter_matches_reference(const KernelSpec& forward) {
  const KernelSpec s = with_kind(forward, Kind::Conv2DBackwardFilter);
  SCOPED_TRACE(s.key());
  JitKernel k(s);
  // 9 images: parallel tasks of 2, the last one short.
  for (int64_t batch : {1, 3, 9}) {
    const Vec input = random_vec(in_size(s, batch), 6);
    const Vec d_output = random_vec(out_size(s, batch), 7);
    std::vector<std::vector<int>> out_sizes = {weight_sizes(s)};
    if (s.use_bias) out_sizes.push_back({static_cast<int>(s.out_c)});
    const std::vector<Vec> got =
        k.run({to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch)),
               to_buffer(d_output, image_sizes(s.out_c, s.out_w, s.out_h, batch))},
              out_sizes);
    Vec d_weights, d_bias;
    reference::conv2d_backward_filter(s, batch, input, d_output, &d_weights, &d_bias);
    EXPECT_LE(relative_error(got[0], d_weights), kTolerance) << "batch " << batch;
    if (s.use_bias) {
      EXPECT_LE(relative_error(got[1], d_bias), kTolerance) << "batch " << batch;
    }
  }
}

TEST(Conv2DBackwardFilterKernel, MatchesReference) {
  std::vector<KernelSpec> specs = conv_specs();
  // LeNet's conv3: 120 output channels, rounded up to 128 for 16-lane vectors.
  specs.push_back(window_spec(Kind::Conv2D, 7, 7, 16, 120, 5, 5, 1, 1, true));
  specs.back().use_bias = true;
  // LeNet's conv1: one input channel, few output channels: columns as vectors.
  specs.push_back(window_spec(Kind::Conv2D, 28, 28, 1, 6, 5, 5, 1, 1, true));
  specs.back().use_bias = true;
  // Columns as vectors with a ragged last vector (19 columns), two input
  // channels, 'valid' (no padding needed) and without a bias.
  specs.push_back(window_spec(Kind::Conv2D, 13, 21, 2, 5, 3, 3, 1, 1, false));
  for (const KernelSpec& forward : specs) expect_backward_filter_matches_reference(forward);
}

// Strided 1x1s (conv_strided_1x1.cpp; 24 and 72 output channels: 8-lane
// vectors), with and without a bias.
TEST(Conv2DBackwardFilterKernel, Strided1x1MatchesReference) {
  for (const KernelSpec& forward : strided_1x1_specs()) {
    expect_strided_schedule(with_kind(forward, Kind::Conv2DBackwardFilter));
    expect_backward_filter_matches_reference(forward);
  }
}

// Every convolution of the training benchmarks (LeNet-5, resnet_mini), the
// three kernels each, at their shapes; and rows of 10 columns, which few
// output channels round up to 16-column vectors.
TEST(Conv2DKernel, TrainingShapesMatchReference) {
  std::vector<KernelSpec> specs = {
      window_spec(Kind::Conv2D, 28, 28, 1, 6, 5, 5, 1, 1, true),      // LeNet conv1
      window_spec(Kind::Conv2D, 14, 14, 6, 16, 5, 5, 1, 1, true),     // LeNet conv2
      window_spec(Kind::Conv2D, 7, 7, 16, 120, 5, 5, 1, 1, true),     // LeNet conv3
      window_spec(Kind::Conv2D, 28, 28, 1, 32, 3, 3, 1, 1, true),     // resnet_mini conv1
      window_spec(Kind::Conv2D, 28, 28, 16, 16, 3, 3, 1, 1, true),    // conv2_block*/conv2
      window_spec(Kind::Conv2D, 28, 28, 64, 32, 1, 1, 2, 2, true),    // conv3_block1/conv1
      window_spec(Kind::Conv2D, 28, 28, 64, 128, 1, 1, 2, 2, true),   // conv3_block1/shortcut
      window_spec(Kind::Conv2D, 14, 14, 32, 32, 3, 3, 1, 1, true),    // conv3_block*/conv2
      window_spec(Kind::Conv2D, 14, 14, 128, 64, 1, 1, 2, 2, true),   // conv4_block1/conv1
      window_spec(Kind::Conv2D, 14, 14, 128, 256, 1, 1, 2, 2, true),  // conv4_block1/shortcut
      window_spec(Kind::Conv2D, 7, 7, 64, 64, 3, 3, 1, 1, true),      // conv4_block*/conv2
      window_spec(Kind::Conv2D, 11, 10, 3, 4, 3, 3, 1, 1, true),
  };
  for (size_t i = 0; i < specs.size(); ++i) {
    specs[i].use_bias = i < 3;  // LeNet's have biases, resnet_mini's batch norms
    specs[i].act = i < 3 ? Act::Tanh : Act::Linear;
    expect_conv_matches_reference(specs[i]);
    expect_backward_data_matches_reference(specs[i]);
    expect_backward_filter_matches_reference(specs[i]);
  }
}

}  // namespace
}  // namespace cnnc::testing
