#include "frontends/json/module_defs.h"

#include <algorithm>

#include "compiler/ir/graph.h"

namespace cnnc::frontend {

std::map<std::string, ModuleDef> read_modules(const json& modules, Diagnostics& d) {
  std::map<std::string, ModuleDef> defs;
  const Site site{"/modules", ""};
  if (!modules.is_object()) {
    d.error(site,
            "must be an object mapping module names to {\"params\": [...], \"layers\": [...]}");
    return defs;
  }
  for (const auto& item : modules.items()) {
    const std::string& name = item.key();
    const Site at{site.path + "/" + escape_pointer_key(name), "module \"" + name + "\""};
    ModuleDef& def = defs[name];
    ir::OpKind op;
    if (!is_identifier(name)) {
      d.error(at, "a module name must be an identifier ([A-Za-z_][A-Za-z0-9_]*)");
      continue;
    }
    if (ir::op_from_name(name, &op)) {
      d.error(at, "\"" + name + "\" is a built-in layer type; give the module another name");
      continue;
    }
    const json& body = item.value();
    if (!body.is_object()) {
      d.error(at, "must be an object {\"params\": [...], \"layers\": [...]}, not " + brief(body));
      continue;
    }
    check_known_keys(body, at, d, {"params", "layers"}, "a module", "field");
    bool ok = true;
    if (body.contains("params")) {
      const json& params = body["params"];
      if (!params.is_array()) {
        d.error(at.at("params"), "must be a list of parameter names, not " + brief(params));
        ok = false;
      }
      for (size_t i = 0; ok && i < params.size(); ++i) {
        if (!params[i].is_string() || !is_identifier(params[i].get<std::string>()) ||
            params[i] == "input") {
          d.error(at.at("params").at(i),
                  "a parameter name must be an identifier other than "
                  "\"input\", not " +
                      brief(params[i]));
          ok = false;
        } else if (std::count(def.params.begin(), def.params.end(), params[i])) {
          d.error(at.at("params").at(i),
                  "parameter \"" + params[i].get<std::string>() + "\" is listed twice");
          ok = false;
        } else {
          def.params.push_back(params[i].get<std::string>());
        }
      }
    }
    if (!body.contains("layers") || !body["layers"].is_array() || body["layers"].empty()) {
      d.error(at.at("layers"), "a module needs a non-empty list of \"layers\"");
      ok = false;
    } else {
      def.layers = &body["layers"];
    }
    def.ok = ok;
  }
  return defs;
}

}  // namespace cnnc::frontend
