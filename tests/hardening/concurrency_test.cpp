// Two instances of a generated model (LeNet-5) used from two threads at once
// give the same results, bit for bit, as the same work done one after the
// other: inference (chunked above the compile-time batch) and training steps.
// Built with -fsanitize=thread together with the generated source and the
// runtime; the Halide kernels and Halide runtime come uninstrumented from the
// generated archive.
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "lenet5.h"

namespace {

struct Work {
  std::vector<float> images;  // kImages NHWC images
  std::vector<int32_t> labels;
};

struct Trace {
  std::vector<float> first_infer, last_infer, params, velocity;
  std::vector<double> losses;
};

constexpr int kImages = 40;  // more than lenet5::kMaxBatch: infer() chunks
constexpr int kSteps = 4;

Work make_work(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  Work w;
  w.images.resize(size_t(kImages) * lenet5::kInputSize);
  for (float& v : w.images) v = pixel(rng);
  for (int i = 0; i < kImages; ++i) w.labels.push_back(int32_t(rng() % lenet5::kOutputSize));
  return w;
}

Trace exercise(uint64_t seed, const Work& w) {
  lenet5::Model model(seed);
  Trace t;
  t.first_infer.resize(size_t(kImages) * lenet5::kOutputSize);
  model.infer(w.images.data(), kImages, t.first_infer.data());
  const cnnc::Sgd sgd{0.01f, 0.9f, false};
  for (int step = 0; step < kSteps; ++step) {
    const int first = (step * 8) % (kImages - lenet5::kMaxBatch + 1);
    cnnc::StepResult r =
        model.train_step(w.images.data() + size_t(first) * lenet5::kInputSize,
                         w.labels.data() + first, lenet5::kMaxBatch, sgd, 123, uint64_t(step));
    t.losses.push_back(r.loss);
  }
  t.last_infer.resize(t.first_infer.size());
  model.infer(w.images.data(), kImages, t.last_infer.data());
  t.params.assign(model.params(), model.params() + lenet5::kParamFloats);
  t.velocity.assign(model.velocity(), model.velocity() + lenet5::kParamFloats);
  return t;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

bool same(const Trace& a, const Trace& b, const char* what) {
  bool ok = true;
  auto check = [&](bool equal, const char* part) {
    if (!equal) std::fprintf(stderr, "FAIL: %s: %s differs\n", what, part);
    ok = ok && equal;
  };
  check(same_bits(a.first_infer, b.first_infer), "first inference");
  check(same_bits(a.losses, b.losses), "training losses");
  check(same_bits(a.last_infer, b.last_infer), "inference after training");
  check(same_bits(a.params, b.params), "weights");
  check(same_bits(a.velocity, b.velocity), "velocity");
  return ok;
}

}  // namespace

int main() {
  const Work work_a = make_work(1), work_b = make_work(2);
  const Trace sequential_a = exercise(0, work_a), sequential_b = exercise(7, work_b);
  bool ok = true;
  for (int round = 0; round < 2; ++round) {
    Trace concurrent_a, concurrent_b;
    std::thread thread_a([&] { concurrent_a = exercise(0, work_a); });
    std::thread thread_b([&] { concurrent_b = exercise(7, work_b); });
    thread_a.join();
    thread_b.join();
    ok = same(sequential_a, concurrent_a, "model A") && ok;
    ok = same(sequential_b, concurrent_b, "model B") && ok;
  }
  if (!ok) return 1;
  std::printf("PASS: two models on two threads match the sequential runs bit for bit\n");
  return 0;
}
