// ZeroPad(Backward), ChannelCopy and Add against the reference: a channel
// copy into the middle of a larger tensor leaves the other channels alone,
// and Add works in place (a += b).
#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-6;

// zero_pad_specs, and one whose rows (576 floats out, 448 in) make several
// parallel blocks of rows, the last one short.
std::vector<KernelSpec> zero_pad_specs_with_row_blocks() {
  std::vector<KernelSpec> specs = zero_pad_specs();
  specs.push_back(zero_pad_spec(20, 28, 16, 1, 2, 3, 5));
  return specs;
}

TEST(ZeroPadKernel, MatchesReference) {
  for (const KernelSpec& s : zero_pad_specs_with_row_blocks()) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      const Vec input = as_floats(random_vec(in_size(s, batch), 1));
      const Vec got = k.run({to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch))},
                            {image_sizes(s.out_c, s.out_w, s.out_h, batch)})[0];
      // A copy: exact, zeros included.
      EXPECT_EQ(got, reference::zero_pad(s, batch, input));
    }
  }
}

TEST(ZeroPadBackwardKernel, MatchesReference) {
  for (const KernelSpec& forward : zero_pad_specs_with_row_blocks()) {
    const KernelSpec s = with_kind(forward, Kind::ZeroPadBackward);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      const Vec d_output = random_vec(out_size(s, batch), 2);
      const Vec got = k.run({to_buffer(d_output, image_sizes(s.out_c, s.out_w, s.out_h, batch))},
                            {image_sizes(s.in_c, s.in_w, s.in_h, batch)})[0];
      EXPECT_LE(relative_error(got, reference::zero_pad_backward(s, batch, d_output)), kTolerance);
    }
  }
}

KernelSpec channel_copy_spec(int64_t h, int64_t w, int64_t channels, int64_t in_c, int64_t out_c) {
  KernelSpec s;
  s.kind = Kind::ChannelCopy;
  s.in_h = s.out_h = h, s.in_w = s.out_w = w;
  s.channels = channels, s.in_c = in_c, s.out_c = out_c;
  return s;
}

// The window [first, first + count) of channel 0 of a (total, w, h, n)
// buffer, as the generated code passes it: host pointer at the first
// channel, min 0.
Halide::Buffer<float> channel_window(Halide::Buffer<float> whole, int first, int count) {
  Halide::Buffer<float> window(whole.get()->cropped(0, first, count));  // shares memory
  window.translate(0, -first);
  return window;
}

TEST(ChannelCopyKernel, WritesIntoTheMiddleOfALargerTensorOnly) {
  struct Case {
    KernelSpec spec;
    int in_first, out_first;
  };
  const Case cases[] = {
      {channel_copy_spec(5, 3, 5, 7, 13), 1, 4},     // few channels, columns odd
      {channel_copy_spec(3, 9, 16, 24, 40), 8, 20},  // vectorised
      {channel_copy_spec(1, 1, 13, 13, 29), 0, 16},  // flat tensor, the last channels
      {channel_copy_spec(7, 5, 3, 3, 8), 0, 0},      // a whole input, the first channels
      {channel_copy_spec(9, 40, 16, 24, 40), 8, 0},  // rows of 640 floats: blocks of 13 rows
  };
  for (const Case& t : cases) {
    const KernelSpec& s = t.spec;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 3}) {
      const Vec input = as_floats(random_vec(batch * s.in_h * s.in_w * s.in_c, 3));
      // Other channels hold a sentinel that must survive.
      const Vec before(batch * s.in_h * s.in_w * s.out_c, 42.0);
      Halide::Buffer<float> in_whole = to_buffer(input, image_sizes(s.in_c, s.in_w, s.in_h, batch));
      Halide::Buffer<float> out_whole =
          to_buffer(before, image_sizes(s.out_c, s.out_w, s.out_h, batch));
      std::vector<Halide::Buffer<>> outputs = {
          channel_window(out_whole, t.out_first, static_cast<int>(s.channels))};
      k.run_into({channel_window(in_whole, t.in_first, static_cast<int>(s.channels))}, outputs);
      Vec want = before;
      reference::channel_copy(s, batch, input, t.in_first, &want, t.out_first);
      EXPECT_EQ(from_buffer(out_whole), want) << "batch " << batch;
    }
  }
}

TEST(ChannelCopyKernel, RejectsMoreChannelsThanTheTensorsHold) {
  EXPECT_THROW(kernels::build_kernel(channel_copy_spec(3, 3, 9, 8, 16), Halide::get_host_target()),
               std::invalid_argument);
}

KernelSpec add_spec(int64_t h, int64_t w, int64_t c, Act act) {
  KernelSpec s;
  s.kind = Kind::Add;
  s.in_h = s.out_h = h, s.in_w = s.out_w = w, s.in_c = s.out_c = c, s.act = act;
  return s;
}

// Separate and in-place outputs; 105 elements (a vector tail; at batch 100
// two tasks of whole images, the second short), 21141 (two blocks of an image,
// the last with a vector tail), a flat tensor.
TEST(AddKernel, MatchesReferenceInPlaceAndNot) {
  for (const KernelSpec& s : {add_spec(5, 7, 3, Act::Relu), add_spec(27, 27, 29, Act::Linear),
                              add_spec(1, 1, 5, Act::Tanh)}) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    const int64_t elems = s.in_h * s.in_w * s.in_c;
    for (int64_t batch : {1, 3, 100}) {
      for (bool in_place : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "batch " << batch << " in_place " << in_place);
        const Vec a = random_vec(elems * batch, 4), b = random_vec(elems * batch, 5);
        const std::vector<int> sizes = {static_cast<int>(elems), static_cast<int>(batch)};
        Halide::Buffer<float> ab = to_buffer(a, sizes), bb = to_buffer(b, sizes);
        std::vector<Halide::Buffer<>> outputs = {in_place ? ab : Halide::Buffer<float>(sizes)};
        k.run_into({ab, bb}, outputs);
        EXPECT_LE(relative_error(from_buffer(Halide::Buffer<float>(outputs[0])),
                                 reference::add(s.act, a, b)),
                  kTolerance);
      }
    }
  }
}

}  // namespace
}  // namespace cnnc::testing
