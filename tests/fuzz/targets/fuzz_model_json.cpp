// libFuzzer target: the JSON model frontend (modules, training section and
// shape inference included). A cnnc::Error is the expected answer to bad
// input; anything else escaping parse_model (another exception, a sanitizer
// report, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frontends/json/json_frontend.h"
#include "runtime/include/cnnc_runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    cnnc::frontend::Model model = cnnc::frontend::parse_model(text, "fuzz.json");
    (void)model;
  } catch (const cnnc::Error&) {
  }
  return 0;
}
