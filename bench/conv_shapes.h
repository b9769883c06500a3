// The distinct convolution shapes of the five seed networks (batch 1), as
// Conv2D kernel specs (deduplicated by key) with bias and ReLU ('same' pads as TensorFlow does:
// the smaller half before).
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "compiler/kernels/kernel_spec.h"

namespace cnnc::bench {

struct ConvShape {
  std::string name;  // e.g. "56x56x64-3x3-64"
  kernels::KernelSpec spec;
};

inline kernels::KernelSpec conv_spec(int64_t h, int64_t w, int64_t c, int64_t k, int64_t stride,
                                     int64_t filters, bool same) {
  kernels::KernelSpec s;
  s.kind = kernels::Kind::Conv2D;
  s.in_h = h, s.in_w = w, s.in_c = c, s.out_c = filters;
  s.kernel_h = s.kernel_w = k, s.stride_h = s.stride_w = stride;
  s.act = kernels::Act::Relu;
  s.use_bias = true;
  if (same) {
    s.out_h = (h + stride - 1) / stride, s.out_w = (w + stride - 1) / stride;
    s.pad_top = std::max<int64_t>((s.out_h - 1) * stride + k - h, 0) / 2;
    s.pad_left = std::max<int64_t>((s.out_w - 1) * stride + k - w, 0) / 2;
  } else {
    s.out_h = (h - k) / stride + 1, s.out_w = (w - k) / stride + 1;
  }
  return s;
}

inline std::vector<ConvShape> seed_conv_shapes() {
  std::vector<ConvShape> v;
  std::set<std::string> seen;
  auto add = [&](int64_t hw, int64_t c, int64_t k, int64_t stride, int64_t f, bool same = true) {
    kernels::KernelSpec s = conv_spec(hw, hw, c, k, stride, f, same);
    std::string name = std::to_string(hw) + "x" + std::to_string(hw) + "x" + std::to_string(c) +
                       "-" + std::to_string(k) + "x" + std::to_string(k) +
                       (stride > 1 ? "s" + std::to_string(stride) : "") + (same ? "" : "v") + "-" +
                       std::to_string(f);
    if (seen.insert(s.key()).second) v.push_back({name, s});
  };
  // LeNet-5.
  add(28, 1, 5, 1, 6), add(14, 6, 5, 1, 16), add(7, 16, 5, 1, 120);
  // AlexNet (seed).
  add(227, 3, 11, 4, 96, false), add(27, 96, 5, 1, 256), add(13, 256, 3, 1, 384);
  add(13, 384, 3, 1, 384), add(13, 384, 3, 1, 256);
  // VGG16.
  add(224, 3, 3, 1, 64), add(224, 64, 3, 1, 64), add(112, 64, 3, 1, 128);
  add(112, 128, 3, 1, 128), add(56, 128, 3, 1, 256), add(56, 256, 3, 1, 256);
  add(28, 256, 3, 1, 512), add(28, 512, 3, 1, 512), add(14, 512, 3, 1, 512);
  // GoogLeNet: stem, then inception blocks {in, f1, f3r, f3, f5r, f5, fp}.
  add(224, 3, 7, 2, 64), add(56, 64, 3, 1, 192);
  struct Inception {
    int64_t hw, in, f1, f3r, f3, f5r, f5, fp;
  };
  const Inception blocks[] = {
      {28, 192, 64, 96, 128, 16, 32, 32},     {28, 256, 128, 128, 192, 32, 96, 64},
      {14, 480, 192, 96, 208, 16, 48, 64},    {14, 512, 160, 112, 224, 24, 64, 64},
      {14, 512, 128, 128, 256, 24, 64, 64},   {14, 512, 112, 144, 288, 32, 64, 64},
      {14, 528, 256, 160, 320, 32, 128, 128}, {7, 832, 256, 160, 320, 32, 128, 128},
      {7, 832, 384, 192, 384, 48, 128, 128},
  };
  for (const Inception& b : blocks) {
    add(b.hw, b.in, 1, 1, b.f1), add(b.hw, b.in, 1, 1, b.f3r), add(b.hw, b.f3r, 3, 1, b.f3);
    add(b.hw, b.in, 1, 1, b.f5r), add(b.hw, b.f5r, 5, 1, b.f5), add(b.hw, b.in, 1, 1, b.fp);
  }
  // ResNet-50: stem, then per stage the first (projection) block and the
  // identity block; the stride sits on the first 1x1 and the shortcut.
  add(224, 3, 7, 2, 64);
  int64_t in = 64, hw = 56;
  for (int64_t f : {64, 128, 256, 512}) {
    const int64_t stride = f == 64 ? 1 : 2, out_hw = hw / stride;
    add(hw, in, 1, stride, f, false), add(out_hw, f, 3, 1, f), add(out_hw, f, 1, 1, 4 * f, false);
    add(hw, in, 1, stride, 4 * f, false), add(out_hw, 4 * f, 1, 1, f, false);
    in = 4 * f, hw = out_hw;
  }
  return v;
}

}  // namespace cnnc::bench
