#include "compiler/driver/tuning.h"

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "compiler/driver/process.h"
#include "compiler/kernels/kernel_cache.h"
#include "frontends/json/diagnostics.h"
#include "frontends/json/json_text.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::driver {

using frontend::Diagnostics;
using frontend::json;
using frontend::Site;

namespace {

constexpr char kFormat[] = "cnnc-tuning/1";

bool tunable(kernels::Kind k) { return k == kernels::Kind::Conv2D || k == kernels::Kind::Dense; }

// A step's spec with a layer's choice (read_tuning checked the names).
kernels::KernelSpec with_choice(kernels::KernelSpec spec, const LayerTuning& l) {
  if (!l.conv_algo.empty() && spec.kind == kernels::Kind::Conv2D) {
    kernels::parse_conv_algo(l.conv_algo, &spec.conv_algo);
  }
  spec.schedule = l.schedule;
  return spec;
}

json choice_json(const LayerTuning& l) {
  json c = json::object();
  c["lowering"] = l.lowering;
  c["conv_algo"] = l.conv_algo;
  c["algorithm"] = l.schedule.algorithm;
  c["tile_vectors"] = l.schedule.tile_vectors;
  c["tile_columns"] = l.schedule.tile_columns;
  c["estimate_batch"] = l.schedule.estimate_batch;
  return c;
}

// A member that must be there; reports it missing otherwise.
const json* member(const json& object, const Site& site, const char* key, Diagnostics& d) {
  auto it = object.find(key);
  if (it != object.end()) return &*it;
  d.error(site, std::string("missing \"") + key + "\"");
  return nullptr;
}

void read_string_member(const json& o, const Site& s, const char* key, Diagnostics& d,
                        std::string* out) {
  if (const json* v = member(o, s, key, d)) frontend::read_string(*v, s.at(key), d, out);
}

void read_int_member(const json& o, const Site& s, const char* key, Diagnostics& d, int64_t lo,
                     int64_t hi, int* out) {
  int64_t v = 0;
  const json* m = member(o, s, key, d);
  if (m && frontend::read_int(*m, s.at(key), d, lo, hi, &v)) *out = static_cast<int>(v);
}

void read_ms_member(const json& o, const Site& s, const char* key, Diagnostics& d, double* out) {
  if (const json* v = member(o, s, key, d)) {
    frontend::read_real(*v, s.at(key), d, 0.0, 1e9, false, false, out);
  }
}

void read_choice(const json& c, const Site& s, Diagnostics& d, LayerTuning* l) {
  if (!c.is_object()) {
    d.error(s, "must be an object, not " + frontend::json_kind(c));
    return;
  }
  frontend::check_known_keys(
      c, s, d,
      {"lowering", "conv_algo", "algorithm", "tile_vectors", "tile_columns", "estimate_batch"},
      "choice", "key");
  if (const json* v = member(c, s, "lowering", d)) {
    frontend::read_choice(*v, s.at("lowering"), d, {"", "gemm", "direct"}, &l->lowering);
  }
  if (const json* v = member(c, s, "algorithm", d)) {
    frontend::read_choice(*v, s.at("algorithm"), d, {"", "autoschedule"}, &l->schedule.algorithm);
  }
  if (const json* v = member(c, s, "conv_algo", d)) {
    frontend::read_choice(*v, s.at("conv_algo"), d, {"", "direct", "winograd_f2", "winograd_f4"},
                          &l->conv_algo);
  }
  read_int_member(c, s, "tile_vectors", d, 0, 16, &l->schedule.tile_vectors);
  read_int_member(c, s, "tile_columns", d, 0, 64, &l->schedule.tile_columns);
  read_int_member(c, s, "estimate_batch", d, 0, 1 << 24, &l->schedule.estimate_batch);
}

}  // namespace

std::string model_hash(const std::string& model_text) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(kernels::fnv1a64(model_text)));
  return buf;
}

void write_tuning(const std::string& path, const Tuning& t) {
  json root = {{"format", kFormat},  {"model", t.model}, {"model_hash", t.model_hash},
               {"target", t.target}, {"batch", t.batch}, {"passes", t.passes}};
  json layers = json::array();
  for (const LayerTuning& l : t.layers) {
    layers.push_back({{"layer", l.layer},
                      {"default_kernel", l.default_kernel},
                      {"kernel", l.kernel},
                      {"choice", choice_json(l)},
                      {"default_ms", l.default_ms},
                      {"best_ms", l.best_ms},
                      {"candidates", l.candidates},
                      {"rejected", l.rejected}});
  }
  root["layers"] = layers;
  write_file_atomic(path, root.dump(2) + "\n");
}

Tuning read_tuning(const std::string& path, const std::string& model_path,
                   const std::string& model_text, const std::string& target) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::exception& e) {
    throw Error("cannot read the tuning file " + path + ": " + e.what());
  }
  Diagnostics d(path);
  json root;
  if (!frontend::parse_json_text(text, d, &root)) d.throw_if_any();
  Tuning t;
  const Site top{"", ""};
  if (!root.is_object()) {
    d.error(top, "a tuning file is a JSON object, not " + frontend::json_kind(root));
    d.throw_if_any();
  }
  frontend::check_known_keys(
      root, top, d, {"format", "model", "model_hash", "target", "batch", "passes", "layers"},
      "tuning file", "key");
  std::string format;
  read_string_member(root, top, "format", d, &format);
  if (d.empty() && format != kFormat) {
    d.error(top.at("format"), "\"" + format + "\" is not a tuning file format; expected \"" +
                                  kFormat + "\" (written by cnnc tune)");
  }
  read_string_member(root, top, "model", d, &t.model);
  read_string_member(root, top, "model_hash", d, &t.model_hash);
  read_string_member(root, top, "target", d, &t.target);
  read_string_member(root, top, "passes", d, &t.passes);
  read_int_member(root, top, "batch", d, 1, 65536, &t.batch);
  const json* layers = member(root, top, "layers", d);
  if (layers && !layers->is_array()) {
    d.error(top.at("layers"), "must be an array, not " + frontend::json_kind(*layers));
  } else if (layers) {
    for (size_t i = 0; i < layers->size(); ++i) {
      const json& e = (*layers)[i];
      const Site s = top.at("layers").at(i);
      if (!e.is_object()) {
        d.error(s, "must be an object, not " + frontend::json_kind(e));
        continue;
      }
      frontend::check_known_keys(e, s, d,
                                 {"layer", "default_kernel", "kernel", "choice", "default_ms",
                                  "best_ms", "candidates", "rejected"},
                                 "layer entry", "key");
      LayerTuning l;
      read_string_member(e, s, "layer", d, &l.layer);
      read_string_member(e, s, "default_kernel", d, &l.default_kernel);
      read_string_member(e, s, "kernel", d, &l.kernel);
      if (const json* c = member(e, s, "choice", d)) read_choice(*c, s.at("choice"), d, &l);
      read_ms_member(e, s, "default_ms", d, &l.default_ms);
      read_ms_member(e, s, "best_ms", d, &l.best_ms);
      read_int_member(e, s, "candidates", d, 0, 1 << 20, &l.candidates);
      read_int_member(e, s, "rejected", d, 0, 1 << 20, &l.rejected);
      t.layers.push_back(l);
    }
  }
  d.throw_if_any();
  // Made for this model and this machine?
  const std::string hash = model_hash(model_text);
  if (t.model_hash != hash) {
    throw Error(path + ": /model_hash: made for model '" + t.model + "' (hash " + t.model_hash +
                "), not for " + model_path + " (hash " + hash +
                "); run cnnc tune on this model file again");
  }
  if (t.target != target) {
    throw Error(path + ": /target: tuned for target '" + t.target + "', but this build is for '" +
                target + "'; tune on this machine (or pass --target " + t.target + ")");
  }
  return t;
}

std::set<std::string> layers_lowered_as(const Tuning& t, const std::string& lowering) {
  std::set<std::string> layers;
  for (const LayerTuning& l : t.layers) {
    if (l.lowering == lowering) layers.insert(l.layer);
  }
  return layers;
}

std::map<std::string, kernels::ConvAlgo> conv_algo_layers(const Tuning& t) {
  std::map<std::string, kernels::ConvAlgo> layers;
  for (const LayerTuning& l : t.layers) {
    kernels::ConvAlgo a;
    if (kernels::parse_conv_algo(l.conv_algo, &a)) layers[l.layer] = a;
  }
  return layers;
}

void apply_tuning(const Tuning& t, const std::string& path, lower::Program& p) {
  for (size_t i = 0; i < t.layers.size(); ++i) {
    const LayerTuning& l = t.layers[i];
    const std::string place =
        path + ": /layers/" + std::to_string(i) + " (layer '" + l.layer + "')";
    bool found = false;
    for (lower::Step& st : p.infer) {
      if (st.layer != l.layer || !tunable(st.spec.kind)) continue;
      kernels::KernelSpec tuned = with_choice(st.spec, l);
      if (tuned.key() != l.kernel) {
        throw Error(place + ": tuned for kernel '" + l.kernel + "', but this build makes '" +
                    tuned.key() + "' (another model version or --passes?); run cnnc tune again");
      }
      st.spec = tuned;
      found = true;
    }
    if (!found) {
      throw Error(place + ": this model has no convolution or dense layer of that name");
    }
    // Training's forward pass runs the same kernel where its spec matches.
    for (lower::Step& st : p.train) {
      if (st.layer != l.layer || !tunable(st.spec.kind)) continue;
      kernels::KernelSpec tuned = with_choice(st.spec, l);
      // Training convolutions stay direct: Winograd reads load-time weights.
      if (tuned.key() == l.kernel && tuned.conv_algo == st.spec.conv_algo) st.spec = tuned;
    }
  }
}

}  // namespace cnnc::driver
