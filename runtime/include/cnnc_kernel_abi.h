// Support for generated model sources (not for applications): dense Halide
// buffer descriptors over raw pointers, aligned memory blocks, and the
// bookkeeping of a training step. Only the code `cnnc compile` emits includes it.
#pragma once

#include <HalideRuntime.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "cnnc_runtime.h"

namespace cnnc::abi {

// A dense buffer of D dimensions (innermost first) over memory we own elsewhere.
template <int D>
class Buffer {
 public:
  Buffer(const void* host, halide_type_t type, const std::array<int64_t, D>& extents) {
    int64_t stride = 1;
    for (int i = 0; i < D; ++i) {
      dims_[i] = halide_dimension_t(0, int32_t(extents[i]), int32_t(stride));
      stride *= extents[i];
    }
    buf_.host = static_cast<uint8_t*>(const_cast<void*>(host));
    buf_.type = type;
    buf_.dimensions = D;
    buf_.dim = dims_;
  }
  // A strided view: explicit strides, in elements, one per dimension.
  Buffer(const void* host, halide_type_t type, const std::array<int64_t, D>& extents,
         const std::array<int64_t, D>& strides)
      : Buffer(host, type, extents) {
    for (int i = 0; i < D; ++i) dims_[i].stride = int32_t(strides[i]);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  halide_buffer_t* get() { return &buf_; }
  // Device memory instead of host memory (no host copy: the kernels of a
  // GPU library read and write the device alone).
  void set_device(uint64_t address, const halide_device_interface_t* interface) {
    buf_.host = nullptr;
    buf_.device = address;
    buf_.device_interface = interface;
  }

 private:
  halide_dimension_t dims_[D > 0 ? D : 1];
  halide_buffer_t buf_ = {};
};

template <int D>
Buffer<D> f32(const float* host, const std::array<int64_t, D>& extents) {
  return Buffer<D>(host, halide_type_t(halide_type_float, 32), extents);
}
template <int D>
Buffer<D> f32(const float* host, const std::array<int64_t, D>& extents,
              const std::array<int64_t, D>& strides) {
  return Buffer<D>(host, halide_type_t(halide_type_float, 32), extents, strides);
}
template <int D>
Buffer<D> i32(const int32_t* host, const std::array<int64_t, D>& extents) {
  return Buffer<D>(host, halide_type_t(halide_type_int, 32), extents);
}

// A zeroed, 64-byte aligned block of floats.
class FloatBlock {
 public:
  explicit FloatBlock(size_t floats) : size_(floats) {
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    data_ = static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
    if (!data_) throw std::bad_alloc();
    std::memset(data_, 0, bytes);
  }
  ~FloatBlock() { std::free(data_); }
  FloatBlock(const FloatBlock&) = delete;
  FloatBlock& operator=(const FloatBlock&) = delete;
  float* data() { return data_; }
  size_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

// Halide's standalone runtime aborts the process on a failed check unless an
// error handler is installed: keep the message, and let the kernel return its
// error code so check() can turn it into an exception.
inline thread_local std::string last_halide_error;
inline void keep_halide_error(void*, const char* message) { last_halide_error = message; }
inline const bool halide_error_handler_installed = [] {
  halide_set_error_handler(keep_halide_error);
  return true;
}();

inline void check(int result, const char* layer, const char* what) {
  if (result != 0) {
    throw Error(std::string("internal error: kernel for layer '") + layer + "' (" + what +
                    ") failed with Halide error " + std::to_string(result) + ": " +
                    last_halide_error,
                70);
  }
}

// Adds the time since the previous lap to seconds[step] when profiling; with
// no profile (null) it costs one predictable branch per kernel call.
class StepClock {
 public:
  explicit StepClock(double* seconds) : seconds_(seconds) {
    if (seconds_) last_ = std::chrono::steady_clock::now();
  }
  void lap(int step) {
    if (!seconds_) return;
    auto now = std::chrono::steady_clock::now();
    seconds_[step] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  double* seconds_;
  std::chrono::steady_clock::time_point last_;
};

// Testing (Network::dump_forward): writes a host buffer's elements, densely,
// innermost dimension first, to dir/<step>-<index>.f32, and a tab-separated
// line (file, layer, purpose, operand, extents) to dir/forward.txt.
inline void dump_operand(const char* dir, uint64_t step, int index, const char* layer,
                         const char* purpose, const char* operand, const halide_buffer_t* b) {
  std::string file = std::to_string(step) + "-" + std::to_string(index) + ".f32";
  std::FILE* out = std::fopen((std::string(dir) + "/" + file).c_str(), "wb");
  std::FILE* list = std::fopen((std::string(dir) + "/forward.txt").c_str(), "a");
  if (!out || !list) {
    if (out) std::fclose(out);
    if (list) std::fclose(list);
    throw Error(std::string("dump_forward: cannot write into ") + dir);
  }
  std::fprintf(list, "%s\t%s\t%s\t%s\t", file.c_str(), layer, purpose, operand);
  int64_t count = 1;
  for (int d = 0; d < b->dimensions; ++d) {
    std::fprintf(list, "%s%d", d ? " " : "", b->dim[d].extent);
    count *= b->dim[d].extent;
  }
  std::fprintf(list, "\n");
  const float* host = reinterpret_cast<const float*>(b->host);
  for (int64_t i = 0; i < count; ++i) {  // element i at its strided offset
    int64_t at = 0, rest = i;
    for (int d = 0; d < b->dimensions; ++d) {
      at += (rest % b->dim[d].extent) * b->dim[d].stride;
      rest /= b->dim[d].extent;
    }
    std::fwrite(host + at, sizeof(float), 1, out);
  }
  bool ok = std::fclose(out) == 0;
  ok = std::fclose(list) == 0 && ok;
  if (!ok) throw Error(std::string("dump_forward: cannot write into ") + dir);
}

// True when no element is NaN or infinite (all exponent bits set), tested on
// the bits: an all-ones exponent plus one carries into the sign bit, and no
// other exponent does, so the sums are OR-ed and their sign bits read at the
// end. -O2 neither vectorises the loop nor may assume AVX: four 16-byte (SSE)
// vectors a round, in independent chains (32-byte vector types without AVX
// cost GCC stack round trips, twice the time). The gradient block, megabytes,
// is checked every training step.
inline bool all_finite(const float* p, size_t n) {
  typedef uint32_t Lanes __attribute__((vector_size(16)));
  const size_t round = 16;  // floats: four vectors
  const size_t body = n - n % round;
  const Lanes exponent = {0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u};
  const Lanes one = {0x00800000u, 0x00800000u, 0x00800000u, 0x00800000u};
  Lanes bad0 = {}, bad1 = {}, bad2 = {}, bad3 = {};
  for (size_t i = 0; i < body; i += round) {
    Lanes x0, x1, x2, x3;
    std::memcpy(&x0, p + i, sizeof x0);
    std::memcpy(&x1, p + i + 4, sizeof x1);
    std::memcpy(&x2, p + i + 8, sizeof x2);
    std::memcpy(&x3, p + i + 12, sizeof x3);
    bad0 |= (x0 & exponent) + one;
    bad1 |= (x1 & exponent) + one;
    bad2 |= (x2 & exponent) + one;
    bad3 |= (x3 & exponent) + one;
  }
  const Lanes bad_lanes = bad0 | bad1 | bad2 | bad3;
  uint32_t bad = bad_lanes[0] | bad_lanes[1] | bad_lanes[2] | bad_lanes[3];
  for (size_t i = body; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    bad |= (bits & 0x7f800000u) + 0x00800000u;
  }
  return (bad & 0x80000000u) == 0;
}

// A BatchNormalization folded into the Conv2D/Dense before it. The kernel's
// output channel is its innermost axis ([kh, kw, c_in, c_out] or [in, out]).
// bias, gamma, beta may be null (absent variables: 0, 1, 0).
inline void fold_batchnorm(const float* kernel, size_t kernel_floats, size_t channels,
                           const float* bias, const float* gamma, const float* beta,
                           const float* mean, const float* variance, double epsilon,
                           float* folded_kernel, float* folded_bias) {
  for (size_t c = 0; c < channels; ++c) {
    double scale = (gamma ? gamma[c] : 1.0) / std::sqrt(double(variance[c]) + epsilon);
    folded_bias[c] = float(((bias ? bias[c] : 0.0) - mean[c]) * scale + (beta ? beta[c] : 0.0));
    for (size_t i = c; i < kernel_floats; i += channels) {
      folded_kernel[i] = float(kernel[i] * scale);
    }
  }
}

// Two 1x1 layers as one: kernel = first [c_in, c_mid] x second [c_mid, c_out]
// and bias = first_bias x second + second_bias (null biases: zeros), summed
// in double.
inline void compose_1x1(const float* first, const float* first_bias, const float* second,
                        const float* second_bias, size_t c_in, size_t c_mid, size_t c_out,
                        float* kernel, float* bias) {
  for (size_t o = 0; o < c_out; ++o) {
    double b = second_bias ? second_bias[o] : 0.0;
    for (size_t m = 0; m < c_mid && first_bias; ++m)
      b += double(first_bias[m]) * second[m * c_out + o];
    bias[o] = float(b);
    for (size_t i = 0; i < c_in; ++i) {
      double k = 0.0;
      for (size_t m = 0; m < c_mid; ++m) k += double(first[i * c_mid + m]) * second[m * c_out + o];
      kernel[i * c_out + o] = float(k);
    }
  }
}

// Puts a part's kernel ([rows, channels], output channels innermost) and bias
// (null: zeros) at output channels [begin, begin + channels) of a merged one.
inline void copy_output_channels(const float* kernel, const float* bias, size_t rows,
                                 size_t channels, float* merged_kernel, float* merged_bias,
                                 size_t merged_channels, size_t begin) {
  for (size_t r = 0; r < rows; ++r) {
    std::memcpy(merged_kernel + r * merged_channels + begin, kernel + r * channels,
                channels * sizeof(float));
  }
  for (size_t c = 0; c < channels; ++c) merged_bias[begin + c] = bias ? bias[c] : 0.0f;
}

// l2 * sum(w^2) in double, in eight independent sums: one chain of additions
// waits on each one's latency (resnet_mini's 215K weights: 105 -> 60 us).
inline double l2_penalty(const float* w, size_t n, double l2) {
  double sums[8] = {};
  const size_t body = n - n % 8;
  for (size_t i = 0; i < body; i += 8) {
    for (size_t k = 0; k < 8; ++k) sums[k] += double(w[i + k]) * w[i + k];
  }
  for (size_t i = body; i < n; ++i) sums[i - body] += double(w[i]) * w[i];
  double sum = 0.0;
  for (double s : sums) sum += s;
  return l2 * sum;
}

// Mean loss over the batch and the number of arg-max hits.
inline StepResult summarize(const float* loss, const float* probs, const int32_t* labels, int n,
                            int64_t classes, double penalty) {
  StepResult r;
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    sum += loss[i];
    const float* p = probs + int64_t(i) * classes;
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k) {
      if (p[k] > p[best]) best = k;
    }
    if (best == labels[i]) ++r.correct;
  }
  r.loss = (n > 0 ? sum / n : 0.0) + penalty;
  return r;
}

}  // namespace cnnc::abi
