// Support for generated model sources of the cuda target (not for
// applications): device memory through Halide's CUDA runtime, one allocation
// per block (parameters, gradients, velocity, arena, ...), tensors as device
// addresses into them, copies across for inputs, labels, outputs and the host
// copies of the parameters, and a clear error where there is no GPU.
#pragma once

#include <HalideRuntimeCuda.h>
#include <dlfcn.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cnnc_kernel_abi.h"

namespace cnnc::abi {

// A device address (a CUdeviceptr) of float or int32 elements; + advances by
// elements, as on a host pointer.
struct DevicePtr {
  uint64_t address = 0;
  DevicePtr operator+(int64_t elements) const {
    return {address + uint64_t(elements) * sizeof(float)};
  }
};

// A buffer descriptor made by f32/i32 (with a null host pointer) moved to the device.
template <int D>
void place(Buffer<D>& b, DevicePtr p) {
  b.set_device(p.address, halide_cuda_device_interface());
}

inline Error cuda_error(const std::string& what) {
  return Error("CUDA: " + what + (last_halide_error.empty() ? "" : ": " + last_halide_error), 2);
}

// Loads the NVIDIA driver library into the global namespace (Halide's CUDA
// runtime looks its symbols up there first; on its own it tries only
// libcuda.so, which a driver without development files lacks) and checks that
// a GPU is there. Throws cnnc::Error (exit code 2) naming CUDA otherwise.
inline void require_gpu() {
  static const std::string failure = []() -> std::string {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) lib = dlopen("libcuda.so", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) return "cannot load the NVIDIA driver library libcuda.so.1 (no GPU driver here)";
    using Init = int (*)(unsigned);
    using Count = int (*)(int*);
    auto init = reinterpret_cast<Init>(dlsym(lib, "cuInit"));
    auto count = reinterpret_cast<Count>(dlsym(lib, "cuDeviceGetCount"));
    if (!init || !count) return "libcuda.so.1 lacks cuInit or cuDeviceGetCount";
    if (int r = init(0); r != 0) return "cuInit failed with CUDA error " + std::to_string(r);
    int devices = 0;
    if (count(&devices) != 0 || devices == 0) return "the driver sees no GPU";
    return "";
  }();
  if (!failure.empty()) {
    throw Error(
        "this model library was compiled for CUDA (--target cuda) and needs an NVIDIA "
        "GPU: " +
            failure,
        2);
  }
}

// Copies count elements (4 bytes each) between host and device memory or on
// the device: exactly one of each pair (host, device) is used.
inline void copy_elements(const void* from_host, DevicePtr from, void* to_host, DevicePtr to,
                          int64_t count) {
  const int64_t chunk = int64_t(1) << 30;  // halide_dimension_t extents are int32
  const halide_device_interface_t* cuda = halide_cuda_device_interface();
  for (int64_t done = 0; done < count; done += chunk) {
    halide_dimension_t src_dim(0, int32_t(std::min(chunk, count - done)), 1), dst_dim = src_dim;
    halide_buffer_t src = {}, dst = {};
    src.type = dst.type = halide_type_t(halide_type_float, 32);
    src.dimensions = dst.dimensions = 1;
    src.dim = &src_dim;
    dst.dim = &dst_dim;
    if (from_host) {
      src.host = const_cast<uint8_t*>(static_cast<const uint8_t*>(from_host)) + done * 4;
    } else {
      src.device = (from + done).address;
      src.device_interface = cuda;
    }
    if (to_host) {
      dst.host = static_cast<uint8_t*>(to_host) + done * 4;
    } else {
      dst.device = (to + done).address;
      dst.device_interface = cuda;
    }
    if (halide_buffer_copy(nullptr, &src, to_host ? nullptr : cuda, &dst) != 0) {
      throw cuda_error("copying " + std::to_string(count * 4) + " bytes failed");
    }
  }
}
inline void upload(const void* host, DevicePtr to, int64_t count) {
  copy_elements(host, {}, nullptr, to, count);
}
inline void download(DevicePtr from, void* host, int64_t count) {
  copy_elements(nullptr, from, host, {}, count);
}
inline void copy_on_device(DevicePtr from, DevicePtr to, int64_t count) {
  copy_elements(nullptr, from, nullptr, to, count);
}

// One device allocation of `floats` elements, zeroed.
class DeviceBlock {
 public:
  explicit DeviceBlock(size_t floats) : size_(floats) {
    // Two dimensions, so that any size fits halide_dimension_t's int32 extents.
    const int64_t columns = 1024, rows = std::max<int64_t>(1, (int64_t(floats) + 1023) / 1024);
    dims_[0] = halide_dimension_t(0, int32_t(columns), 1);
    dims_[1] = halide_dimension_t(0, int32_t(rows), int32_t(columns));
    buf_.type = halide_type_t(halide_type_float, 32);
    buf_.dimensions = 2;
    buf_.dim = dims_;
    if (halide_device_malloc(nullptr, &buf_, halide_cuda_device_interface()) != 0) {
      throw cuda_error("cannot allocate " + std::to_string(columns * rows * 4) +
                       " bytes on the GPU");
    }
    static const std::vector<float> zeros(1 << 20, 0.0f);
    for (size_t done = 0; done < floats; done += zeros.size()) {
      upload(zeros.data(), data() + int64_t(done), int64_t(std::min(zeros.size(), floats - done)));
    }
  }
  ~DeviceBlock() { halide_device_free(nullptr, &buf_); }
  DeviceBlock(const DeviceBlock&) = delete;
  DeviceBlock& operator=(const DeviceBlock&) = delete;
  DevicePtr data() const { return {buf_.device}; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  halide_dimension_t dims_[2];
  halide_buffer_t buf_ = {};
};

// Checks the GPU before anything else is allocated: the first member of a
// model's device state.
struct GpuCheck {
  GpuCheck() {
    require_gpu();
    // Intermediate buffers of the kernels (transposed weights, statistics)
    // come from a cache instead of a cuMemAlloc per call.
    halide_reuse_device_allocations(nullptr, true);
  }
};

inline bool all_finite(DevicePtr p, size_t n) {
  std::vector<float> host(n);
  download(p, host.data(), int64_t(n));
  return all_finite(host.data(), n);
}

inline double l2_penalty(DevicePtr w, size_t n, double l2) {
  std::vector<float> host(n);
  download(w, host.data(), int64_t(n));
  return l2_penalty(host.data(), n, l2);
}

}  // namespace cnnc::abi
