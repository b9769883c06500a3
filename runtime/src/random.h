// The runtime's own deterministic PRNG (internal): splitmix64 streams, so that
// results never depend on the standard library's distributions.
#pragma once

#include <cmath>
#include <cstdint>

namespace cnnc::detail {

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Stream purposes, so that e.g. the shuffle of epoch 3 and the augmentation
// of batch 3 never share numbers.
enum class Stream : uint64_t { Init = 1, Shuffle = 2, Augment = 3, Dropout = 4 };

class Rng {
 public:
  // An independent stream for (seed, purpose, index).
  Rng(uint64_t seed, Stream purpose, uint64_t index)
      : state_(mix64(mix64(seed ^ 0x6a09e667f3bcc909ull) ^
                     mix64((static_cast<uint64_t>(purpose) << 56) ^ index))) {}

  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ull;
    return mix64(state_);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, bound), bound > 0, without modulo bias.
  uint64_t below(uint64_t bound) {
    uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % bound);
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % bound;
  }
  // Standard normal (Box-Muller; one value per call, for simplicity).
  double normal() {
    double u1 = 1.0 - uniform();  // (0, 1]
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Standard normal truncated to [-2, 2] by resampling (Keras's truncated_normal).
  double truncated_normal() {
    double z;
    do z = normal();
    while (std::fabs(z) > 2.0);
    return z;
  }

 private:
  uint64_t state_;
};

}  // namespace cnnc::detail
