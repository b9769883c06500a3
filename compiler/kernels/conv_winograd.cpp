// Conv2D as Winograd F(m x m, 3 x 3) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks"), for 3x3 kernels with stride 1. The output
// is cut into m x m tiles; each reads an alpha x alpha input tile d (alpha =
// m + 2) and is Y = A^T [(G g G^T) .* (B^T d B)] A. Over all channels the
// elementwise product is alpha^2 matrix products, out_c x in_c by in_c x tiles:
// the expensive part, scheduled as the direct conv's register tile of output
// channel vectors by tiles. The weights are transformed once, at load time,
// by a kernel of their own (WinogradWeights): a 512-channel layer's U is
// 16-37 MiB, too much traffic to recompute on every call.
//
// Layouts: U(cc, ci, a, b, co) transformed weights by channel tiles (channel
// c = co * tile_c + cc), V(ci, t, n, a, b) transformed input tiles (t = tx +
// tiles_w * ty), M(cc, co, t, n, a, b) their products, O(c, t, n, ox, oy)
// output tiles; (a, b) is the point of the alpha x alpha transform.
#include <algorithm>
#include <functional>
#include <string>

#include "compiler/kernels/conv_schedule.h"
#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels {

using namespace Halide;
using detail::ceil_div;
using detail::channel_lanes;
using detail::make_input;

namespace {

using Matrix = std::vector<std::vector<float>>;

// B^T (alpha x alpha), G (alpha x 3) and A^T (m x alpha) of F(m, 3), whose
// interpolation points are 0, +-1 (m = 2) and 0, +-1, +-2 (m = 4), and infinity.
struct Transforms {
  int m;
  Matrix bt, g, at;
};

const Transforms& transforms(ConvAlgo algo) {
  static const Transforms f2{2,
                             {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
                             {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}},
                             {{1, 1, 1, 0}, {0, 1, -1, -1}}};
  static const Transforms f4{
      4,
      {{4, 0, -5, 0, 1, 0},
       {0, -4, -4, 1, 1, 0},
       {0, 4, -4, -1, 1, 0},
       {0, -2, -1, 2, 1, 0},
       {0, 2, -1, -2, 1, 0},
       {0, 4, 0, -5, 0, 1}},
      {{1.0f / 4, 0, 0},
       {-1.0f / 6, -1.0f / 6, -1.0f / 6},
       {-1.0f / 6, 1.0f / 6, -1.0f / 6},
       {1.0f / 24, 1.0f / 12, 1.0f / 6},
       {1.0f / 24, -1.0f / 12, 1.0f / 6},
       {0, 0, 1}},
      {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}}};
  return algo == ConvAlgo::WinogradF4 ? f4 : f2;
}

// sum_k row[k] * term(k), without the zero terms and the multiplications by
// +-1: the transforms are mostly those.
Expr combine(const std::vector<float>& row, const std::function<Expr(int)>& term) {
  Expr sum;
  for (int k = 0; k < static_cast<int>(row.size()); ++k) {
    if (row[k] == 0.0f) continue;
    Expr e = term(k);
    if (!sum.defined()) {
      sum = row[k] == 1.0f ? e : row[k] == -1.0f ? -e : row[k] * e;
    } else if (row[k] == 1.0f || row[k] == -1.0f) {
      sum = row[k] == 1.0f ? sum + e : sum - e;
    } else {
      sum = sum + row[k] * e;
    }
  }
  return sum;
}

// f(..., i) = sum_k matrix[i][k] * term(k) for every row i, as a mux on the
// row variable: the schedules unroll it, so each row folds to its own sum.
Expr rows(const Matrix& matrix, Expr row, const std::function<Expr(int)>& term) {
  std::vector<Expr> sums;
  for (const std::vector<float>& r : matrix) sums.push_back(combine(r, term));
  return mux(row, sums);
}

// How a spec's work is cut: blocks of whole tile rows, and the register tile
// of the products, whose channel count tile_c is also U's channel blocking
// (so the weight transform, built separately, must agree with it).
struct Plan {
  int m, tiles_w, tiles_h, rows_per_block, blocks, block_tiles;
  detail::ConvTile tile;
  int lanes, tile_c, channel_tiles;
};

Plan plan(const KernelSpec& s, const Target& target) {
  Plan p;
  p.m = transforms(s.conv_algo).m;
  p.tiles_w = ceil_div(s.out_w, p.m);
  p.tiles_h = ceil_div(s.out_h, p.m);
  // Every block reads all of U: at least 64 tiles a block, so that each U
  // value loaded serves 64 multiply-adds.
  p.rows_per_block = std::min(ceil_div(64, p.tiles_w), p.tiles_h);
  p.blocks = ceil_div(p.tiles_h, p.rows_per_block);
  p.block_tiles = p.rows_per_block * p.tiles_w;
  p.tile = detail::choose_conv_tile(s.out_c, p.block_tiles, target);
  p.lanes = std::max(p.tile.lanes, 1);
  p.tile_c = p.tile.lanes > 0 ? p.tile.vectors * p.tile.lanes : 1;
  p.channel_tiles = ceil_div(s.out_c, p.tile_c);
  return p;
}

// U's 1-D buffer read as U(cc, ci, a, b, co), channel c = co * tile_c + cc.
Expr u_index(const Plan& p, int in_c, Expr cc, Expr ci, Expr a, Expr b, Expr co) {
  const int alpha = p.m + 2;
  return cc + p.tile_c * (ci + in_c * (a + alpha * (b + alpha * co)));
}

}  // namespace

// U = G g G^T per (channel, input channel), stored by channel tiles so that
// a tile's U at one point is contiguous. Channels past out_c (the last tile
// rounded up) repeat the last one.
BuiltKernel build_winograd_weights(const KernelSpec& spec, const Target& target) {
  KernelSpec s = spec;
  s.kind = Kind::Conv2D;  // the convolution whose weights these are
  detail::check_window(s);
  detail::require(s, winograd_applies(s) && s.conv_algo != ConvAlgo::Direct,
                  "the weight transform needs a Winograd 3x3 stride-1 convolution");
  const Transforms& f = transforms(s.conv_algo);
  const Plan p = plan(s, target);
  const int in_c = static_cast<int>(s.in_c), out_c = static_cast<int>(s.out_c);
  const int alpha = p.m + 2;
  ImageParam weights = make_input("weights", {s.out_c, s.in_c, s.kernel_w, s.kernel_h}, false);
  Var cc("cc"), co("co"), ci("ci"), a("a"), b("b"), j("j"), e("e");
  Func u_x("winograd_u_x"), u("winograd_u"), transformed("transformed");
  u_x(cc, ci, a, j, co) =
      rows(f.g, a, [&](int k) { return weights(min(co * p.tile_c + cc, out_c - 1), ci, k, j); });
  u(cc, ci, a, b, co) = rows(f.g, b, [&](int k) { return u_x(cc, ci, a, k, co); });
  // Flat, in u_index's order; the buffer may be longer (winograd_weight_floats).
  const int floats = p.tile_c * in_c * alpha * alpha * p.channel_tiles;
  Expr rest = e / p.tile_c;
  Expr ci_e = rest % in_c, a_e = rest / in_c % alpha, b_e = rest / (in_c * alpha) % alpha;
  Expr co_e = rest / (in_c * alpha * alpha);
  transformed(e) = select(e < floats, u(e % p.tile_c, ci_e, a_e, b_e, co_e), 0.0f);
  detail::constrain_output(transformed, {winograd_weight_floats(s)}, false);
  // Load time only, but VGG16 has 60M floats of U: a channel tile at a time
  // (the index arithmetic once per tile), vectorized, on every core.
  Var eo("eo"), ei("ei");
  transformed.split(e, eo, ei, p.tile_c, TailStrategy::GuardWithIf)
      .parallel(eo, 64, TailStrategy::GuardWithIf);
  if (p.tile.lanes > 0) transformed.vectorize(ei, p.lanes, TailStrategy::GuardWithIf);
  BuiltKernel k = detail::finish_kernel({weights}, {transformed});
  k.schedule = "winograd weights F(" + std::to_string(p.m) + "x" + std::to_string(p.m) +
               ",3x3) channel tiles of " + std::to_string(p.tile_c);
  return k;
}

BuiltKernel build_conv2d_winograd(const KernelSpec& s, const Target& target) {
  detail::check_window(s);
  detail::require(s, winograd_applies(s), "Winograd needs a 3x3 kernel with stride 1");
  const Transforms& f = transforms(s.conv_algo);
  // Blocks of whole tile rows, each computing its V, M and O, then its output rows.
  const Plan p = plan(s, target);
  const int m = p.m, tiles_w = p.tiles_w, blocks = p.blocks, lanes = p.lanes, tile_c = p.tile_c;
  const detail::ConvTile tile = p.tile;
  const int in_c = static_cast<int>(s.in_c);

  // Channel slices of wider tensors as the direct kernel takes them.
  ImageParam input =
      detail::make_strided_input("input", {s.in_c, s.in_w, s.in_h}, true, s.in_pixel_stride);
  // U from build_winograd_weights, flat.
  ImageParam weights = make_input("weights", {winograd_weight_floats(s)}, false);
  std::vector<ImageParam> inputs = {input, weights};
  ImageParam bias, residual;
  if (s.use_bias) {
    bias = make_input("bias", {s.out_c}, false);
    inputs.push_back(bias);
  }
  if (s.residual) {
    residual = detail::make_strided_input("residual", {s.out_c, s.out_w, s.out_h}, true,
                                          s.residual_pixel_stride);
    inputs.push_back(residual);
  }
  Var c("c"), cc("cc"), co("co"), ci("ci"), x("x"), y("y"), n("n"), t("t");
  Var a("a"), b("b"), i("i"), j("j");

  Func u("winograd_u");
  u(cc, ci, a, b, co) = weights(u_index(p, in_c, cc, ci, a, b, co));

  // V = B^T d B per (input channel, tile): rows of the tile first (v_x).
  Expr tx = t % tiles_w, ty = t / tiles_w;
  Func v_x("winograd_v_x"), v("winograd_v");
  v_x(ci, t, n, a, j) = rows(f.bt, a, [&](int k) {
    return detail::zero_padded(input, ci, tx * m + k - static_cast<int>(s.pad_left),
                               ty * m + j - static_cast<int>(s.pad_top), n, s.in_w, s.in_h);
  });
  v(ci, t, n, a, b) = rows(f.bt, b, [&](int k) { return v_x(ci, t, n, a, k); });

  // M = U .* V summed over the input channels: alpha^2 matrix products.
  RDom r(0, in_c, "r");
  Func acc("winograd_acc"), prod("winograd_m");
  acc(cc, co, t, n, a, b) = 0.0f;
  acc(cc, co, t, n, a, b) += u(cc, r, a, b, co) * v(r, t, n, a, b);
  prod(cc, co, t, n, a, b) = acc(cc, co, t, n, a, b);

  // O = A^T M A, then the epilogue on each output pixel.
  Func o_x("winograd_o_x"), o("winograd_o"), output("output");
  o_x(c, t, n, i, b) =
      rows(f.at, i, [&](int k) { return prod(c % tile_c, c / tile_c, t, n, k, b); });
  o(c, t, n, i, j) = rows(f.at, j, [&](int k) { return o_x(c, t, n, i, k); });
  // The direct kernel's epilogue: bias and the residual, then the activation.
  Expr value = o(c, x / m + tiles_w * (y / m), n, x % m, y % m);
  if (s.use_bias) value += bias(c);
  if (s.residual) value += residual(c, x, y, n);
  output(c, x, y, n) = detail::apply_act(value, s.act);
  detail::constrain_output(output, {s.out_c, s.out_w, s.out_h}, true, s.out_pixel_stride);

  // Schedule. With 4 blocks or more, the blocks run in parallel; else each
  // block's work is split between the cores.
  const bool parallel_blocks = blocks >= 4;
  Var yb("yb"), yi("yi"), task("task"), to("to"), tt("tt"), cv("cv");
  output.split(y, yb, yi, m * p.rows_per_block, TailStrategy::GuardWithIf)
      .reorder(c, x, yi, yb, n)
      .fuse(yb, n, task);
  if (parallel_blocks) output.parallel(task);
  const int out_lanes = channel_lanes(s.out_c, target);
  if (out_lanes > 0) output.vectorize(c, out_lanes, TailStrategy::ShiftInwards);

  const int in_lanes = channel_lanes(s.in_c, target);
  v.compute_at(output, task).reorder(ci, a, b, t, n).unroll(a).unroll(b);
  v_x.compute_at(v, t).reorder(ci, a, j, t, n).unroll(a).unroll(j);
  if (in_lanes > 0) {
    v.split(ci, cv, ci, in_lanes, TailStrategy::ShiftInwards)
        .reorder(ci, a, b, cv, t, n)
        .vectorize(ci);
    v_x.compute_at(v, cv).vectorize(ci, in_lanes, TailStrategy::ShiftInwards);
  }
  if (!parallel_blocks) v.parallel(t, 4, TailStrategy::GuardWithIf);

  // Per point: a channel tile's U (tile_c x in_c) is reused by every tile of
  // the block, the point's V (in_c x block tiles) by every channel tile.
  prod.compute_at(output, task)
      .split(t, to, tt, tile.columns, TailStrategy::RoundUp)
      .reorder(cc, tt, to, co, a, b, n)
      .unroll(tt);
  acc.compute_at(prod, to).unroll(t);
  acc.update().reorder(cc, t, r, co, a, b, n).unroll(t);
  if (tile.lanes > 0) {
    prod.vectorize(cc, lanes).unroll(cc);
    acc.vectorize(cc, lanes).unroll(cc);
    acc.update().vectorize(cc, lanes).unroll(cc);
  }
  if (!parallel_blocks) prod.parallel(co);

  o.compute_at(output, task).reorder(c, i, j, t, n).unroll(i).unroll(j);
  o_x.compute_at(o, t).reorder(c, i, b, t, n).unroll(i).unroll(b);
  if (out_lanes > 0) {
    o.vectorize(c, out_lanes);
    o_x.vectorize(c, out_lanes);
  }
  if (!parallel_blocks) o.parallel(t, 4, TailStrategy::GuardWithIf);
  BuiltKernel k = detail::finish_kernel(inputs, {output});
  k.schedule = "winograd F(" + std::to_string(m) + "x" + std::to_string(m) + ",3x3) " +
               (tile.lanes > 0 ? detail::describe(tile) : "scalar");
  return k;
}

}  // namespace cnnc::kernels
