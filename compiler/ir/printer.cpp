#include "compiler/ir/printer.h"

#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "compiler/ir/checked_math.h"

namespace cnnc::ir {
namespace {

// Shortest text that reads back as the same double ("0.99", not "0.98999...").
std::string real_str(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string pair_str(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

std::string pads_str(const Pads& p) {
  return std::to_string(p.top) + "," + std::to_string(p.bottom) + "," + std::to_string(p.left) +
         "," + std::to_string(p.right);
}

// The attributes shared by Conv2D and Dense after their size.
void append_dense_like(const Attrs& a, std::string* out) {
  *out += " act=";
  *out += activation_name(a.activation);
  if (a.use_bias) *out += " bias";
  if (a.l2 != 0.0) *out += " l2=" + real_str(a.l2);
  if (a.kernel_init != Initializer::GlorotUniform) {
    *out += " init=";
    *out += initializer_name(a.kernel_init);
  }
  if (!a.folded_batchnorm.empty()) *out += " folded_bn=\"" + a.folded_batchnorm + "\"";
  if (!a.composed.empty()) *out += " composed=" + a.composed[0].layer;
  if (!a.merged.empty()) {
    *out += " merged=";
    for (size_t i = 0; i < a.merged.size(); ++i) *out += (i ? "," : "") + a.merged[i].layer;
  }
}

std::string pad_right(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string node_attrs_str(const Node& n) {
  const Attrs& a = n.attrs;
  std::string out;
  switch (n.kind) {
    case OpKind::Conv2D:
      out += " filters=" + std::to_string(a.filters) +
             " kernel=" + pair_str(a.kernel_h, a.kernel_w) +
             " stride=" + pair_str(a.stride_h, a.stride_w) + " pads=" + pads_str(a.pads);
      append_dense_like(a, &out);
      break;
    case OpKind::Dense:
      out += " units=" + std::to_string(a.filters);
      append_dense_like(a, &out);
      break;
    case OpKind::MaxPool2D:
    case OpKind::AvgPool2D:
      out += " pool=" + pair_str(a.kernel_h, a.kernel_w) +
             " stride=" + pair_str(a.stride_h, a.stride_w) + " pads=" + pads_str(a.pads);
      break;
    case OpKind::Activation:
      out += std::string(" act=") + activation_name(a.activation);
      break;
    case OpKind::BatchNorm:
      out += " momentum=" + real_str(a.momentum) + " epsilon=" + real_str(a.epsilon);
      if (a.center) out += " center";
      if (a.scale) out += " scale";
      if (a.activation != Activation::Linear) {
        out += std::string(" act=") + activation_name(a.activation);
      }
      break;
    case OpKind::Dropout:
      out += " rate=" + real_str(a.rate);
      break;
    case OpKind::LRN:
      out += " size=" + std::to_string(a.lrn_size) + " alpha=" + real_str(a.lrn_alpha) +
             " beta=" + real_str(a.lrn_beta) + " bias=" + real_str(a.lrn_bias);
      break;
    case OpKind::ZeroPad2D:
      out += " pads=" + pads_str(a.pads);
      break;
    case OpKind::ChannelSlice:
      out += " channels=" + std::to_string(a.slice_begin) + ".." +
             std::to_string(a.slice_begin + a.filters) + " act=" + activation_name(a.activation);
      break;
    case OpKind::Add:  // an activation only in training (fuse_activation)
      if (a.activation != Activation::Linear) {
        out += std::string(" act=") + activation_name(a.activation);
      }
      break;
    case OpKind::Input:
    case OpKind::GlobalAvgPool2D:
    case OpKind::Flatten:
    case OpKind::Concat:
      break;
  }
  return out;
}

void print_graph(const Graph& g, std::ostream& os) {
  for (const Node& n : g.nodes) {
    os << '%' << n.id << " = " << op_name(n.kind) << " \"" << n.name << "\" (";
    for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", %" : "%") << n.inputs[i];
    os << ')' << node_attrs_str(n) << " -> " << shape_str(n.shape) << '\n';
  }
  os << "output %" << g.output << '\n';
}

std::string graph_to_string(const Graph& g) {
  std::ostringstream os;
  print_graph(g, os);
  return os.str();
}

int64_t node_param_count(const Graph& g, const Node& n) {
  int64_t count = 0;
  for (const Variable& v : node_variables(g, n))
    count = saturating_add(count, num_elements(v.shape));
  return count;
}

ParamCounts graph_param_counts(const Graph& g) {
  ParamCounts counts;
  for (const Variable& v : graph_variables(g)) {
    int64_t& bucket = v.trainable ? counts.trainable : counts.non_trainable;
    bucket = saturating_add(bucket, num_elements(v.shape));
  }
  return counts;
}

int64_t graph_macs(const Graph& g) {
  int64_t macs = 0;
  for (const Node& n : g.nodes) macs = saturating_add(macs, node_macs(g, n));
  return macs;
}

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

void print_summary(const Graph& g, std::ostream& os) {
  // Column widths fit the longest layer label so nested module names line up.
  size_t label_width = 20;
  for (const Node& n : g.nodes) {
    label_width = std::max(label_width, n.name.size() + std::string(op_name(n.kind)).size() + 4);
  }
  const std::string rule(label_width + 16 + 14 + 16, '-');
  os << "Model: \"" << g.name << "\"\n" << rule << '\n';
  os << pad_right("Layer (type)", label_width) << pad_right("Output shape", 16) << std::setw(13)
     << "Params" << std::setw(16) << "MACs" << '\n'
     << rule << '\n';
  for (const Node& n : g.nodes) {
    os << pad_right(n.name + " (" + op_name(n.kind) + ")", label_width)
       << pad_right(shape_str(n.shape), 16) << std::setw(13) << with_commas(node_param_count(g, n))
       << std::setw(16) << with_commas(node_macs(g, n)) << '\n';
  }
  const ParamCounts counts = graph_param_counts(g);
  os << rule << '\n'
     << "Total params: " << with_commas(counts.total()) << '\n'
     << "Trainable params: " << with_commas(counts.trainable) << '\n'
     << "Non-trainable params: " << with_commas(counts.non_trainable) << '\n'
     << "Total MACs: " << with_commas(graph_macs(g)) << " per image\n";
}

}  // namespace cnnc::ir
