// Dropout, zero padding, channel copies and sums: the reference of the
// kernels that mask, move or add data.
#include "compiler/kernels/dropout_hash.h"
#include "compiler/reference/reference_ops.h"

namespace cnnc::reference {
namespace {

int64_t nhwc(int64_t n, int64_t h, int64_t w, int64_t c, int64_t H, int64_t W, int64_t C) {
  return ((n * H + h) * W + w) * C + c;
}

}  // namespace

Vec dropout_mask(int64_t elems, int64_t batch, uint64_t seed, uint64_t step, double rate) {
  Vec mask(elems * batch);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t e = 0; e < elems; ++e) {
      const bool keep = kernels::dropout_keeps(seed, step, static_cast<uint32_t>(n),
                                               static_cast<uint32_t>(e), rate);
      mask[n * elems + e] = keep ? 1.0 / (1.0 - rate) : 0.0;
    }
  return mask;
}

Vec dropout(int64_t elems, int64_t batch, uint64_t seed, uint64_t step, double rate,
            const Vec& input) {
  Vec out = dropout_mask(elems, batch, seed, step, rate);
  for (size_t i = 0; i < out.size(); ++i) out[i] *= input[i];
  return out;
}

Vec zero_pad(const KernelSpec& s, int64_t batch, const Vec& input) {
  Vec out(batch * s.out_h * s.out_w * s.in_c, 0.0);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t y = 0; y < s.in_h; ++y)
      for (int64_t x = 0; x < s.in_w; ++x)
        for (int64_t c = 0; c < s.in_c; ++c)
          out[nhwc(n, y + s.pad_top, x + s.pad_left, c, s.out_h, s.out_w, s.in_c)] =
              input[nhwc(n, y, x, c, s.in_h, s.in_w, s.in_c)];
  return out;
}

Vec zero_pad_backward(const KernelSpec& s, int64_t batch, const Vec& d_output) {
  Vec d_input(batch * s.in_h * s.in_w * s.in_c);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t y = 0; y < s.in_h; ++y)
      for (int64_t x = 0; x < s.in_w; ++x)
        for (int64_t c = 0; c < s.in_c; ++c)
          d_input[nhwc(n, y, x, c, s.in_h, s.in_w, s.in_c)] =
              d_output[nhwc(n, y + s.pad_top, x + s.pad_left, c, s.out_h, s.out_w, s.in_c)];
  return d_input;
}

void channel_copy(const KernelSpec& s, int64_t batch, const Vec& input, int64_t in_first,
                  Vec* output, int64_t out_first) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t y = 0; y < s.in_h; ++y)
      for (int64_t x = 0; x < s.in_w; ++x)
        for (int64_t c = 0; c < s.channels; ++c)
          (*output)[nhwc(n, y, x, out_first + c, s.in_h, s.in_w, s.out_c)] =
              input[nhwc(n, y, x, in_first + c, s.in_h, s.in_w, s.in_c)];
}

Vec add(Act act, const Vec& a, const Vec& b) {
  Vec out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = activate(a[i] + b[i], act);
  return out;
}

}  // namespace cnnc::reference
