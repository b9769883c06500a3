// BatchNormalization over (c, rows): inference with the moving statistics,
// training with the batch statistics (and the moving averages' update), and
// the training-mode gradient. Statistics are sums over rows in double, in one
// pass over the input, blocks of rows in parallel. In training an activation
// may follow in the same kernel (act): the backward kernel then computes its
// output again, bit for bit, and takes the activation's derivative first
// (reading x costs nothing more: it reads x anyway). Training may also add a
// residual before the activation (ResNet's sum); the backward of that sum
// and activation (BatchNormGradSums) also makes the sums the backward kernels
// of its BatchNorms then take (given_sums), saving them a pass over memory.
// Pointwise outputs compute each element once from the same element of the
// inputs, so output may alias input (and d_input d_output).
#include <algorithm>
#include <functional>
#include <stdexcept>

#include "compiler/kernels/gpu_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::channel_lanes;
using detail::constrain_output;
using detail::make_input;

namespace {

// Rows reduced by one parallel task: about 32K elements.
int rows_per_block(int64_t channels) {
  return static_cast<int>(std::max<int64_t>(1, 32768 / channels));
}

Expr f64(double v) { return Expr(v); }

// A sum of the gradient's terms over `count` rows as the float mean the
// backward kernel's coefficients use (BatchNormGradSums makes the same).
Expr grad_mean(Expr sum, Expr count) { return cast<float>(sum / count); }

// Training's y = ((x - mean) - mean_lo) * scale + beta: the mean as a float
// pair, x - mean is exact for x near it, so a large mean costs no precision
// (float x - float(mean) would); strict_float keeps the simplifier from
// reassociating it. BatchNormBackward computes y again from this same
// expression and gets the same bits (the same single multiply-add), so its
// ReLU decisions are the forward's.
Expr normalized(Expr x, Expr mean, Expr mean_lo, Expr scale, Expr beta) {
  return strict_float((x - mean) - mean_lo) * scale + beta;
}

// Computed once before its consumers (on a GPU, as kernels of its own).
void at_root(Func f, const Target& t) {
  if (detail::is_gpu(t)) {
    detail::gpu_root(f);
  } else {
    f.compute_root();
  }
}

void check_channels(const KernelSpec& s) {
  detail::require(s, s.in_c >= 1, "in_c must be positive");
}

// total(c) = sum over rows of term(c, row), one double or a Tuple of them.
// Blocks of rows reduce in parallel (rfactor), channels innermost. A
// pointwise output `fused`(c, row), when given, is computed in the same
// blocks right after their sums, while the block's inputs are still in
// the cache: one pass over memory instead of two.
Func channel_sums(const std::string& name, const std::vector<Expr>& terms, Var ch, RDom r,
                  int64_t channels, const Target& t, Func fused = Func()) {
  Func total(name);
  std::vector<Expr> zeros, updates;
  for (size_t i = 0; i < terms.size(); ++i) zeros.push_back(cast<double>(0));
  total(ch) = terms.size() == 1 ? Tuple(zeros[0]) : Tuple(zeros);
  for (size_t i = 0; i < terms.size(); ++i) {
    Expr previous = terms.size() == 1 ? Expr(total(ch)) : Expr(total(ch)[i]);
    updates.push_back(previous + terms[i]);
  }
  total(ch) = terms.size() == 1 ? Tuple(updates[0]) : Tuple(updates);
  RVar ro("ro"), ri("ri");
  Var block("block");
  // A GPU thread reduces 256 rows of one channel: many threads, short sums.
  const int block_rows = detail::is_gpu(t) ? 256 : rows_per_block(channels);
  total.update().split(r.x, ro, ri, block_rows);
  Func partial = total.update().rfactor(ro, block);
  if (detail::is_gpu(t)) {
    detail::gpu_root(partial);
    detail::gpu_root(total);
    if (fused.defined()) detail::gpu_pointwise(fused);
    return total;
  }
  total.compute_root();
  partial.compute_root().update().reorder(ch, ri, block).parallel(block);
  const int lanes = channel_lanes(channels, t);
  if (lanes > 0) {
    partial.vectorize(ch, lanes, TailStrategy::GuardWithIf);
    partial.update().vectorize(ch, lanes, TailStrategy::GuardWithIf);
  }
  if (fused.defined()) {
    // compute_with matches loops by name: the block loop is `block` in both.
    Var fch = fused.args()[0], row = fused.args()[1], rest("rest");
    fused.split(row, block, rest, block_rows, TailStrategy::GuardWithIf).parallel(block);
    if (lanes > 0) fused.vectorize(fch, lanes, TailStrategy::GuardWithIf);
    fused.compute_with(partial.update(0), block);
  }
  return total;
}

// out(c, row): channels as the vector axis (guarded: no element twice),
// blocks of rows in parallel.
void schedule_channel_rows(Func out, int64_t channels, const Target& t) {
  if (detail::is_gpu(t)) return detail::gpu_pointwise(out);
  Var ch = out.args()[0], row = out.args()[1], ro("ro"), ri("ri");
  const int lanes = channel_lanes(channels, t);
  out.split(row, ro, ri, rows_per_block(channels), TailStrategy::GuardWithIf).parallel(ro);
  if (lanes > 0) out.vectorize(ch, lanes, TailStrategy::GuardWithIf);
}

// The per-channel vectors: gamma and beta when present, else 1 and 0.
struct Affine {
  std::vector<ImageParam> params;  // in argument order
  Expr gamma, beta;
};
Affine affine_params(const KernelSpec& s, Var ch, bool with_beta) {
  Affine a;
  a.gamma = 1.0f;
  a.beta = 0.0f;
  if (s.scale) {
    a.params.push_back(make_input("gamma", {s.in_c}, false));
    a.gamma = a.params.back()(ch);
  }
  if (s.center && with_beta) {
    a.params.push_back(make_input("beta", {s.in_c}, false));
    a.beta = a.params.back()(ch);
  }
  return a;
}

std::vector<ImageParam> concat(std::vector<ImageParam> a, const std::vector<ImageParam>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

BuiltKernel build_batch_norm_inference(const KernelSpec& s, const Target& t) {
  check_channels(s);
  Var ch("ch"), row("row");
  ImageParam input = make_input("input", {s.in_c}, true);
  Affine affine = affine_params(s, ch, true);
  ImageParam moving_mean = make_input("moving_mean", {s.in_c}, false);
  ImageParam moving_variance = make_input("moving_variance", {s.in_c}, false);
  // y = (x - mean) * scale + beta, scale = gamma / sqrt(var + eps) per channel.
  Func scale("bn_scale"), output("output");
  scale(ch) = cast<float>(cast<double>(affine.gamma) /
                          sqrt(cast<double>(moving_variance(ch)) + f64(s.epsilon)));
  output(ch, row) = (input(ch, row) - moving_mean(ch)) * scale(ch) + affine.beta;
  constrain_output(output, {s.in_c}, true);
  at_root(scale, t);
  schedule_channel_rows(output, s.in_c, t);
  return detail::finish_kernel(
      concat(concat({input}, affine.params), {moving_mean, moving_variance}), {output});
}

BuiltKernel build_batch_norm_training(const KernelSpec& s, const Target& t) {
  check_channels(s);
  Var ch("ch"), row("row");
  ImageParam input = make_input("input", {s.in_c}, true);
  Affine affine = affine_params(s, ch, true);
  ImageParam moving_mean = make_input("moving_mean", {s.in_c}, false);
  ImageParam moving_variance = make_input("moving_variance", {s.in_c}, false);
  Expr rows = input.dim(1).extent();
  RDom r(0, rows, "r");
  Expr count = cast<double>(rows);

  // One pass: sums of d = x - shift and of d * d, shifted by the channel's
  // first value so that a large mean cancels before the squares (the
  // variance E[d^2] - E[d]^2 then loses nothing to it).
  Func shift("bn_shift");
  shift(ch) = cast<double>(input(ch, 0));
  Expr d = cast<double>(input(ch, r)) - shift(ch);
  Func sums = channel_sums("bn_sums", {d, d * d}, ch, r, s.in_c, t);
  Func mean("bn_mean");
  Expr mean_d = sums(ch)[0] / count;
  mean(ch) = shift(ch) + mean_d;
  Func variance("bn_variance"), inv_std("bn_inv_std");
  variance(ch) = max(sums(ch)[1] / count - mean_d * mean_d, f64(0.0));
  inv_std(ch) = f64(1.0) / sqrt(variance(ch) + f64(s.epsilon));
  at_root(shift, t);
  at_root(mean, t);
  at_root(inv_std, t);

  Func output("output"), batch_mean("batch_mean"), batch_inv_std("batch_inv_std");
  Func batch_affine("batch_affine");
  Func new_moving_mean("new_moving_mean"), new_moving_variance("new_moving_variance");
  Func mean_f("bn_mean_f"), mean_lo("bn_mean_lo"), scale_f("bn_scale_f");
  mean_f(ch) = cast<float>(mean(ch));
  mean_lo(ch) = cast<float>(mean(ch) - cast<double>(mean_f(ch)));
  scale_f(ch) = cast<float>(inv_std(ch) * cast<double>(affine.gamma));
  Expr y = normalized(input(ch, row), mean_f(ch), mean_lo(ch), scale_f(ch), affine.beta);
  std::vector<ImageParam> residual;
  if (s.residual) {
    residual.push_back(make_input("residual", {s.in_c}, true));
    Expr r = residual[0](ch, row);
    if (s.residual_bn) {  // a BatchNorm's input: normalised as its stats_only call did
      for (const char* name : {"residual_beta", "residual_mean"})
        residual.push_back(make_input(name, {s.in_c}, false));
      residual.push_back(make_input("residual_affine", {s.in_c, 2}, false));
      r = normalized(r, residual[2](ch), residual[3](ch, 0), residual[3](ch, 1), residual[1](ch));
    }
    y = y + r;
  }
  output(ch, row) = detail::apply_act(y, s.act);
  batch_mean(ch) = mean_f(ch);
  batch_inv_std(ch) = cast<float>(inv_std(ch));
  Var which("which");
  batch_affine(ch, which) = select(which == 0, mean_lo(ch), scale_f(ch));
  // Each moving value is read and written at the same channel, once: the
  // outputs may alias moving_mean / moving_variance.
  Expr m = f64(s.momentum), rest = f64(1.0 - s.momentum);
  Expr unbiased = variance(ch) * count / max(count - f64(1.0), f64(1.0));
  new_moving_mean(ch) = cast<float>(m * cast<double>(moving_mean(ch)) + rest * mean(ch));
  new_moving_variance(ch) = cast<float>(m * cast<double>(moving_variance(ch)) + rest * unbiased);
  for (Func f : {batch_mean, batch_inv_std, new_moving_mean, new_moving_variance})
    constrain_output(f, {s.in_c}, false);
  constrain_output(batch_affine, {s.in_c, 2}, false);
  for (Func f : {mean_f, mean_lo, scale_f}) at_root(f, t);
  if (detail::is_gpu(t)) {
    for (Func f : {batch_mean, batch_inv_std, batch_affine, new_moving_mean, new_moving_variance}) {
      detail::gpu_pointwise(f);
    }
  }
  std::vector<Func> outputs = {batch_mean, batch_inv_std, batch_affine, new_moving_mean,
                               new_moving_variance};
  if (!s.stats_only) {
    constrain_output(output, {s.in_c}, true);
    schedule_channel_rows(output, s.in_c, t);
    outputs.insert(outputs.begin(), output);
  }
  return detail::finish_kernel(
      concat(concat(concat({input}, affine.params), {moving_mean, moving_variance}), residual),
      outputs);
}

// With xhat = (x - mean) * inv_std and N rows:
//   d_beta = sum dy, d_gamma = sum dy * xhat,
//   dx = gamma * inv_std * (dy - d_beta / N - xhat * d_gamma / N).
BuiltKernel build_batch_norm_backward(const KernelSpec& s, const Target& t) {
  check_channels(s);
  Var ch("ch"), row("row");
  ImageParam input = make_input("input", {s.in_c}, true);
  ImageParam d_output = make_input("d_output", {s.in_c}, true);
  const bool relu = s.act == Act::Relu;
  Affine affine = affine_params(s, ch, relu);
  ImageParam batch_mean = make_input("batch_mean", {s.in_c}, false);
  ImageParam batch_inv_std = make_input("batch_inv_std", {s.in_c}, false);
  std::vector<ImageParam> inputs = {input, d_output}, stats = {batch_mean, batch_inv_std};
  // dy: d(loss)/d(BatchNorm's output), through the fused activation's output
  // y: read (tanh, sigmoid), or for ReLU computed again from the input (a
  // pass over y fewer), exactly: its decisions are then the forward's (a
  // tanh computed in another kernel might differ in the last bit).
  std::function<Expr(Expr)> dy_at = [&](Expr at) { return d_output(ch, at); };
  if (s.act == Act::Tanh || s.act == Act::Sigmoid) {
    ImageParam output = make_input("output", {s.in_c}, true);
    inputs.push_back(output);
    dy_at = [&, output](Expr at) {
      return detail::act_grad(output(ch, at), d_output(ch, at), s.act);
    };
  }
  if (relu) {
    stats.push_back(make_input("batch_affine", {s.in_c, 2}, false));
    dy_at = [&, batch_affine = stats.back()](Expr at) {
      Expr y = normalized(input(ch, at), batch_mean(ch), batch_affine(ch, 0), batch_affine(ch, 1),
                          affine.beta);
      return detail::act_grad(detail::apply_act(y, s.act), d_output(ch, at), s.act);
    };
  }
  Expr rows = input.dim(1).extent();
  RDom r(0, rows, "r");
  Expr count = cast<double>(rows);

  // sum dy and sum dy * xhat: reduced here, or (given_sums) their means
  // made by the BatchNormGradSums step before, from the same sums.
  Func sums("bn_grad_sums"), coeffs("bn_grad_coeffs");  // gamma * inv_std, mean dy, mean dy * xhat
  std::vector<ImageParam> given;
  if (s.given_sums) {
    detail::require(s, s.act == Act::Linear, "given_sums takes no activation");
    given.push_back(make_input("grad_means", {s.in_c, 2}, false));
    coeffs(ch) = Tuple(affine.gamma * batch_inv_std(ch), given[0](ch, 0), given[0](ch, 1));
  } else {
    Expr xhat_r = (input(ch, r) - batch_mean(ch)) * batch_inv_std(ch);
    Expr dy_r = cast<double>(dy_at(r));
    sums = channel_sums("bn_grad_sums", {dy_r, dy_r * cast<double>(xhat_r)}, ch, r, s.in_c, t);
    coeffs(ch) = Tuple(affine.gamma * batch_inv_std(ch), grad_mean(sums(ch)[0], count),
                       grad_mean(sums(ch)[1], count));
  }
  at_root(coeffs, t);

  Expr xhat = (input(ch, row) - batch_mean(ch)) * batch_inv_std(ch);
  Func d_input("d_input"), d_gamma("d_gamma"), d_beta("d_beta");
  d_input(ch, row) = coeffs(ch)[0] * (dy_at(row) - coeffs(ch)[1] - xhat * coeffs(ch)[2]);
  constrain_output(d_input, {s.in_c}, true);
  schedule_channel_rows(d_input, s.in_c, t);
  std::vector<Func> outputs = {d_input};
  if (s.scale && !s.given_sums) {
    d_gamma(ch) = cast<float>(sums(ch)[1]);
    constrain_output(d_gamma, {s.in_c}, false);
    outputs.push_back(d_gamma);
  }
  if (s.center && !s.given_sums) {
    d_beta(ch) = cast<float>(sums(ch)[0]);
    constrain_output(d_beta, {s.in_c}, false);
    outputs.push_back(d_beta);
  }
  if (detail::is_gpu(t)) {
    for (size_t i = 1; i < outputs.size(); ++i) detail::gpu_pointwise(outputs[i]);
  }
  return detail::finish_kernel(concat(concat(concat(inputs, affine.params), stats), given),
                               outputs);
}

// The backward of a BatchNorm's fused residual and activation, dz = act'(y) *
// (d_output + d_residual), with the sums its BatchNormBackward (given_sums)
// needs: those of the BatchNorm and, with batch_norms 2, of the BatchNorm
// its residual is (ResNet's projection shortcut: both get dz). dz is written
// in the blocks of rows of the sums, while they are in the cache.
BuiltKernel build_batch_norm_grad_sums(const KernelSpec& s, const Target& t) {
  check_channels(s);
  detail::require(s, s.batch_norms == 1 || s.batch_norms == 2, "batch_norms must be 1 or 2");
  Var ch("ch"), row("row");
  ImageParam output = make_input("output", {s.in_c}, true);
  ImageParam d_output = make_input("d_output", {s.in_c}, true);
  std::vector<ImageParam> inputs = {output, d_output};
  if (s.residual) inputs.push_back(make_input("d_residual", {s.in_c}, true));
  auto dz_at = [&](Expr at) {
    Expr dy = d_output(ch, at);
    if (s.residual) dy = dy + inputs[2](ch, at);
    return detail::act_grad(output(ch, at), dy, s.act);
  };
  RDom r(0, output.dim(1).extent(), "r");
  Expr count = cast<double>(output.dim(1).extent());
  Expr dz_r = cast<double>(dz_at(r));
  std::vector<Expr> terms = {dz_r};  // sum dz, then sum dz * xhat of each BatchNorm
  for (int k = 0; k < s.batch_norms; ++k) {
    const std::string suffix = k == 0 ? "" : "2";
    ImageParam x = make_input("input" + suffix, {s.in_c}, true);
    ImageParam mean = make_input("batch_mean" + suffix, {s.in_c}, false);
    ImageParam inv_std = make_input("batch_inv_std" + suffix, {s.in_c}, false);
    inputs.insert(inputs.end(), {x, mean, inv_std});
    // The terms, and the blocks, of BatchNormBackward's own sums.
    terms.push_back(dz_r * cast<double>((x(ch, r) - mean(ch)) * inv_std(ch)));
  }
  Func d_input("d_input");
  d_input(ch, row) = dz_at(row);
  constrain_output(d_input, {s.in_c}, true);
  Func sums = channel_sums("bn_grad_sums", terms, ch, r, s.in_c, t, d_input);
  std::vector<Func> outputs = {d_input};
  for (int k = 0; k < s.batch_norms; ++k) {
    const std::string suffix = k == 0 ? "" : "2";
    Func d_gamma("d_gamma" + suffix), d_beta("d_beta" + suffix), means("grad_means" + suffix);
    Var which("which");
    d_gamma(ch) = cast<float>(sums(ch)[1 + k]);
    d_beta(ch) = cast<float>(sums(ch)[0]);
    means(ch, which) =
        select(which == 0, grad_mean(sums(ch)[0], count), grad_mean(sums(ch)[1 + k], count));
    constrain_output(d_gamma, {s.in_c}, false);
    constrain_output(d_beta, {s.in_c}, false);
    constrain_output(means, {s.in_c, 2}, false);
    for (Func f : {d_gamma, d_beta, means}) {
      if (detail::is_gpu(t)) detail::gpu_pointwise(f);
      outputs.push_back(f);
    }
  }
  return detail::finish_kernel(inputs, outputs);
}

}  // namespace cnnc::kernels
