#include "frontends/json/json_frontend.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "compiler/ir/checked_math.h"
#include "compiler/ir/shape_inference.h"
#include "compiler/ir/verifier.h"
#include "frontends/json/diagnostics.h"
#include "frontends/json/graph_builder.h"
#include "frontends/json/json_text.h"
#include "frontends/json/training_section.h"

namespace cnnc::frontend {
namespace {

constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

// The model name becomes a C++ namespace and C symbols: an identifier that is
// not a keyword.
bool is_cxx_keyword(const std::string& s) {
  static const char* const kKeywords[] = {
      "alignas",  "alignof",  "and",      "asm",      "auto",     "bool",      "break",
      "case",     "catch",    "char",     "class",    "const",    "constexpr", "continue",
      "default",  "delete",   "do",       "double",   "else",     "enum",      "explicit",
      "export",   "extern",   "false",    "float",    "for",      "friend",    "goto",
      "if",       "inline",   "int",      "long",     "mutable",  "namespace", "new",
      "noexcept", "not",      "nullptr",  "operator", "or",       "private",   "protected",
      "public",   "register", "return",   "short",    "signed",   "sizeof",    "static",
      "struct",   "switch",   "template", "this",     "throw",    "true",      "try",
      "typedef",  "typeid",   "typename", "union",    "unsigned", "using",     "virtual",
      "void",     "volatile", "while",    "std",      "cnnc"};
  for (const char* k : kKeywords) {
    if (s == k) return true;
  }
  return false;
}

void read_header(const json& root, Diagnostics& d, Model* m) {
  const Site top{"", ""};
  check_known_keys(root, top, d,
                   {"format", "name", "input", "modules", "layers", "training", "description"},
                   "a model", "field");
  std::string text;
  if (!root.contains("format")) {
    d.error(top.at("format"), "missing; add \"format\": \"cnnc/1\"");
  } else if (read_string(root["format"], top.at("format"), d, &text) && text != "cnnc/1") {
    d.error(top.at("format"), "\"" + text + "\" is not supported; this compiler reads \"cnnc/1\"");
  }
  if (!root.contains("name")) {
    d.error(top.at("name"), "missing; add \"name\": \"<identifier>\" (it names the library)");
  } else if (read_string(root["name"], top.at("name"), d, &m->graph.name)) {
    if (!is_identifier(m->graph.name) || is_cxx_keyword(m->graph.name)) {
      d.error(
          top.at("name"),
          "\"" + m->graph.name +
              "\" must be a C identifier "
              "([A-Za-z_][A-Za-z0-9_]*, not a C++ keyword): it names the library and its symbols");
    }
  }
  if (root.contains("description")) {
    read_string(root["description"], top.at("description"), d, &m->description);
  }
}

// Reads input.shape; false when it is missing or bad.
bool read_input(const json& root, Diagnostics& d, ir::Shape* shape) {
  const Site site{"/input", ""};
  if (!root.contains("input")) {
    d.error(site, "missing; add \"input\": {\"shape\": [height, width, channels]}");
    return false;
  }
  const json& input = root["input"];
  if (!input.is_object() || !input.contains("shape")) {
    d.error(site, "must be {\"shape\": [height, width, channels]}, not " + brief(input));
    return false;
  }
  check_known_keys(input, site, d, {"shape"}, "input", "field");
  const json& s = input["shape"];
  if (!s.is_array() || s.size() != 3) {
    d.error(site.at("shape"),
            "must be [height, width, channels] (batch excluded), not " + brief(s));
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < 3; ++i) {
    int64_t v = 0;
    ok &= read_int(s[i], site.at("shape").at(i), d, 1, kMaxDim, &v);
    shape->push_back(v);
  }
  if (ok && ir::num_elements(*shape) > ir::kMaxTensorElements) {
    d.error(site.at("shape"), "the input has " + std::to_string(ir::num_elements(*shape)) +
                                  " elements per image, more than 2^40; make it smaller");
    ok = false;
  }
  return ok;
}

// Variables too large to hold: reported with their size.
void check_variable_sizes(const ir::Graph& g, const std::vector<NodeOrigin>& origins,
                          Diagnostics& d) {
  for (const ir::Node& n : g.nodes) {
    for (const ir::Variable& v : ir::node_variables(g, n)) {
      int64_t size = 1;
      bool fits = true;
      for (int64_t dim : v.shape) fits = fits && ir::checked_mul(size, dim, &size);
      if (fits && size <= ir::kMaxTensorElements) continue;
      d.error(origins[n.id].site,
              "its " + v.suffix + " " + ir::shape_str(v.shape) + " would have " +
                  (fits ? std::to_string(size) : "more than 2^63") + " elements, more than 2^40 (" +
                  std::to_string(ir::kMaxTensorElements) + "); make the layer smaller");
    }
  }
}

}  // namespace

Model parse_model(const std::string& json_text, const std::string& filename) {
  Diagnostics d(filename);
  json root;
  if (!parse_json_text(json_text, d, &root)) d.throw_if_any();
  if (!root.is_object()) {
    d.error({"", ""},
            "a model must be a JSON object {\"format\": \"cnnc/1\", ...}, not " + json_kind(root));
    d.throw_if_any();
  }
  Model m;
  read_header(root, d, &m);
  ir::Shape input_shape;
  const bool input_ok = read_input(root, d, &input_shape);

  std::map<std::string, ModuleDef> modules;
  if (root.contains("modules")) modules = read_modules(root["modules"], d);

  ir::Graph& g = m.graph;
  g.input_shape = input_shape;
  ir::Node input;
  input.kind = ir::OpKind::Input;
  input.name = "input";
  g.add(input);
  std::vector<NodeOrigin> origins = {{{"/input", ""}}};
  if (!root.contains("layers")) {
    d.error({"/layers", ""}, "missing; add \"layers\": [...] with at least one layer");
  } else if (!root["layers"].is_array() || root["layers"].empty()) {
    d.error({"/layers", ""}, "must be a non-empty list of layers, not " + brief(root["layers"]));
  } else {
    build_layers(root["layers"], modules, d, &g, &origins);
  }
  if (root.contains("training")) {
    m.has_training_section = true;
    read_training(root["training"], d, &m.recipe);
  }
  // Shapes only when the input is known: the layers left out were reported already.
  if (input_ok) {
    std::vector<ir::ShapeError> shape_errors;
    ir::infer_shapes(g, &shape_errors);
    for (const ir::ShapeError& e : shape_errors) d.error(origins[e.node].site, e.message);
    if (shape_errors.empty()) check_variable_sizes(g, origins, d);
  }
  d.throw_if_any();
  ir::verify(g);  // internal invariants: a failure here is a frontend bug
  return m;
}

Model load_model_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(path + ": is a directory, not a model file", 2);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the model file; check the path", 2);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read the model file", 2);
  return parse_model(text.str(), path);
}

}  // namespace cnnc::frontend
