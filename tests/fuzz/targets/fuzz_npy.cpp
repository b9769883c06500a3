// libFuzzer target: the .npy reader. An accepted array holds exactly
// count() elements of its dtype.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<char> bytes(data, data + size);
  try {
    cnnc::detail::NpyArray array = cnnc::detail::parse_npy("fuzz.npy", bytes);
    uint64_t element = array.dtype == "<i8" ? 8 : 4;
    uint64_t expected = element;
    for (int64_t d : array.shape) {
      if (d < 0 || __builtin_mul_overflow(expected, static_cast<uint64_t>(d), &expected)) {
        std::abort();
      }
    }
    if (array.data.size() != expected) std::abort();
  } catch (const cnnc::Error&) {
  }
  return 0;
}
