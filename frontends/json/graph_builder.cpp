#include "frontends/json/graph_builder.h"

#include <algorithm>

#include "frontends/json/layer_schema.h"

namespace cnnc::frontend {
namespace {

constexpr int kBroken = -1;             // a layer that was reported and left out
constexpr size_t kMaxModuleDepth = 32;  // modules using modules, far beyond real models
constexpr int kMaxValueDepth = 64;      // nesting of argument values

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_layer_name(const std::string& s) {
  if (s.empty() || s.size() > 200 || s.front() == '/' || s.back() == '/') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/';
  });
}

std::vector<std::string> layer_type_names(const std::map<std::string, ModuleDef>& modules) {
  std::vector<std::string> names = {"MaxPool2D", "AvgPool2D", "LRN"};
  for (int i = 1; i <= static_cast<int>(ir::OpKind::Add); ++i) {
    names.push_back(ir::op_name(static_cast<ir::OpKind>(i)));
  }
  for (const auto& m : modules) names.push_back(m.first);
  return names;
}

// One list of layers being expanded: the model's, or one use of a module.
struct Scope {
  std::string prefix;            // "" at top level, "<use name>/" inside a module use
  int input_node = 0;            // what "input" (top level) or "$input" (module) reads
  const json* params = nullptr;  // the use's parameter values (an object); null at top level
  std::string module;            // the module being expanded, "" at top level
  std::vector<std::string> module_stack;  // modules being expanded, outermost first
  std::string use_path;                   // JSON path of the use, for labels
  bool in_module() const { return params != nullptr; }
};

// Names of one scope's layers: where each is declared and which node it became.
struct ScopeNames {
  std::map<std::string, size_t> declared;  // name -> index of its first layer
  std::map<std::string, int> built;        // name -> node id (kBroken if left out)
};

class Builder {
 public:
  Builder(const std::map<std::string, ModuleDef>& modules, Diagnostics& d, ir::Graph* g,
          std::vector<NodeOrigin>* origins)
      : modules_(modules), d_(d), g_(g), origins_(origins) {}

  // Adds the layers of one scope; returns the node of its last layer.
  int add_scope(const json& layers, const std::string& path, const Scope& scope) {
    ScopeNames names;
    std::vector<std::string> layer_names;
    for (size_t i = 0; i < layers.size(); ++i) {
      layer_names.push_back(layer_name(layers[i], i));
      names.declared.emplace(layer_names.back(), i);
    }
    int previous = scope.input_node;
    for (size_t i = 0; i < layers.size(); ++i) {
      previous = add_layer(layers[i], i, layer_names[i], {path + "/" + std::to_string(i), ""},
                           scope, previous, names);
      names.built.emplace(layer_names[i], previous);
    }
    return previous;
  }

 private:
  // The layer's explicit name, or Keras's default "<type in lower case>_<index>".
  static std::string layer_name(const json& layer, size_t index) {
    if (layer.is_object()) {
      auto name = layer.find("name");
      if (name != layer.end() && name->is_string()) return name->get<std::string>();
      auto type = layer.find("type");
      if (type != layer.end() && type->is_string()) {
        return lower(type->get<std::string>()) + "_" + std::to_string(index);
      }
    }
    return "layer_" + std::to_string(index);
  }

  int add_layer(const json& layer, size_t index, const std::string& name, Site site,
                const Scope& scope, int previous, const ScopeNames& names) {
    if (!layer.is_object()) {
      d_.error(site, "a layer must be an object such as {\"type\": \"Conv2D\", ...}, not " +
                         brief(layer));
      return kBroken;
    }
    const std::string full_name = scope.prefix + name;
    const json* type_value = layer.contains("type") ? &layer["type"] : nullptr;
    const std::string type =
        type_value && type_value->is_string() ? type_value->get<std::string>() : "?";
    site.label = type + " \"" + full_name + "\"" +
                 (scope.use_path.empty() ? "" : ", in the module used at " + scope.use_path);
    bool ok = check_name(layer, index, name, full_name, site, scope, names);

    ir::OpKind op = ir::OpKind::Input;
    const ModuleDef* module = nullptr;
    if (!type_value) {
      d_.error(site, "missing \"type\"; every layer needs one, e.g. \"type\": \"Conv2D\"");
      ok = false;
    } else if (!type_value->is_string()) {
      d_.error(site.at("type"), "must be a string, not " + brief(*type_value));
      ok = false;
    } else if (modules_.count(type)) {
      module = &modules_.at(type);
    } else if (!ir::op_from_name(type, &op) || op == ir::OpKind::Input) {
      const std::string hint = type == "Input" || type == "InputLayer"
                                   ? "; the model input is the top-level \"input\", not a layer"
                                   : did_you_mean(type, layer_type_names(modules_));
      d_.error(site.at("type"),
               "unknown layer type \"" + type + "\"" +
                   (hint.empty() ? "; see model-format.md for the layer types" : hint));
      ok = false;
    }

    json args = scope.in_module() ? substitute_args(layer, site, scope, &ok) : layer;
    std::vector<int> inputs;
    ok &= resolve_inputs(layer, index, site, scope, previous, names, &inputs);

    if (module)
      return ok ? add_module_use(args, type, *module, full_name, site, scope, inputs) : kBroken;
    if (op == ir::OpKind::Input) return kBroken;
    ir::Node node;
    node.kind = op;
    node.name = full_name;
    node.inputs = inputs;
    ok &= parse_layer_args(args, op, site, d_, &node.attrs);
    ok &= check_arity(op_min_inputs(op), op_max_inputs(op), inputs.size(), layer, site, type);
    if (!ok) return kBroken;
    origins_->push_back({site});
    return g_->add(std::move(node));
  }

  bool check_name(const json& layer, size_t index, const std::string& name,
                  const std::string& full_name, const Site& site, const Scope& scope,
                  const ScopeNames& names) {
    const bool given = layer.contains("name");
    if (given && !layer["name"].is_string()) {
      d_.error(site.at("name"), "must be a string, not " + brief(layer["name"]));
      return false;
    }
    if (given && !is_layer_name(name)) {
      d_.error(site.at("name"), "\"" + name +
                                    "\" is not a valid layer name; use letters, "
                                    "digits, '_', '-' and '/' (no spaces or dots)");
      return false;
    }
    if (!scope.in_module() && name == "input") {
      d_.error(site.at("name"), "\"input\" names the model input; give this layer another name");
      return false;
    }
    const Site where = given ? site.at("name") : site;
    const std::string what =
        given ? "the name \"" + name + "\"" : "its default name \"" + name + "\"";
    const std::string fix = given ? "; layer names must be unique" : "; give this layer a \"name\"";
    if (names.declared.at(name) != index) {
      d_.error(where, what + " is already used by the layer at index " +
                          std::to_string(names.declared.at(name)) + fix);
      return false;
    }
    auto [it, inserted] = used_names_.emplace(full_name, site.path);
    if (!inserted) {
      d_.error(where, what + " makes \"" + full_name + "\", already used at " + it->second + fix);
      return false;
    }
    return true;
  }

  // The layer's input nodes; the previous layer when "inputs" is absent.
  bool resolve_inputs(const json& layer, size_t index, const Site& site, const Scope& scope,
                      int previous, const ScopeNames& names, std::vector<int>* inputs) {
    auto it = layer.find("inputs");
    if (it == layer.end()) {
      inputs->push_back(previous);
      return previous != kBroken;
    }
    if (!it->is_array()) {
      d_.error(site.at("inputs"),
               "must be a list of layer names such as [\"conv1\"], not " + brief(*it));
      return false;
    }
    const std::string own_input = scope.in_module() ? "$input" : "input";
    bool ok = true;
    for (size_t i = 0; i < it->size(); ++i) {
      const json& ref = (*it)[i];
      const Site ref_site = site.at("inputs").at(i);
      // A reference that fails still counts, for the arity check.
      inputs->push_back(kBroken);
      if (!ref.is_string()) {
        d_.error(ref_site, "must be a layer name (a string), not " + brief(ref));
        ok = false;
        continue;
      }
      const std::string name = ref.get<std::string>();
      auto declared = names.declared.find(name);
      if (name == own_input) {
        inputs->back() = scope.input_node;
        ok &= scope.input_node != kBroken;
      } else if (declared != names.declared.end() && declared->second < index) {
        inputs->back() = names.built.at(name);
        ok &= inputs->back() != kBroken;
      } else if (declared != names.declared.end()) {
        d_.error(ref_site, "\"" + name +
                               "\" is this layer or one listed after it; layers must "
                               "be in topological order, each reading only layers above it");
        ok = false;
      } else {
        std::vector<std::string> known = {own_input};
        for (const auto& n : names.built) known.push_back(n.first);
        std::string hint = did_you_mean(name, known);
        if (hint.empty() && name == "input") hint = "; inside a module its input is \"$input\"";
        if (hint.empty() && name == "$input")
          hint = "; \"$input\" only means something inside a module, the model input is \"input\"";
        d_.error(ref_site, "no layer named \"" + name + "\" above this one" + hint);
        ok = false;
      }
    }
    return ok;
  }

  bool check_arity(int min_in, int max_in, size_t count, const json& layer, const Site& site,
                   const std::string& type) {
    if (static_cast<int>(count) >= min_in && (max_in < 0 || static_cast<int>(count) <= max_in)) {
      return true;
    }
    const std::string need = min_in == max_in ? "exactly one input" : "two or more inputs";
    d_.error(layer.contains("inputs") ? site.at("inputs") : site,
             type + " takes " + need + ", but gets " + std::to_string(count) +
                 (min_in > 1 ? "; list them in \"inputs\"" : ""));
    return false;
  }

  // A copy of the layer whose argument values have "$p" replaced by the use's values.
  json substitute_args(const json& layer, const Site& site, const Scope& scope, bool* ok) {
    json out = layer;
    for (auto& item : out.items()) {
      if (item.key() == "type" || item.key() == "name" || item.key() == "inputs") continue;
      *ok &= substitute(item.value(), site.at(item.key()), scope, 0);
    }
    return out;
  }

  bool substitute(json& value, const Site& site, const Scope& scope, int depth) {
    if (depth > kMaxValueDepth) {
      d_.error(site, "is nested too deeply");
      return false;
    }
    if (value.is_array() || value.is_object()) {
      bool ok = true;
      size_t i = 0;
      for (auto& item : value.items()) {
        const Site inner = value.is_array() ? site.at(i++) : site.at(item.key());
        ok &= substitute(item.value(), inner, scope, depth + 1);
      }
      return ok;
    }
    if (!value.is_string() || value.get<std::string>().rfind('$', 0) != 0) return true;
    const std::string param = value.get<std::string>().substr(1);
    auto given = scope.params->find(param);
    if (given != scope.params->end()) {
      value = *given;
      return true;
    }
    const ModuleDef& def = modules_.at(scope.module);
    d_.error(site, "unknown module parameter \"$" + param + "\"; module \"" + scope.module +
                       "\" has parameters " +
                       (def.params.empty() ? "none" : join_words(def.params)));
    return false;
  }

  int add_module_use(const json& use, const std::string& module_name, const ModuleDef& def,
                     const std::string& full_name, const Site& site, const Scope& scope,
                     const std::vector<int>& inputs) {
    bool ok = check_arity(1, 1, inputs.size(), use, site, module_name);
    if (std::find(scope.module_stack.begin(), scope.module_stack.end(), module_name) !=
        scope.module_stack.end()) {
      std::string chain;
      for (const std::string& m : scope.module_stack) chain += m + " -> ";
      d_.error(site.at("type"), "module \"" + module_name + "\" uses itself (" + chain +
                                    module_name + "); modules may not be recursive");
      return kBroken;
    }
    if (scope.module_stack.size() >= kMaxModuleDepth) {
      d_.error(site.at("type"),
               "modules are nested more than " + std::to_string(kMaxModuleDepth) + " deep");
      return kBroken;
    }
    // Parameter values: the use's other keys, or its "params" object.
    json values = json::object();
    const bool grouped =
        use.contains("params") && use["params"].is_object() &&
        std::find(def.params.begin(), def.params.end(), "params") == def.params.end();
    for (const auto& item : (grouped ? use["params"] : use).items()) {
      if (!grouped && (item.key() == "type" || item.key() == "name" || item.key() == "inputs"))
        continue;
      if (std::find(def.params.begin(), def.params.end(), item.key()) == def.params.end()) {
        std::string hint = did_you_mean(item.key(), def.params);
        d_.error(site,
                 "unknown module parameter \"" + item.key() + "\"" +
                     (hint.empty() ? "; module \"" + module_name + "\" has parameters " +
                                         (def.params.empty() ? "none" : join_words(def.params))
                                   : hint));
        ok = false;
      }
      values[item.key()] = item.value();
    }
    for (const std::string& p : def.params) {
      if (!values.contains(p)) {
        d_.error(site, "module \"" + module_name + "\" needs parameter \"" + p + "\"; add \"" + p +
                           "\": <value> to this layer");
        ok = false;
      }
    }
    if (!ok || !def.ok) return kBroken;
    Scope inner;
    inner.prefix = full_name + "/";
    inner.input_node = inputs[0];
    inner.params = &values;
    inner.module = module_name;
    inner.module_stack = scope.module_stack;
    inner.module_stack.push_back(module_name);
    inner.use_path = site.path;
    return add_scope(*def.layers, "/modules/" + escape_pointer_key(module_name) + "/layers", inner);
  }

  const std::map<std::string, ModuleDef>& modules_;
  Diagnostics& d_;
  ir::Graph* g_;
  std::vector<NodeOrigin>* origins_;
  std::map<std::string, std::string> used_names_;  // full layer name -> its JSON path
};

}  // namespace

void build_layers(const json& layers, const std::map<std::string, ModuleDef>& modules,
                  Diagnostics& d, ir::Graph* g, std::vector<NodeOrigin>* origins) {
  Builder builder(modules, d, g, origins);
  const int last = builder.add_scope(layers, "/layers", Scope());
  g->output = last;
}

}  // namespace cnnc::frontend
