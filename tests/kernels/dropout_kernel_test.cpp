// Dropout and DropoutBackward against the reference (the same mask bit for
// bit), the keep rate, forward/backward agreement, in-place use, and the
// hash's values pinned so that other implementations can check theirs.
#include "compiler/kernels/dropout_hash.h"
#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-6;
constexpr uint64_t kSeed = 0x123456789abcdef0ull;

KernelSpec dropout_spec(Kind kind, int64_t h, int64_t w, int64_t c, double rate) {
  KernelSpec s;
  s.kind = kind;
  s.in_h = s.out_h = h, s.in_w = s.out_w = w, s.in_c = s.out_c = c, s.rate = rate;
  return s;
}

int64_t elems_of(const KernelSpec& s) { return s.in_h * s.in_w * s.in_c; }

// Inputs that are never zero, so that zeros in the output are the mask's.
Vec nonzero_vec(int64_t size, uint32_t seed) {
  Vec v = random_vec(size, seed);
  for (double& x : v) x = x >= 0 ? x + 0.5 : x - 0.5;
  return v;
}

Vec run_dropout(JitKernel& k, const Vec& input, int64_t elems, int64_t batch, uint64_t seed,
                uint64_t step) {
  k.kernel().u64_scalars.at("seed").set(seed);
  k.kernel().u64_scalars.at("step").set(step);
  const std::vector<int> sizes = {static_cast<int>(elems), static_cast<int>(batch)};
  return k.run({to_buffer(input, sizes)}, {sizes})[0];
}

TEST(DropoutKernel, MatchesReferenceMaskBitForBit) {
  // 105 elements (at batch 100 two tasks of whole images, the second short),
  // blocks of an image with a vector tail, a flat one.
  for (const KernelSpec& s :
       {dropout_spec(Kind::Dropout, 5, 7, 3, 0.5), dropout_spec(Kind::Dropout, 27, 27, 29, 0.3),
        dropout_spec(Kind::Dropout, 1, 1, 13, 0.1)}) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    const int64_t elems = elems_of(s);
    for (int64_t batch : {1, 3, 100}) {
      for (uint64_t step : {uint64_t{0}, uint64_t{7}, uint64_t{1} << 40}) {
        const Vec input = nonzero_vec(elems * batch, 1);
        const Vec got = run_dropout(k, input, elems, batch, kSeed, step);
        const Vec want = reference::dropout(elems, batch, kSeed, step, s.rate, input);
        ASSERT_EQ(got.size(), want.size());
        int64_t mask_mismatches = 0;
        for (size_t i = 0; i < got.size(); ++i) mask_mismatches += (got[i] == 0) != (want[i] == 0);
        EXPECT_EQ(mask_mismatches, 0) << "batch " << batch << " step " << step;
        EXPECT_LE(relative_error(got, want), kTolerance);
      }
    }
  }
}

// About 1 - rate of the elements survive, and another step draws another mask.
TEST(DropoutKernel, KeepRateIsOneMinusRate) {
  for (double rate : {0.3, 0.5, 0.9}) {
    const KernelSpec s = dropout_spec(Kind::Dropout, 27, 27, 13, rate);
    JitKernel k(s);
    const int64_t elems = elems_of(s), batch = 4, total = elems * batch;
    const Vec input(total, 1.0);
    const Vec a = run_dropout(k, input, elems, batch, kSeed, 1);
    const Vec b = run_dropout(k, input, elems, batch, kSeed, 2);
    int64_t kept = 0, same = 0;
    for (int64_t i = 0; i < total; ++i) {
      kept += a[i] != 0;
      same += (a[i] != 0) == (b[i] != 0);
      if (a[i] != 0) {
        EXPECT_FLOAT_EQ(a[i], 1.0 / (1.0 - rate));
      }
    }
    // 5 standard deviations of a binomial count.
    const double keep = 1.0 - rate, sigma = std::sqrt(keep * rate / total);
    EXPECT_NEAR(static_cast<double>(kept) / total, keep, 5 * sigma) << "rate " << rate;
    const double agree = keep * keep + rate * rate;  // independent masks
    EXPECT_NEAR(static_cast<double>(same) / total, agree,
                5 * std::sqrt(agree * (1 - agree) / total));
  }
}

// The backward pass recomputes the forward's mask from (seed, step).
TEST(DropoutBackwardKernel, UsesTheForwardMask) {
  const KernelSpec forward = dropout_spec(Kind::Dropout, 5, 7, 13, 0.4);
  const KernelSpec backward = with_kind(forward, Kind::DropoutBackward);
  JitKernel f(forward), b(backward);
  const int64_t elems = elems_of(forward), batch = 3;
  const Vec input = nonzero_vec(elems * batch, 2), d_output = nonzero_vec(elems * batch, 3);
  const Vec y = run_dropout(f, input, elems, batch, kSeed, 11);
  const Vec dx = run_dropout(b, d_output, elems, batch, kSeed, 11);
  const Vec mask = reference::dropout_mask(elems, batch, kSeed, 11, forward.rate);
  for (int64_t i = 0; i < elems * batch; ++i) {
    EXPECT_EQ(y[i] == 0, dx[i] == 0) << i;
    EXPECT_NEAR(dx[i], d_output[i] * mask[i], 1e-6) << i;
  }
}

TEST(DropoutKernel, InPlace) {
  const KernelSpec s = dropout_spec(Kind::Dropout, 27, 27, 13, 0.5);
  JitKernel k(s);
  const int64_t elems = elems_of(s), batch = 3;
  const Vec input = nonzero_vec(elems * batch, 4);
  k.kernel().u64_scalars.at("seed").set(kSeed);
  k.kernel().u64_scalars.at("step").set(uint64_t{5});
  Halide::Buffer<float> buffer =
      to_buffer(input, {static_cast<int>(elems), static_cast<int>(batch)});
  std::vector<Halide::Buffer<>> outputs = {buffer};
  k.run_into({buffer}, outputs);
  EXPECT_LE(relative_error(from_buffer(buffer),
                           reference::dropout(elems, batch, kSeed, 5, s.rate, input)),
            kTolerance);
}

// Values of dropout_hash.h's definition: a change breaks this test on purpose.
TEST(DropoutHash, PinnedValues) {
  using namespace kernels;
  EXPECT_EQ(dropout_mix<uint32_t>(0u), 0u);
  EXPECT_EQ(dropout_mix<uint32_t>(1u), 0x514e28b7u);  // murmur3 fmix32(1)
  const uint32_t stream = dropout_stream<uint32_t>(0x9abcdef0u, 0x12345678u, 7u, 0u);
  EXPECT_EQ(stream, 0x56f1e6bcu);
  const uint32_t row = dropout_row<uint32_t>(stream, 2u);
  EXPECT_EQ(row, 0x3b9fd974u);
  EXPECT_EQ(dropout_bits<uint32_t>(row, 5u), 0x5a23b736u);
  EXPECT_EQ(dropout_keep_threshold(0.0), 1u << 24);
  EXPECT_EQ(dropout_keep_threshold(0.5), 1u << 23);
  std::string keeps;
  for (uint32_t e = 0; e < 16; ++e) keeps += dropout_keeps(kSeed, 7, 2, e, 0.5) ? '1' : '0';
  EXPECT_EQ(keeps, "1101110110011111");
  // rate 0 keeps everything.
  for (uint32_t e = 0; e < 1000; ++e) EXPECT_TRUE(dropout_keeps(kSeed, 3, 1, e, 0.0));
}

TEST(DropoutKernel, KeyHasTheRateAndBadRatesThrow) {
  const KernelSpec a = dropout_spec(Kind::Dropout, 5, 7, 3, 0.5);
  KernelSpec b = a;
  b.rate = 0.25;
  EXPECT_NE(a.key(), b.key());
  b.rate = 1.0;
  EXPECT_THROW(kernels::build_kernel(b, Halide::get_host_target()), std::invalid_argument);
}

}  // namespace
}  // namespace cnnc::testing
