#include "frontends/json/layer_schema.h"

#include <limits>

namespace cnnc::frontend {
namespace {

using ir::OpKind;

// Sizes (filters, kernel extents, padding) must fit comfortably in 32 bits;
// the tensor-size limit of shape inference catches what they multiply to.
constexpr int64_t kMaxSize = std::numeric_limits<int32_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

enum class ArgKind {
  kCount,        // whole number >= 1
  kSize2,        // whole number >= 1 or [height, width]
  kPaddingMode,  // "valid" or "same"
  kActivation,   // an activation name
  kBool,
  kFraction,      // 0 <= x < 1
  kUnitReal,      // 0 <= x <= 1
  kNonNegReal,    // x >= 0
  kPositiveReal,  // x > 0
  kRegularizer,   // {"l2": lambda} or null
  kInitializer,   // an initialiser name
  kChannelAxis,   // -1 or 3
  kZeroPadding,   // int, [h, w] or [[top, bottom], [left, right]]
};

// A parsed argument; each kind fills the fields it needs.
struct ArgValue {
  int64_t h = 0, w = 0;
  double real = 0;
  bool flag = false;
  ir::Padding padding = ir::Padding::Valid;
  ir::Activation activation = ir::Activation::Linear;
  ir::Initializer init = ir::Initializer::GlorotUniform;
  ir::Pads pads;
};

using StoreFn = void (*)(const ArgValue&, ir::Attrs*);

struct ArgSpec {
  OpKind op;
  const char* name;
  ArgKind kind;
  bool required;
  const char* keras_default;  // for documentation and messages
  StoreFn store;
};

// clang-format off
#define STORE(body) [](const ArgValue& v, ir::Attrs* a) { body; }
const ArgSpec kArgTable[] = {
  {OpKind::Conv2D, "filters", ArgKind::kCount, true, "", STORE(a->filters = v.h)},
  {OpKind::Conv2D, "kernel_size", ArgKind::kSize2, true, "", STORE(a->kernel_h = v.h; a->kernel_w = v.w)},
  {OpKind::Conv2D, "strides", ArgKind::kSize2, false, "1", STORE(a->stride_h = v.h; a->stride_w = v.w)},
  {OpKind::Conv2D, "padding", ArgKind::kPaddingMode, false, "valid", STORE(a->padding = v.padding)},
  {OpKind::Conv2D, "activation", ArgKind::kActivation, false, "linear", STORE(a->activation = v.activation)},
  {OpKind::Conv2D, "use_bias", ArgKind::kBool, false, "true", STORE(a->use_bias = v.flag)},
  {OpKind::Conv2D, "kernel_regularizer", ArgKind::kRegularizer, false, "none", STORE(a->l2 = v.real)},
  {OpKind::Conv2D, "kernel_initializer", ArgKind::kInitializer, false, "glorot_uniform", STORE(a->kernel_init = v.init)},
  {OpKind::Dense, "units", ArgKind::kCount, true, "", STORE(a->filters = v.h)},
  {OpKind::Dense, "activation", ArgKind::kActivation, false, "linear", STORE(a->activation = v.activation)},
  {OpKind::Dense, "use_bias", ArgKind::kBool, false, "true", STORE(a->use_bias = v.flag)},
  {OpKind::Dense, "kernel_regularizer", ArgKind::kRegularizer, false, "none", STORE(a->l2 = v.real)},
  {OpKind::Dense, "kernel_initializer", ArgKind::kInitializer, false, "glorot_uniform", STORE(a->kernel_init = v.init)},
  {OpKind::MaxPool2D, "pool_size", ArgKind::kSize2, false, "2", STORE(a->kernel_h = v.h; a->kernel_w = v.w)},
  {OpKind::MaxPool2D, "strides", ArgKind::kSize2, false, "pool_size", STORE(a->stride_h = v.h; a->stride_w = v.w)},
  {OpKind::MaxPool2D, "padding", ArgKind::kPaddingMode, false, "valid", STORE(a->padding = v.padding)},
  {OpKind::AvgPool2D, "pool_size", ArgKind::kSize2, false, "2", STORE(a->kernel_h = v.h; a->kernel_w = v.w)},
  {OpKind::AvgPool2D, "strides", ArgKind::kSize2, false, "pool_size", STORE(a->stride_h = v.h; a->stride_w = v.w)},
  {OpKind::AvgPool2D, "padding", ArgKind::kPaddingMode, false, "valid", STORE(a->padding = v.padding)},
  {OpKind::Activation, "activation", ArgKind::kActivation, true, "", STORE(a->activation = v.activation)},
  {OpKind::BatchNorm, "axis", ArgKind::kChannelAxis, false, "-1", STORE((void)v; (void)a)},
  {OpKind::BatchNorm, "momentum", ArgKind::kUnitReal, false, "0.99", STORE(a->momentum = v.real)},
  {OpKind::BatchNorm, "epsilon", ArgKind::kPositiveReal, false, "0.001", STORE(a->epsilon = v.real)},
  {OpKind::BatchNorm, "center", ArgKind::kBool, false, "true", STORE(a->center = v.flag)},
  {OpKind::BatchNorm, "scale", ArgKind::kBool, false, "true", STORE(a->scale = v.flag)},
  {OpKind::Dropout, "rate", ArgKind::kFraction, true, "", STORE(a->rate = v.real)},
  {OpKind::LRN, "size", ArgKind::kCount, false, "5", STORE(a->lrn_size = v.h)},
  {OpKind::LRN, "alpha", ArgKind::kNonNegReal, false, "0.0001", STORE(a->lrn_alpha = v.real)},
  {OpKind::LRN, "beta", ArgKind::kNonNegReal, false, "0.75", STORE(a->lrn_beta = v.real)},
  {OpKind::LRN, "bias", ArgKind::kPositiveReal, false, "2.0", STORE(a->lrn_bias = v.real)},
  {OpKind::ZeroPad2D, "padding", ArgKind::kZeroPadding, false, "1", STORE(a->pads = v.pads)},
  {OpKind::Concat, "axis", ArgKind::kChannelAxis, false, "-1", STORE((void)v; (void)a)},
};
#undef STORE
// clang-format on

std::vector<std::string> enum_names(const char* (*name)(int), int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(name(i));
  return names;
}
const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names =
      enum_names([](int i) { return ir::activation_name(static_cast<ir::Activation>(i)); }, 5);
  return names;
}
const std::vector<std::string>& initializer_names() {
  static const std::vector<std::string> names =
      enum_names([](int i) { return ir::initializer_name(static_cast<ir::Initializer>(i)); }, 6);
  return names;
}

// [a, b] of whole numbers in [lo, kMaxSize].
bool read_pair(const json& v, const Site& site, Diagnostics& d, int64_t lo, int64_t* a,
               int64_t* b) {
  if (!v.is_array() || v.size() != 2) {
    d.error(site, "must be a whole number or a pair [height, width], not " + brief(v));
    return false;
  }
  const bool ok_a = read_int(v[0], site.at(size_t{0}), d, lo, kMaxSize, a);
  const bool ok_b = read_int(v[1], site.at(size_t{1}), d, lo, kMaxSize, b);
  return ok_a && ok_b;
}

bool read_zero_padding(const json& v, const Site& site, Diagnostics& d, ir::Pads* pads) {
  int64_t h = 0, w = 0;
  if (v.is_number()) {
    if (!read_int(v, site, d, 0, kMaxSize, &h)) return false;
    *pads = {h, h, h, h};
    return true;
  }
  if (v.is_array() && v.size() == 2 && v[0].is_array() && v[1].is_array()) {
    ir::Pads p;
    bool ok = v[0].size() == 2 && v[1].size() == 2;
    if (!ok) {
      d.error(site, "must be [[top, bottom], [left, right]], not " + brief(v));
      return false;
    }
    ok &= read_int(v[0][0], site.at(size_t{0}).at(size_t{0}), d, 0, kMaxSize, &p.top);
    ok &= read_int(v[0][1], site.at(size_t{0}).at(size_t{1}), d, 0, kMaxSize, &p.bottom);
    ok &= read_int(v[1][0], site.at(size_t{1}).at(size_t{0}), d, 0, kMaxSize, &p.left);
    ok &= read_int(v[1][1], site.at(size_t{1}).at(size_t{1}), d, 0, kMaxSize, &p.right);
    if (ok) *pads = p;
    return ok;
  }
  if (v.is_array() && v.size() == 2) {
    if (!read_pair(v, site, d, 0, &h, &w)) return false;
    *pads = {h, h, w, w};
    return true;
  }
  d.error(site,
          "must be a whole number, [h, w] or [[top, bottom], [left, right]], not " + brief(v));
  return false;
}

bool read_arg(const json& v, ArgKind kind, const Site& site, Diagnostics& d, ArgValue* out) {
  std::string s;
  switch (kind) {
    case ArgKind::kCount:
      return read_int(v, site, d, 1, kMaxSize, &out->h);
    case ArgKind::kSize2:
      if (v.is_array()) return read_pair(v, site, d, 1, &out->h, &out->w);
      if (!read_int(v, site, d, 1, kMaxSize, &out->h)) return false;
      out->w = out->h;
      return true;
    case ArgKind::kPaddingMode:
      if (!read_choice(v, site, d, {"valid", "same"}, &s)) return false;
      out->padding = s == "same" ? ir::Padding::Same : ir::Padding::Valid;
      return true;
    case ArgKind::kActivation:
      // Keras's activation=None means linear.
      if (v.is_null()) return out->activation = ir::Activation::Linear, true;
      return read_choice(v, site, d, activation_names(), &s) &&
             ir::activation_from_name(s, &out->activation);
    case ArgKind::kBool:
      return read_bool(v, site, d, &out->flag);
    case ArgKind::kFraction:
      return read_real(v, site, d, 0, 1, false, true, &out->real);
    case ArgKind::kUnitReal:
      return read_real(v, site, d, 0, 1, false, false, &out->real);
    case ArgKind::kNonNegReal:
      return read_real(v, site, d, 0, kInf, false, false, &out->real);
    case ArgKind::kPositiveReal:
      return read_real(v, site, d, 0, kInf, true, false, &out->real);
    case ArgKind::kRegularizer:
      out->real = 0;
      if (v.is_null()) return true;
      if (!v.is_object() || !v.contains("l2")) {
        d.error(site, "must be {\"l2\": lambda}, not " + brief(v));
        return false;
      }
      check_known_keys(v, site, d, {"l2"}, "kernel_regularizer", "field");
      return read_real(v["l2"], site.at("l2"), d, 0, kInf, false, false, &out->real) &&
             v.size() == 1;
    case ArgKind::kInitializer:
      return read_choice(v, site, d, initializer_names(), &s) &&
             ir::initializer_from_name(s, &out->init);
    case ArgKind::kChannelAxis:
      if (v.is_number_integer() && (v.get<int64_t>() == -1 || v.get<int64_t>() == 3)) return true;
      d.error(site, "must be -1 or 3 (the channel axis), not " + brief(v) +
                        "; only channels-last is supported");
      return false;
    case ArgKind::kZeroPadding:
      return read_zero_padding(v, site, d, &out->pads);
  }
  return false;
}

}  // namespace

std::vector<std::string> layer_argument_names(ir::OpKind op) {
  std::vector<std::string> names;
  for (const ArgSpec& spec : kArgTable) {
    if (spec.op == op) names.push_back(spec.name);
  }
  return names;
}

bool parse_layer_args(const json& layer, ir::OpKind op, const Site& site, Diagnostics& d,
                      ir::Attrs* attrs) {
  const size_t errors_before = d.count();
  *attrs = ir::Attrs();
  const bool is_pool = op == OpKind::MaxPool2D || op == OpKind::AvgPool2D;
  if (is_pool) attrs->kernel_h = attrs->kernel_w = 2;  // Keras's pool_size default
  if (op == OpKind::ZeroPad2D) attrs->pads = {1, 1, 1, 1};

  std::vector<std::string> known = common_layer_keys();
  for (const std::string& name : layer_argument_names(op)) known.push_back(name);
  check_known_keys(layer, site, d, known, ir::op_name(op));

  for (const ArgSpec& spec : kArgTable) {
    if (spec.op != op) continue;
    auto it = layer.find(spec.name);
    if (it == layer.end()) {
      if (spec.required) {
        d.error(site, std::string("missing argument \"") + spec.name + "\"; " + ir::op_name(op) +
                          " needs it");
      }
      continue;
    }
    // Keras's strides=None for pools means "as pool_size", the default below.
    if (it->is_null() && std::string(spec.keras_default) == "pool_size") continue;
    ArgValue value;
    if (read_arg(*it, spec.kind, site.at(spec.name), d, &value)) spec.store(value, attrs);
  }
  // Keras: strides default to pool_size.
  if (is_pool && (!layer.contains("strides") || layer["strides"].is_null())) {
    attrs->stride_h = attrs->kernel_h;
    attrs->stride_w = attrs->kernel_w;
  }
  return d.count() == errors_before;
}

}  // namespace cnnc::frontend
