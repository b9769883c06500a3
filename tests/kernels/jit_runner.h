// JIT-compiles a kernel with the same builder the cache uses (host target)
// and runs it on doubles converted to float.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "Halide.h"
#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_kernels.h"
#include "tests/kernels/kernel_test_util.h"

namespace cnnc::testing {

// Sizes in Halide order (innermost first): NHWC image = {c, w, h, n}.
inline Halide::Buffer<float> to_buffer(const Vec& v, const std::vector<int>& sizes) {
  Halide::Buffer<float> b(sizes);
  EXPECT_EQ(static_cast<size_t>(b.number_of_elements()), v.size());
  for (size_t i = 0; i < v.size(); ++i) b.data()[i] = static_cast<float>(v[i]);
  return b;
}

inline Vec from_buffer(const Halide::Buffer<float>& b) {
  return Vec(b.data(), b.data() + b.number_of_elements());
}

// `v` (dense, `sizes[0]` channels innermost) as channels [offset, offset +
// sizes[0]) of a wider buffer with `pixel_stride` floats per pixel; the other
// channels hold 1e9, which a kernel reading past its slice would show.
inline Halide::Buffer<float> channel_slice_buffer(const Vec& v, std::vector<int> sizes,
                                                  int pixel_stride, int offset) {
  const int c = sizes[0];
  sizes[0] = pixel_stride;
  Halide::Buffer<float> wide(sizes);
  wide.fill(1e9f);
  for (size_t i = 0; i < v.size(); ++i) {
    wide.data()[i / c * pixel_stride + offset + i % c] = static_cast<float>(v[i]);
  }
  wide.crop(0, offset, c);  // the allocation stays whole
  wide.translate(0, -offset);
  return wide;
}

// The values of a channel_slice_buffer, dense; `untouched` tells whether the
// channels outside the slice still hold 1e9 (a kernel writing its slice
// only).
inline Vec from_channel_slice(const Halide::Buffer<float>& slice, int pixel_stride, int offset,
                              bool* untouched) {
  const int c = slice.dim(0).extent();
  const int64_t pixels = slice.number_of_elements() / c;
  const float* wide = slice.data() - offset;
  Vec v;
  *untouched = true;
  for (int64_t p = 0; p < pixels; ++p) {
    for (int k = 0; k < pixel_stride; ++k) {
      const float x = wide[p * pixel_stride + k];
      if (k >= offset && k < offset + c) {
        v.push_back(x);
      } else {
        *untouched = *untouched && x == 1e9f;
      }
    }
  }
  return v;
}

inline std::vector<int> image_sizes(int64_t c, int64_t w, int64_t h, int64_t n) {
  return {static_cast<int>(c), static_cast<int>(w), static_cast<int>(h), static_cast<int>(n)};
}

// The target whose schedules the kernels get: CNNC_SCHEDULE_TARGET when set
// (e.g. "host-cuda"), else the JIT target. Kernels run on the JIT target, so
// with a GPU target's schedules its GPU loops run as parallel CPU loops: the
// GPU schedules' tiles, tails and in-place outputs checked without a GPU.
inline Halide::Target schedule_target() {
  const char* s = std::getenv("CNNC_SCHEDULE_TARGET");
  if (!s || !*s) return Halide::get_jit_target_from_environment();
  Halide::Target t(s);
  kernels::detail::run_gpu_schedules_on_cpu(t.has_gpu_feature());
  return t;
}

class JitKernel {
 public:
  explicit JitKernel(const kernels::KernelSpec& spec)
      : target_(Halide::get_jit_target_from_environment()),
        kernel_(kernels::build_kernel(spec, schedule_target())) {
    check_signature(spec);
    kernel_.pipeline.compile_jit(target_);
  }

  kernels::BuiltKernel& kernel() { return kernel_; }

  // Binds the buffer inputs in order, realizes outputs of the given sizes.
  std::vector<Vec> run(const std::vector<Halide::Buffer<>>& inputs,
                       const std::vector<std::vector<int>>& output_sizes) {
    std::vector<Halide::Buffer<>> outputs;
    for (const auto& sizes : output_sizes) outputs.push_back(Halide::Buffer<float>(sizes));
    run_into(inputs, outputs);
    std::vector<Vec> result;
    for (auto& b : outputs) result.push_back(from_buffer(Halide::Buffer<float>(b)));
    return result;
  }

  void run_into(const std::vector<Halide::Buffer<>>& inputs,
                std::vector<Halide::Buffer<>>& outputs) {
    EXPECT_EQ(inputs.size(), kernel_.inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) kernel_.inputs[i].set(inputs[i]);
    Halide::Realization r(outputs);
    kernel_.pipeline.realize(r, target_);
  }

 private:
  // The built pipeline's arguments must be exactly kernel_args(spec). Halide
  // makes Func names unique within a process ("output$3"): calls are
  // positional, so only the name before the '$' matters.
  void check_signature(const kernels::KernelSpec& spec) {
    std::vector<std::string> built;
    for (const Halide::Argument& a : kernel_.args) built.push_back(a.name);
    for (const Halide::Func& f : kernel_.outputs)
      built.push_back(f.name().substr(0, f.name().find('$')));
    std::vector<std::string> wanted;
    for (const kernels::ArgDesc& a : kernels::kernel_args(spec)) wanted.push_back(a.name);
    EXPECT_EQ(built, wanted) << spec.key();
  }

  Halide::Target target_;
  kernels::BuiltKernel kernel_;
};

}  // namespace cnnc::testing
