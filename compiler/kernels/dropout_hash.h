// The dropout mask, defined once for the Halide kernels (U32 = Halide::Expr of
// type UInt(32)) and every C++ implementation (U32 = uint32_t): nothing is
// stored, the backward pass recomputes the forward's mask from the same
// scalars. Every operation wraps modulo 2^32.
//
//   mix(h)      = murmur3's fmix32: h ^= h >> 16; h *= 0x85ebca6b;
//                 h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16
//   stream      = mix(mix(mix(mix(seed_lo ^ 0x9e3779b1) ^ seed_hi) ^ step_lo) ^ step_hi)
//                 (lo/hi: the low and high 32 bits of the uint64 seed and step)
//   row         = mix(stream ^ (image * 0x27d4eb2f))   image: index along n
//   bits        = mix(row ^ (element * 0x165667b1))    element: index in [0, elems),
//                 for images (h * W + w) * C + c
//   keep        = (bits >> 8) < threshold,  threshold = llround((1 - rate) * 2^24)
//   kept values are scaled by 1 / (1 - rate); dropped ones are 0.
// Each step is a bijection of its varying input, so distinct (image, element)
// pairs of one call never share bits by construction of the hash inputs.
#pragma once

#include <cmath>
#include <cstdint>

namespace cnnc::kernels {

inline constexpr uint32_t kDropoutMixMul1 = 0x85ebca6bu;
inline constexpr uint32_t kDropoutMixMul2 = 0xc2b2ae35u;
inline constexpr uint32_t kDropoutSeedSalt = 0x9e3779b1u;
inline constexpr uint32_t kDropoutImageMul = 0x27d4eb2fu;
inline constexpr uint32_t kDropoutElementMul = 0x165667b1u;
inline constexpr int kDropoutThresholdBits = 24;

template <typename U32>
U32 dropout_mix(U32 h) {
  h = h ^ (h >> U32(uint32_t{16}));
  h = h * U32(kDropoutMixMul1);
  h = h ^ (h >> U32(uint32_t{13}));
  h = h * U32(kDropoutMixMul2);
  return h ^ (h >> U32(uint32_t{16}));
}

template <typename U32>
U32 dropout_stream(U32 seed_lo, U32 seed_hi, U32 step_lo, U32 step_hi) {
  U32 h = dropout_mix(U32(seed_lo ^ U32(kDropoutSeedSalt)));
  h = dropout_mix(U32(h ^ seed_hi));
  h = dropout_mix(U32(h ^ step_lo));
  return dropout_mix(U32(h ^ step_hi));
}

template <typename U32>
U32 dropout_row(U32 stream, U32 image) {
  return dropout_mix(U32(stream ^ (image * U32(kDropoutImageMul))));
}

template <typename U32>
U32 dropout_bits(U32 row, U32 element) {
  return dropout_mix(U32(row ^ (element * U32(kDropoutElementMul))));
}

// Elements whose bits >> 8 fall below this are kept.
inline uint32_t dropout_keep_threshold(double rate) {
  return static_cast<uint32_t>(std::llround((1.0 - rate) * (1 << kDropoutThresholdBits)));
}

// The plain C++ form: whether element `element` of image `image` is kept.
inline bool dropout_keeps(uint64_t seed, uint64_t step, uint32_t image, uint32_t element,
                          double rate) {
  const uint32_t stream =
      dropout_stream<uint32_t>(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                               static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32));
  const uint32_t bits = dropout_bits(dropout_row(stream, image), element);
  return (bits >> (32 - kDropoutThresholdBits)) < dropout_keep_threshold(rate);
}

}  // namespace cnnc::kernels
