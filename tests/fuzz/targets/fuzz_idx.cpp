// libFuzzer target: the data set readers (IDX, and .npy told apart by
// content) for images and labels. Accepted images hold n * h * w * c floats.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/datasets.h"

namespace {

void check_images(const cnnc::Dataset& d) {
  uint64_t floats = 1;
  for (int64_t dim : {d.n, d.h, d.w, d.c}) {
    if (dim < 0 || __builtin_mul_overflow(floats, static_cast<uint64_t>(dim), &floats)) {
      std::abort();
    }
  }
  if (d.images.size() != floats) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<char> bytes(data, data + size);
  try {
    check_images(cnnc::detail::parse_images("fuzz-images", bytes));
  } catch (const cnnc::Error&) {
  }
  try {
    cnnc::detail::parse_labels("fuzz-labels", bytes);
  } catch (const cnnc::Error&) {
  }
  return 0;
}
