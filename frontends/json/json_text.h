// JSON text to a json value, with syntax errors as "file:line:column" and
// duplicate keys (which nlohmann would silently collapse) reported by path.
#pragma once

#include <string>

#include "frontends/json/diagnostics.h"

namespace cnnc::frontend {

// Returns false (with the problems added to d) when the text is not valid JSON
// or an object repeats a key.
bool parse_json_text(const std::string& text, Diagnostics& d, json* out);

}  // namespace cnnc::frontend
