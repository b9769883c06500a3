#include "compiler/ir/shape_inference.h"

#include <stdexcept>

#include "compiler/ir/checked_math.h"

namespace cnnc::ir {
namespace {

// Computes one node's shape or returns an error message ("" on success).
class NodeShaper {
 public:
  NodeShaper(Graph& g, Node& n) : g_(g), n_(n) {}

  std::string run() {
    const int count = static_cast<int>(n_.inputs.size());
    const int min_in = op_min_inputs(n_.kind), max_in = op_max_inputs(n_.kind);
    // Inputs a pass fused in (a Conv2D's or BatchNorm's residual) are past the model's.
    const int fused = max_in < 0 ? 0 : op_fused_inputs(n_.kind);
    if (count < min_in || (max_in >= 0 && count > max_in + fused)) {
      return "takes " + arity_text(min_in, max_in) + ", got " + std::to_string(count);
    }
    std::string error = compute();
    if (!error.empty()) return error;
    for (int64_t d : out_) {
      if (d <= 0) return "its output " + shape_str(out_) + " would be empty";
    }
    int64_t elements = 1;
    bool fits = true;
    for (int64_t d : out_) fits = fits && checked_mul(elements, d, &elements);
    if (!fits || elements > kMaxTensorElements) {
      return "its output " + shape_str(out_) + " would have " +
             (fits ? std::to_string(elements) : std::string("more than 2^63")) +
             " elements, more than 2^40 (" + std::to_string(kMaxTensorElements) +
             "); make the model smaller";
    }
    n_.shape = out_;
    return "";
  }

 private:
  static std::string arity_text(int min_in, int max_in) {
    if (min_in == max_in)
      return min_in == 1 ? "exactly one input" : std::to_string(min_in) + " inputs";
    return std::to_string(min_in) + " or more inputs";
  }

  const Shape& in(int i = 0) const { return g_.node(n_.inputs[i]).shape; }

  std::string need_image() const {
    if (in().size() == 3) return "";
    return "needs an image input (height x width x channels) but gets " + shape_str(in()) +
           "; place it before Flatten / GlobalAveragePooling2D";
  }

  // Output extent and pads of one spatial axis of a window op.
  std::string window_axis(int64_t size, int64_t k, int64_t stride, const char* axis, int64_t* out,
                          int64_t* before, int64_t* after) const {
    if (k <= 0 || stride <= 0) return "its window and strides must be positive";
    if (n_.attrs.padding == Padding::Same) {
      same_padding(size, k, stride, out, before, after);
      return "";
    }
    *before = *after = 0;
    if (k > size) {
      const char* what = n_.kind == OpKind::Conv2D ? "kernel_size" : "pool_size";
      return std::string(what) + " " + std::to_string(n_.attrs.kernel_h) + "x" +
             std::to_string(n_.attrs.kernel_w) + " is larger than its input " + shape_str(in()) +
             " (" + axis + ") with padding \"valid\"; use padding \"same\" " + "or a smaller " +
             what;
    }
    *out = (size - k) / stride + 1;
    return "";
  }

  std::string window_op(int64_t channels) {
    if (std::string e = need_image(); !e.empty()) return e;
    Attrs& a = n_.attrs;
    int64_t oh, ow;
    std::string e =
        window_axis(in()[0], a.kernel_h, a.stride_h, "height", &oh, &a.pads.top, &a.pads.bottom);
    if (e.empty()) {
      e = window_axis(in()[1], a.kernel_w, a.stride_w, "width", &ow, &a.pads.left, &a.pads.right);
    }
    if (!e.empty()) return e;
    out_ = {oh, ow, channels};
    return "";
  }

  std::string compute() {
    const Attrs& a = n_.attrs;
    switch (n_.kind) {
      case OpKind::Input:
        out_ = g_.input_shape;
        return out_.size() == 3 ? "" : "the model input must be [height, width, channels]";
      case OpKind::Conv2D: {
        std::string e = window_op(a.filters);
        if (e.empty() && n_.inputs.size() == 2 && in(1) != out_) {
          return "its residual " + shape_str(in(1)) + " differs from its output " + shape_str(out_);
        }
        return e;
      }
      case OpKind::MaxPool2D:
      case OpKind::AvgPool2D:
        return window_op(in().size() == 3 ? in()[2] : 0);
      case OpKind::Dense:
        out_ = in();
        out_.back() = a.filters;
        return "";
      case OpKind::GlobalAvgPool2D:
        if (std::string e = need_image(); !e.empty()) return e;
        out_ = {in()[2]};
        return "";
      case OpKind::Flatten:
        out_ = {num_elements(in())};
        return "";
      case OpKind::BatchNorm:
        out_ = in();
        if (n_.inputs.size() == 2 && in(1) != out_) {
          return "its residual " + shape_str(in(1)) + " differs from its output " + shape_str(out_);
        }
        return "";
      case OpKind::LRN:
      case OpKind::Activation:
      case OpKind::Dropout:
        out_ = in();
        return "";
      case OpKind::ZeroPad2D: {
        if (std::string e = need_image(); !e.empty()) return e;
        int64_t h = in()[0], w = in()[1];
        if (!checked_add(h, a.pads.top, &h) || !checked_add(h, a.pads.bottom, &h) ||
            !checked_add(w, a.pads.left, &w) || !checked_add(w, a.pads.right, &w)) {
          return "its padding is too large";
        }
        out_ = {h, w, in()[2]};
        return "";
      }
      case OpKind::Concat:
        return concat();
      case OpKind::ChannelSlice:
        out_ = in();
        if (out_.empty() || a.slice_begin < 0 || a.slice_begin + a.filters > out_.back()) {
          return "the channel slice does not fit its input";
        }
        out_.back() = a.filters;
        return "";
      case OpKind::Add:
        for (size_t i = 1; i < n_.inputs.size(); ++i) {
          if (in(i) != in()) {
            return "its inputs must all have one shape, but input 1 is " + shape_str(in()) +
                   " and input " + std::to_string(i + 1) + " is " + shape_str(in(i));
          }
        }
        out_ = in();
        return "";
    }
    return "has an unknown op";
  }

  // Concatenation along the last (channel) axis: every other axis must agree.
  std::string concat() {
    out_ = in();
    for (size_t i = 1; i < n_.inputs.size(); ++i) {
      const Shape& s = in(i);
      bool fits = s.size() == out_.size();
      for (size_t d = 0; fits && d + 1 < s.size(); ++d) fits = s[d] == out_[d];
      if (!fits) {
        return "concatenates along channels, so all inputs need one height and width (or all "
               "be flat), but input 1 is " +
               shape_str(in()) + " and input " + std::to_string(i + 1) + " is " + shape_str(s);
      }
      if (!checked_add(out_.back(), s.back(), &out_.back())) return "has too many channels";
    }
    return "";
  }

  Graph& g_;
  Node& n_;
  Shape out_;
};

}  // namespace

void same_padding(int64_t in, int64_t k, int64_t stride, int64_t* out, int64_t* before,
                  int64_t* after) {
  *out = in / stride + (in % stride != 0);
  // (out - 1) * stride + k - in <= in + k: no overflow for sizes that passed the input checks.
  const int64_t total = std::max<int64_t>((*out - 1) * stride + k - in, 0);
  *before = total / 2;
  *after = total - *before;
}

bool infer_shapes(Graph& g, std::vector<ShapeError>* errors) {
  bool all_shaped = true;
  for (Node& n : g.nodes) {
    n.shape.clear();
    bool inputs_shaped = true;
    for (int id : n.inputs) {
      if (id < 0 || id >= n.id || g.node(id).shape.empty()) inputs_shaped = false;
    }
    if (!inputs_shaped) {
      all_shaped = false;
      continue;
    }
    std::string message = NodeShaper(g, n).run();
    if (!message.empty()) {
      all_shaped = false;
      if (errors) errors->push_back({n.id, message});
    }
  }
  return all_shaped;
}

void infer_shapes(Graph& g) {
  std::vector<ShapeError> errors;
  if (infer_shapes(g, &errors)) return;
  std::string text = "internal error: shape inference failed";
  for (const ShapeError& e : errors) {
    text += "\n  %" + std::to_string(e.node) + " \"" + g.node(e.node).name + "\": " + e.message;
  }
  throw std::logic_error(text);
}

}  // namespace cnnc::ir
