// Collects every problem found in one model file, each as one line that names
// the file, the JSON path and the layer, then throws them all at once.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cnnc::frontend {

using nlohmann::json;

// Where a problem is: the JSON pointer of the value and, inside a layer, the
// layer's label, e.g. `Conv2D "conv2"`.
struct Site {
  std::string path;                       // "/layers/3"
  std::string label;                      // "" outside layers
  Site at(const std::string& key) const;  // the site of a member: path + "/" + escaped key
  Site at(size_t index) const;            // the site of an array element
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  // Adds "<file>: <path> (<label>): <message>".
  void error(const Site& site, const std::string& message);
  // Adds "<file>:<line>:<column>: <message>" (JSON syntax errors).
  void error_at(size_t line, size_t column, const std::string& message);
  bool empty() const { return lines_.empty(); }
  size_t count() const { return lines_.size(); }
  // Throws cnnc::Error (exit code 2) with every line, when there is any.
  void throw_if_any() const;

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

// "; did you mean "filters"?" when a candidate is close to `word`, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
// "a, b and c" for messages.
std::string join_words(const std::vector<std::string>& words, bool quoted = true);
// A JSON value for a message: compact, cut after about 40 characters.
std::string brief(const json& value);
// "a string", "an array", ... for "must be X, not Y" messages.
std::string json_kind(const json& value);
// JSON-pointer escaping of one key ("a/b" -> "a~1b").
std::string escape_pointer_key(const std::string& key);
// Whether s is [A-Za-z_][A-Za-z0-9_]*.
bool is_identifier(const std::string& s);

// ---- reading values: each reports its own problem and returns false --------

bool read_int(const json& v, const Site& site, Diagnostics& d, int64_t lo, int64_t hi,
              int64_t* out);
bool read_real(const json& v, const Site& site, Diagnostics& d, double lo, double hi, bool lo_open,
               bool hi_open, double* out);
bool read_bool(const json& v, const Site& site, Diagnostics& d, bool* out);
bool read_string(const json& v, const Site& site, Diagnostics& d, std::string* out);
// A string that must be one of `choices`.
bool read_choice(const json& v, const Site& site, Diagnostics& d,
                 const std::vector<std::string>& choices, std::string* out);

// Reports every key of `object` that is not in `known`, at the object's site,
// with a suggestion: `unknown argument "filter"; did you mean "filters"?`.
// `what` names the owner ("Conv2D", "training"), `noun` the key ("argument").
void check_known_keys(const json& object, const Site& site, Diagnostics& d,
                      const std::vector<std::string>& known, const std::string& what,
                      const std::string& noun = "argument");

}  // namespace cnnc::frontend
