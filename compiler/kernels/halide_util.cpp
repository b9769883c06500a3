#include "compiler/kernels/halide_util.h"

#include <algorithm>
#include <stdexcept>

namespace cnnc::kernels::detail {

using namespace Halide;

namespace {

// Constrains dimensions 0..extents.size()-1 (and the free batch dim).
template <typename P>
void constrain_dims(P p, const std::vector<int64_t>& extents, bool batched,
                    int64_t pixel_stride = 0) {
  int64_t stride = 1;
  for (size_t i = 0; i < extents.size(); ++i) {
    p.dim(i).set_bounds(0, static_cast<int>(extents[i])).set_stride(static_cast<int>(stride));
    stride *= i == 0 && pixel_stride > 0 ? pixel_stride : extents[i];
  }
  if (batched) p.dim(extents.size()).set_min(0).set_stride(static_cast<int>(stride));
}

}  // namespace

ImageParam make_input(const std::string& name, const std::vector<int64_t>& extents, bool batched,
                      Type type) {
  ImageParam p(type, static_cast<int>(extents.size()) + (batched ? 1 : 0), name);
  constrain_dims(p, extents, batched);
  return p;
}

ImageParam make_strided_input(const std::string& name, const std::vector<int64_t>& extents,
                              bool batched, int64_t pixel_stride) {
  ImageParam p(Float(32), static_cast<int>(extents.size()) + (batched ? 1 : 0), name);
  constrain_dims(p, extents, batched, pixel_stride);
  return p;
}

void constrain_output(Func f, const std::vector<int64_t>& extents, bool batched,
                      int64_t pixel_stride) {
  constrain_dims(f.output_buffer(), extents, batched, pixel_stride);
}

namespace {

// exp(x) for float32 from Cephes' expf: x = k ln2 + r, |r| <= ln2/2, a
// degree-7 polynomial in r, then 2^k built in the exponent bits. About 1 ulp
// on the range that does not overflow, and it vectorises: Halide's exp and
// tanh become scalar libm calls.
Expr exp_f32(Expr x) {
  x = clamp(x, -87.0f, 88.0f);
  Expr k = floor(x * 1.44269504088896341f + 0.5f);
  Expr r = x - k * 0.693359375f + k * 2.12194440e-4f;
  Expr p = 1.9875691500e-4f;
  for (float c :
       {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f}) {
    p = p * r + c;
  }
  p = p * r * r + r + 1.0f;
  Expr two_k = reinterpret(Float(32), (cast<int>(k) + 127) << 23);
  return p * two_k;
}

// tanh: Cephes' odd polynomial near zero (no cancellation), 1 - 2/(e^2|x|+1)
// elsewhere.
Expr tanh_f32(Expr x) {
  Expr z = x * x;
  Expr small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                 1.33314422036e-1f) *
                    z -
                3.33332819422e-1f) *
                   z * x +
               x;
  Expr ax = abs(x);
  Expr large = 1.0f - 2.0f / (exp_f32(2.0f * ax) + 1.0f);
  return select(ax < 0.625f, small, select(x < 0.0f, -large, large));
}

}  // namespace

Expr apply_act(Expr x, Act act) {
  switch (act) {
    case Act::Linear:
      return x;
    case Act::Relu:
      return max(x, 0.0f);
    case Act::Tanh:
      return tanh_f32(x);
    case Act::Sigmoid:
      return 1.0f / (1.0f + exp_f32(-x));
  }
  return x;
}

Expr act_grad(Expr y, Expr dy, Act act) {
  switch (act) {
    case Act::Linear:
      return dy;
    case Act::Relu:
      return select(y > 0.0f, dy, 0.0f);
    case Act::Tanh:
      return dy * (1.0f - y * y);
    case Act::Sigmoid:
      return dy * y * (1.0f - y);
  }
  return dy;
}

Expr zero_padded(const ImageParam& in, Expr c, Expr x, Expr y, Expr n, int64_t width,
                 int64_t height) {
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  Expr inside = x >= 0 && x < w && y >= 0 && y < h;
  return select(inside, in(c, clamp(x, 0, w - 1), clamp(y, 0, h - 1), n), 0.0f);
}

int channel_lanes(int64_t extent, const Target& target) {
  const int natural = std::max(target.natural_vector_size<float>(), 8);
  if (extent >= natural) return natural;
  if (extent >= 8) return 8;
  return 0;
}

Var parallel_row_blocks(Func f, Var y, Var n, int64_t floats_per_row) {
  Var yn("yn"), block("row_block"), row("row");
  const int rows = units_per_task(floats_per_row);
  f.fuse(y, n, yn).split(yn, block, row, rows, TailStrategy::GuardWithIf).parallel(block);
  return row;
}

void schedule_pointwise(Func out, int64_t elems, const Target& target, bool in_place) {
  Var e = out.args()[0], n = out.args()[1];
  const int lanes = channel_lanes(elems, target);
  const TailStrategy tail = in_place ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
  if (elems >= 2 * kMinTaskFloats) {
    // Blocks of one image, of whole vectors, as even as that allows: a short
    // last block would be one more task, or with ShiftInwards a whole block
    // recomputed (25088 floats in blocks of 8192: 31% more work).
    const int64_t blocks = elems / kMinTaskFloats;
    const int64_t block = (elems + blocks * lanes - 1) / (blocks * lanes) * lanes;
    Var eo("eo"), ei("ei"), task("task");
    out.split(e, eo, ei, static_cast<int>(block), tail)
        .vectorize(ei, lanes, tail)
        .fuse(eo, n, task)
        .parallel(task);
    return;
  }
  // Whole images, as many a task as fill kMinTaskFloats.
  Var images("images"), image("image");
  const int per_task = units_per_task(elems);
  out.split(n, images, image, per_task, TailStrategy::GuardWithIf).parallel(images);
  if (lanes > 0) out.vectorize(e, lanes, tail);
}

BuiltKernel finish_kernel(const std::vector<ImageParam>& inputs, const std::vector<Func>& outputs,
                          const std::vector<Argument>& scalar_args) {
  BuiltKernel k;
  k.pipeline = Pipeline(outputs);
  k.inputs = inputs;
  k.outputs = outputs;
  for (const ImageParam& p : inputs) k.args.push_back(Argument(p));
  for (const Argument& a : scalar_args) k.args.push_back(a);
  return k;
}

void sum_task_partials(Func acc, Func partial, Expr tasks, int64_t out_c, int max_tasks,
                       int lanes) {
  Var o = partial.args()[0], i = partial.args()[1], task = partial.args()[2];
  Var ib("ib"), ii("ii");
  RDom rt(0, tasks, "rt");
  acc(o, i) = 0.0f;
  acc(o, i) += partial(o, i, rt);
  const int i_block = units_per_task(out_c * max_tasks);
  acc.compute_root()
      .split(i, ib, ii, i_block, TailStrategy::GuardWithIf)
      .vectorize(o, lanes)
      .parallel(ib);
  acc.update()
      .split(i, ib, ii, i_block, TailStrategy::GuardWithIf)
      .reorder(o, rt, ii, ib)
      .vectorize(o, lanes)
      .parallel(ib);
  partial.compute_root().vectorize(o, lanes).parallel(task);
}

BuiltKernel finish_weight_gradient(ImageParam input, ImageParam d_output, Func d_weights,
                                   Func d_bias, const std::vector<int64_t>& weight_extents,
                                   int64_t out_c, const std::string& schedule) {
  constrain_output(d_weights, weight_extents, false);
  std::vector<Func> outputs = {d_weights};
  if (d_bias.defined()) {
    constrain_output(d_bias, {out_c}, false);
    outputs.push_back(d_bias);
  }
  BuiltKernel k = finish_kernel({input, d_output}, outputs);
  k.schedule = schedule;
  return k;
}

void require(const KernelSpec& s, bool ok, const char* why) {
  if (!ok) throw std::invalid_argument("kernel spec '" + s.key() + "': " + why);
}

void check_window(const KernelSpec& s) {
  require(s, s.in_h >= 1 && s.in_w >= 1 && s.in_c >= 1 && s.out_h >= 1 && s.out_w >= 1 &&
                 s.out_c >= 1,
          "every extent must be positive");
  require(s, s.kernel_h >= 1 && s.kernel_w >= 1 && s.stride_h >= 1 && s.stride_w >= 1,
          "kernel and stride must be positive");
  require(s, s.pad_top >= 0 && s.pad_left >= 0 && s.pad_top < s.kernel_h && s.pad_left < s.kernel_w,
          "padding before must be in [0, kernel size)");
  // The last window must start on a real cell.
  require(s, (s.out_h - 1) * s.stride_h - s.pad_top <= s.in_h - 1 &&
                 (s.out_w - 1) * s.stride_w - s.pad_left <= s.in_w - 1,
          "output larger than the padded input allows");
}

void check_pixel_strides(const KernelSpec& s) {
  require(s, s.in_pixel_stride == 0 || s.in_pixel_stride >= s.in_c,
          "in_pixel_stride must be 0 or at least in_c");
  require(s, s.out_pixel_stride == 0 || s.out_pixel_stride >= s.out_c,
          "out_pixel_stride must be 0 or at least out_c");
  require(s, s.residual_pixel_stride == 0 || s.residual_pixel_stride >= s.out_c,
          "residual_pixel_stride must be 0 or at least out_c");
}

}  // namespace cnnc::kernels::detail
