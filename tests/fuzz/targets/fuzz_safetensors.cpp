// libFuzzer target: the safetensors reader and the checkpoint checksum check.
// A file the reader accepts must be internally consistent: every tensor lies
// inside the data section and its byte size matches its shape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/checkpoint.h"
#include "runtime/src/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<char> bytes(data, data + size);
  try {
    cnnc::detail::SafetensorsFile file = cnnc::detail::parse_safetensors("fuzz.safetensors", bytes);
    const size_t data_size = file.bytes.size() - file.data_start();
    std::vector<float> buffer;
    for (const auto& [name, tensor] : file.tensors) {
      uint64_t floats = 1;
      for (int64_t d : tensor.shape) floats *= static_cast<uint64_t>(d);
      if (tensor.end > data_size || tensor.begin > tensor.end || floats != tensor.count()) {
        std::abort();
      }
      buffer.resize(tensor.count());
      file.copy_tensor(name, buffer.data());
    }
    if (cnnc::detail::is_checkpoint(file)) cnnc::detail::verify_checkpoint_checksum(file);
  } catch (const cnnc::Error&) {
  }
  return 0;
}
