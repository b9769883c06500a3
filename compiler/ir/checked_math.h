// Overflow-safe integer arithmetic for sizes that come from user input.
#pragma once

#include <cstdint>
#include <limits>

namespace cnnc::ir {

// Largest tensor (in elements) the compiler accepts: 2^40.
constexpr int64_t kMaxTensorElements = int64_t{1} << 40;

// a * b, or false when it does not fit in int64_t.
inline bool checked_mul(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool checked_add(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// a * b clamped to INT64_MAX (for statistics such as MAC counts of huge models).
inline int64_t saturating_mul(int64_t a, int64_t b) {
  int64_t r;
  return checked_mul(a, b, &r) ? r : std::numeric_limits<int64_t>::max();
}
inline int64_t saturating_add(int64_t a, int64_t b) {
  int64_t r;
  return checked_add(a, b, &r) ? r : std::numeric_limits<int64_t>::max();
}

}  // namespace cnnc::ir
