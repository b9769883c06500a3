// Dense, DenseBackwardData and DenseBackwardWeights against the reference.
#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-5;

std::vector<int> flat(int64_t k, int64_t rows) {
  return {static_cast<int>(k), static_cast<int>(rows)};
}

// The relative error of a Dense kernel on `rows` rows of random data.
double dense_error(JitKernel& k, const KernelSpec& s, int64_t rows) {
  const Vec input = random_vec(rows * s.in_c, 1);
  const Vec weights = random_vec(s.in_c * s.out_c, 2);
  const Vec bias = s.use_bias ? random_vec(s.out_c, 3) : Vec();
  std::vector<Halide::Buffer<>> inputs = {to_buffer(input, flat(s.in_c, rows)),
                                          to_buffer(weights, flat(s.out_c, s.in_c))};
  if (s.use_bias) inputs.push_back(to_buffer(bias, {static_cast<int>(s.out_c)}));
  const Vec got = k.run(inputs, {flat(s.out_c, rows)})[0];
  return relative_error(got, reference::dense(s, rows, input, weights, bias));
}

void expect_dense_matches_reference(const KernelSpec& s) {
  SCOPED_TRACE(s.key());
  JitKernel k(s);
  for (int64_t rows : {1, 3, 7}) EXPECT_LE(dense_error(k, s, rows), kTolerance) << "rows " << rows;
}

TEST(DenseKernel, MatchesReference) {
  for (const KernelSpec& s : dense_specs()) expect_dense_matches_reference(s);
}

// The schedules `cnnc tune` may choose: register tiles of rows (more rows
// than some batches have) and the Adams2019 autoscheduler.
TEST(DenseKernel, TunedSchedulesMatchReference) {
  int tuned = 0;
  for (KernelSpec s : dense_specs()) {
    if (s.out_c < 8) continue;
    for (const auto& [vectors, rows] : std::vector<std::pair<int, int>>{{1, 4}, {3, 12}}) {
      s.schedule = {};
      s.schedule.tile_vectors = vectors;
      s.schedule.tile_columns = rows;
      expect_dense_matches_reference(s);
    }
    ++tuned;
    if (s.out_c < 16) continue;  // the autoscheduler's vectors need 16 outputs (conv test)
    s.schedule = {};
    s.schedule.algorithm = "autoschedule";
    s.schedule.estimate_batch = 1;  // as cnnc tune plans: valid for every batch
    expect_dense_matches_reference(s);
  }
  EXPECT_GT(tuned, 0);
}

// A 1x1 convolution as a matrix product: every call has a multiple of the
// rows of one image, and the weights of each output tile are copied first.
TEST(DenseKernel, PixelRowsMatchReference) {
  for (int64_t out_c : {64, 40, 130}) {
    KernelSpec s = dense_spec(Kind::Dense, 37, out_c, Act::Relu, true);
    s.rows_per_image = 7;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t rows : {7, 14, 49}) {
      EXPECT_LE(dense_error(k, s, rows), kTolerance) << "rows " << rows;
    }
  }
}

// A classifier with a long reduction (LeNet-5's fc1: 5880 inputs), summed in
// fixed chunks: GEMV rows, row tiles with a tail and a whole batch; an in_c of
// other chunks (4100: 5 of 820) and one that no chunk count divides (4099).
// Float rounding grows with the reduction's length (the unchunked sum of
// 4099 is off by about 3e-5 too), so a wider tolerance than kTolerance.
TEST(DenseKernel, LongReductionMatchesReference) {
  constexpr double kLongTolerance = 1e-4;
  for (const auto& [in_c, out_c] :
       std::vector<std::pair<int64_t, int64_t>>{{5880, 84}, {4100, 40}, {4099, 24}}) {
    const KernelSpec s = dense_spec(Kind::Dense, in_c, out_c, Act::Linear, true);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    SCOPED_TRACE(k.kernel().schedule);
    for (int64_t rows : {1, 5, 13, 32}) {
      EXPECT_LE(dense_error(k, s, rows), kLongTolerance) << "rows " << rows;
    }
  }
}

// Runs a Dense kernel with a residual (and bias if the spec has one) on `rows`
// rows whose input, residual and output are channel slices of wider tensors
// (the spec's pixel strides), against the reference; nothing outside the
// output's channels may be written.
void expect_slices_match_reference(JitKernel& k, const KernelSpec& s, int64_t rows) {
  const Vec input = random_vec(rows * s.in_c, 21);
  const Vec weights = random_vec(s.in_c * s.out_c, 22);
  const Vec bias = s.use_bias ? random_vec(s.out_c, 23) : Vec();
  const Vec residual = random_vec(rows * s.out_c, 24);
  std::vector<Halide::Buffer<>> inputs = {
      channel_slice_buffer(input, flat(s.in_c, rows), static_cast<int>(s.in_pixel_stride), 4),
      to_buffer(weights, flat(s.out_c, s.in_c))};
  if (s.use_bias) inputs.push_back(to_buffer(bias, {static_cast<int>(s.out_c)}));
  inputs.push_back(channel_slice_buffer(residual, flat(s.out_c, rows),
                                        static_cast<int>(s.residual_pixel_stride), 2));
  const int stride = static_cast<int>(s.out_pixel_stride);
  std::vector<Halide::Buffer<>> outputs = {
      channel_slice_buffer(Vec(rows * s.out_c), flat(s.out_c, rows), stride, 1)};
  k.run_into(inputs, outputs);
  bool untouched = false;
  const Vec got = from_channel_slice(Halide::Buffer<float>(outputs[0]), stride, 1, &untouched);
  const Vec want = reference::dense(s, rows, input, weights, bias, residual);
  EXPECT_LE(relative_error(got, want), kTolerance) << "rows " << rows;
  EXPECT_TRUE(untouched) << "rows " << rows << ": wrote outside its channels";
}

// A 1x1 convolution with a fused residual, run as a matrix product over
// pixels whose input, residual and output rows are channel slices of wider
// tensors.
TEST(DenseKernel, ResidualAndChannelSlices) {
  for (KernelSpec s : dense_specs()) {
    s.residual = true;
    s.in_pixel_stride = s.in_c + 5;
    s.out_pixel_stride = s.out_c + 1;
    s.residual_pixel_stride = s.out_c + 2;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t rows : {1, 3, 7}) expect_slices_match_reference(k, s, rows);
  }
}

// Each schedule path of a 1x1 convolution over pixels, against the reference
// with a fused residual and channel slices: a large image (over 256 pixels)
// in blocks of exact row tiles, expanding (each block runs every o tile) or
// not (blocks per o tile); small images whole, the last row tile shifted;
// a tuned tile whose rows do not divide the image; one vector of o by rows
// of 64 or more inputs, the input copied per few row tiles (resnet_mini's 64
// -> 16 at 28x28; a last copy of fewer tiles); one image and several.
TEST(DenseKernel, PixelScheduleMatchesReference) {
  struct Case {
    int64_t in_c, out_c, image;
    int tile_vectors, tile_rows;  // 0: the default tile
  };
  const Case cases[] = {{24, 40, 300, 0, 0},  {37, 130, 300, 0, 0}, {70, 20, 300, 0, 0},
                        {64, 96, 49, 0, 0},   {50, 33, 196, 0, 0},  {24, 40, 300, 3, 11},
                        {70, 20, 300, 1, 13}, {64, 96, 49, 2, 5},   {64, 16, 784, 0, 0},
                        {96, 16, 300, 1, 7}};
  for (const Case& c : cases) {
    KernelSpec s = dense_spec(Kind::Dense, c.in_c, c.out_c, Act::Relu, true);
    s.rows_per_image = c.image;
    s.residual = true;
    s.in_pixel_stride = s.in_c + 3;
    s.out_pixel_stride = s.out_c + 1;
    s.residual_pixel_stride = s.out_c + 2;
    s.schedule.tile_vectors = c.tile_vectors;
    s.schedule.tile_columns = c.tile_rows;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    SCOPED_TRACE(k.kernel().schedule);
    for (int64_t rows : {c.image, 3 * c.image}) expect_slices_match_reference(k, s, rows);
  }
}

// The relative error of a DenseBackwardData kernel on `rows` rows of random data.
double backward_data_error(JitKernel& k, const KernelSpec& s, int64_t rows) {
  const Vec d_output = random_vec(rows * s.out_c, 4);
  const Vec weights = random_vec(s.in_c * s.out_c, 5);
  const Vec got =
      k.run({to_buffer(d_output, flat(s.out_c, rows)), to_buffer(weights, flat(s.out_c, s.in_c))},
            {flat(s.in_c, rows)})[0];
  return relative_error(got, reference::dense_backward_data(s, rows, d_output, weights));
}

TEST(DenseBackwardDataKernel, MatchesReference) {
  for (const KernelSpec& forward : dense_specs()) {
    const KernelSpec s = with_kind(forward, Kind::DenseBackwardData);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t rows : {1, 3}) {
      EXPECT_LE(backward_data_error(k, s, rows), kTolerance);
    }
  }
}

// A 1x1 convolution's data gradient, run as the forward's pixel GEMM: the
// shapes of resnet_mini (28x28, 14x14 and 7x7 images; in and out of 16 to
// 64 channels) and odd ones (tails of channel vectors and row tiles), on one
// image and several.
TEST(DenseBackwardDataKernel, PixelRowsMatchReference) {
  struct Case {
    int64_t in_c, out_c, rows_per_image;
  };
  for (const Case& c : std::vector<Case>{{32, 16, 784},
                                         {64, 16, 784},
                                         {16, 64, 784},
                                         {32, 64, 784},
                                         {64, 32, 196},
                                         {32, 128, 49},
                                         {37, 20, 300},
                                         {130, 24, 7},
                                         {20, 70, 300}}) {
    KernelSpec s = dense_spec(Kind::DenseBackwardData, c.in_c, c.out_c, Act::Linear, false);
    s.rows_per_image = c.rows_per_image;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    SCOPED_TRACE(k.kernel().schedule);
    for (int64_t images : {1, 3}) {
      const int64_t rows = images * s.rows_per_image;
      EXPECT_LE(backward_data_error(k, s, rows), kTolerance) << images << " images";
    }
  }
}

// A gradient summed into the data gradient (residual): d_input = d_residual
// + the product, into a buffer of its own and in place (d_input aliasing
// d_residual: a tile computed twice would add the product twice). The pixel
// GEMM with tiles that divide the channels and the image (resnet_mini's
// 32-channel sum at 28x28), channels or images no tile divides (rows in
// parallel blocks instead), a classifier's rows; one image and several.
TEST(DenseBackwardDataKernel, ResidualInPlaceMatchesReference) {
  struct Case {
    int64_t in_c, out_c, rows_per_image;
  };
  for (const Case& c :
       std::vector<Case>{{32, 16, 784}, {32, 64, 49}, {20, 70, 300}, {48, 24, 13}, {37, 10, 1}}) {
    KernelSpec s = dense_spec(Kind::DenseBackwardData, c.in_c, c.out_c, Act::Linear, false);
    s.rows_per_image = c.rows_per_image;
    s.residual = true;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    SCOPED_TRACE(k.kernel().schedule);
    for (int64_t images : {1, 3}) {
      for (bool in_place : {false, true}) {
        SCOPED_TRACE(::testing::Message() << images << " images, in place " << in_place);
        const int64_t rows = images * s.rows_per_image;
        const Vec d_output = random_vec(rows * s.out_c, 4);
        const Vec weights = random_vec(s.in_c * s.out_c, 5);
        const Vec d_residual = random_vec(rows * s.in_c, 6);
        Halide::Buffer<float> residual = to_buffer(d_residual, flat(s.in_c, rows));
        std::vector<Halide::Buffer<>> outputs = {
            in_place ? residual : Halide::Buffer<float>(flat(s.in_c, rows))};
        k.run_into({to_buffer(d_output, flat(s.out_c, rows)),
                    to_buffer(weights, flat(s.out_c, s.in_c)), residual},
                   outputs);
        Vec want = reference::dense_backward_data(s, rows, d_output, weights);
        for (size_t e = 0; e < want.size(); ++e) want[e] += d_residual[e];
        EXPECT_LE(relative_error(from_buffer(Halide::Buffer<float>(outputs[0])), want), kTolerance);
      }
    }
  }
}

TEST(DenseBackwardWeightsKernel, MatchesReference) {
  for (const KernelSpec& forward : dense_specs()) {
    const KernelSpec s = with_kind(forward, Kind::DenseBackwardWeights);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t rows : {1, 3}) {
      const Vec input = random_vec(rows * s.in_c, 6);
      const Vec d_output = random_vec(rows * s.out_c, 7);
      std::vector<std::vector<int>> out_sizes = {flat(s.out_c, s.in_c)};
      if (s.use_bias) out_sizes.push_back({static_cast<int>(s.out_c)});
      const std::vector<Vec> got =
          k.run({to_buffer(input, flat(s.in_c, rows)), to_buffer(d_output, flat(s.out_c, rows))},
                out_sizes);
      Vec d_weights, d_bias;
      reference::dense_backward_weights(s, rows, input, d_output, &d_weights, &d_bias);
      EXPECT_LE(relative_error(got[0], d_weights), kTolerance);
      if (s.use_bias) {
        EXPECT_LE(relative_error(got[1], d_bias), kTolerance);
      }
    }
  }
}

// LeNet-5's fc1 (5880 -> 84) at batch 32 and a few rows: both gradients.
TEST(DenseBackwardKernels, ClassifierMatchesReference) {
  const KernelSpec forward = dense_spec(Kind::Dense, 5880, 84, Act::Tanh, true);
  const KernelSpec sw = with_kind(forward, Kind::DenseBackwardWeights);
  const KernelSpec sd = with_kind(forward, Kind::DenseBackwardData);
  JitKernel weights_kernel(sw), data_kernel(sd);
  for (int64_t rows : {3, 32}) {
    SCOPED_TRACE(rows);
    const Vec input = random_vec(rows * sw.in_c, 6);
    const Vec d_output = random_vec(rows * sw.out_c, 7);
    const Vec weights = random_vec(sw.in_c * sw.out_c, 5);
    const std::vector<Vec> got = weights_kernel.run(
        {to_buffer(input, flat(sw.in_c, rows)), to_buffer(d_output, flat(sw.out_c, rows))},
        {flat(sw.out_c, sw.in_c), {static_cast<int>(sw.out_c)}});
    Vec d_weights, d_bias;
    reference::dense_backward_weights(sw, rows, input, d_output, &d_weights, &d_bias);
    EXPECT_LE(relative_error(got[0], d_weights), kTolerance) << weights_kernel.kernel().schedule;
    EXPECT_LE(relative_error(got[1], d_bias), kTolerance);
    const Vec d_input = data_kernel.run(
        {to_buffer(d_output, flat(sd.out_c, rows)), to_buffer(weights, flat(sd.out_c, sd.in_c))},
        {flat(sd.in_c, rows)})[0];
    EXPECT_LE(relative_error(d_input, reference::dense_backward_data(sd, rows, d_output, weights)),
              kTolerance)
        << data_kernel.kernel().schedule;
  }
}

// A 1x1 convolution's weight gradient: rows in chunks of one image's rows
// (a divisor of them up to 64), tasks of whole chunks (the last one short),
// out_c that fills 1 to 4 vectors a tile, the bias as one more input column,
// i tiles padded with zero columns (with and without a bias); resnet_mini's
// 28x28 shapes.
TEST(DenseBackwardWeightsKernel, PixelRowsMatchReference) {
  struct Case {
    int64_t in_c, out_c, rows_per_image;
    bool bias;
  };
  for (const Case& c : std::vector<Case>{{37, 64, 7, true},
                                         {16, 24, 100, false},
                                         {3, 40, 49, true},
                                         {64, 16, 196, true},
                                         {16, 64, 784, true},
                                         {64, 16, 784, true},
                                         {32, 64, 784, true},
                                         {32, 16, 784, true},
                                         {31, 64, 28, false}}) {
    KernelSpec s = dense_spec(Kind::DenseBackwardWeights, c.in_c, c.out_c, Act::Linear, c.bias);
    s.rows_per_image = c.rows_per_image;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    SCOPED_TRACE(k.kernel().schedule);
    for (int64_t images : {1, 2, 9}) {
      const int64_t rows = images * s.rows_per_image;
      const Vec input = random_vec(rows * s.in_c, 8);
      const Vec d_output = random_vec(rows * s.out_c, 9);
      std::vector<std::vector<int>> out_sizes = {flat(s.out_c, s.in_c)};
      if (s.use_bias) out_sizes.push_back({static_cast<int>(s.out_c)});
      const std::vector<Vec> got =
          k.run({to_buffer(input, flat(s.in_c, rows)), to_buffer(d_output, flat(s.out_c, rows))},
                out_sizes);
      Vec d_weights, d_bias;
      reference::dense_backward_weights(s, rows, input, d_output, &d_weights, &d_bias);
      EXPECT_LE(relative_error(got[0], d_weights), kTolerance) << images << " images";
      if (s.use_bias) {
        EXPECT_LE(relative_error(got[1], d_bias), kTolerance) << images << " images";
      }
    }
  }
}

}  // namespace
}  // namespace cnnc::testing
