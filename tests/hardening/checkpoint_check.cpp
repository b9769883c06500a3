// Checks a checkpoint the way --resume does before it uses it: reads it,
// verifies its checksum, and reports its step and whether its weights are all
// finite. Used by kill_resume_test.py after every kill.
//   checkpoint_check CKPT     prints "global_step N finite 0|1"; exit 2 if bad
#include <cmath>
#include <cstdio>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/checkpoint.h"
#include "runtime/src/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT.safetensors\n", argv[0]);
    return 2;
  }
  try {
    cnnc::detail::SafetensorsFile file = cnnc::detail::read_safetensors(argv[1]);
    if (!cnnc::detail::is_checkpoint(file)) throw cnnc::Error(file.path + ": not a checkpoint");
    cnnc::detail::verify_checkpoint_checksum(file);
    bool finite = true;
    std::vector<float> values;
    for (const auto& [name, tensor] : file.tensors) {
      values.resize(tensor.count());
      file.copy_tensor(name, values.data());
      for (float v : values) finite = finite && std::isfinite(v);
    }
    std::printf("global_step %s finite %d\n", file.metadata.at("global_step").c_str(),
                finite ? 1 : 0);
    return 0;
  } catch (const cnnc::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
}
