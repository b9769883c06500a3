#include "tests/runtime/test_support.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

namespace cnnc::testing {

FakeNet::FakeNet(std::string name, int h, int w, int c, int classes, int max_batch) {
  info_.name = std::move(name);
  info_.input_h = h;
  info_.input_w = w;
  info_.input_c = c;
  info_.output_size = classes;
  info_.max_batch = max_batch;
  info_.has_training = true;
  info_.recipe.batch_size = 8;
  int64_t in = int64_t(h) * w * c;
  size_t kernel = static_cast<size_t>(in * classes);
  info_.params = {
      {"dense.kernel",
       2,
       {in, classes, 0, 0},
       0,
       kernel,
       Init::GlorotUniform,
       in,
       classes,
       0.001f,
       true},
      {"dense.bias", 1, {classes, 0, 0, 0}, kernel, size_t(classes), Init::Zeros, 0, 0, 0, true},
      {"stats.moving_mean",
       1,
       {classes, 0, 0, 0},
       kernel + classes,
       size_t(classes),
       Init::Zeros,
       0,
       0,
       0,
       false},
  };
  info_.param_floats = kernel + 2 * classes;
  params_.assign(info_.param_floats, 0.0f);
  velocity_.assign(info_.param_floats, 0.0f);
}

void FakeNet::logits(const float* image, float* z) const {
  const int64_t in = info_.input_size(), k = info_.output_size;
  const float* w = params_.data();
  const float* b = params_.data() + in * k;
  for (int64_t j = 0; j < k; ++j) z[j] = b[j];
  for (int64_t i = 0; i < in; ++i) {
    for (int64_t j = 0; j < k; ++j) z[j] += image[i] * w[i * k + j];
  }
}

static void softmax(float* z, int64_t k) {
  float m = z[0];
  for (int64_t j = 1; j < k; ++j) m = std::max(m, z[j]);
  float sum = 0;
  for (int64_t j = 0; j < k; ++j) sum += z[j] = std::exp(z[j] - m);
  for (int64_t j = 0; j < k; ++j) z[j] /= sum;
}

void FakeNet::infer(const float* images, int64_t n, float* out) {
  infer_calls_max_n = std::max(infer_calls_max_n, n);
  for (int64_t i = 0; i < n; ++i) {
    logits(images + i * info_.input_size(), out + i * info_.output_size);
    softmax(out + i * info_.output_size, info_.output_size);
  }
}

StepResult FakeNet::train_step(const float* images, const int32_t* labels, int n, const Sgd& sgd,
                               uint64_t dropout_seed, uint64_t step) {
  const int64_t in = info_.input_size(), k = info_.output_size;
  calls.push_back({sgd.learning_rate, n, std::vector<int32_t>(labels, labels + n),
                   std::vector<float>(images, images + in), dropout_seed, step});
  if (diverge) {
    StepResult nan;
    nan.loss = std::numeric_limits<double>::quiet_NaN();
    return nan;
  }
  std::vector<float> grad(info_.param_floats, 0.0f), p(static_cast<size_t>(k)), mean(k, 0.0f);
  StepResult result;
  const float l2 = info_.params[0].l2;
  for (int i = 0; i < n; ++i) {
    const float* x = images + i * in;
    logits(x, p.data());
    for (int64_t j = 0; j < k; ++j) mean[j] += p[j] / n;
    softmax(p.data(), k);
    result.loss -= std::log(std::max(p[labels[i]], 1e-30f)) / n;
    result.correct += std::max_element(p.begin(), p.end()) - p.begin() == labels[i] ? 1 : 0;
    for (int64_t j = 0; j < k; ++j) {
      float d = (p[j] - (j == labels[i] ? 1.0f : 0.0f)) / n;
      for (int64_t f = 0; f < in; ++f) grad[f * k + j] += x[f] * d;
      grad[in * k + j] += d;
    }
  }
  for (int64_t f = 0; f < in * k; ++f) {
    result.loss += l2 * params_[f] * params_[f];
    grad[f] += 2 * l2 * params_[f];
  }
  if (frozen || noop_at_steps.count(step)) return result;
  if (poison_at_steps.count(step) || inf_weights_at_steps.count(step)) {
    const bool poison = poison_at_steps.count(step) > 0;
    const float bad = poison ? std::numeric_limits<float>::quiet_NaN()
                             : std::numeric_limits<float>::infinity();
    std::fill(params_.begin(), params_.end(), bad);
    if (poison) std::fill(velocity_.begin(), velocity_.end(), bad);
    if (poison) result.loss = std::numeric_limits<double>::quiet_NaN();
    return result;
  }
  for (const ParamInfo& info : info_.params) {
    for (size_t f = info.offset; f < info.offset + info.size; ++f) {
      if (!info.trainable) continue;
      float& v = velocity_[f];
      v = sgd.momentum * v - sgd.learning_rate * grad[f];
      params_[f] += sgd.nesterov ? sgd.momentum * v - sgd.learning_rate * grad[f] : v;
    }
  }
  float* moving = params_.data() + info_.params[2].offset;
  for (int64_t j = 0; j < k; ++j) moving[j] = 0.9f * moving[j] + 0.1f * mean[j];
  return result;
}

Dataset make_dataset(int64_t n, int h, int w, int c, int classes, uint32_t seed) {
  uint32_t state = seed * 2654435761u + 12345u;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) / float(1 << 24);
  };
  Dataset d;
  d.n = n;
  d.h = h;
  d.w = w;
  d.c = c;
  int64_t size = int64_t(h) * w * c;
  d.images.resize(static_cast<size_t>(n * size));
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int32_t label = static_cast<int32_t>(i % classes);
    d.labels[i] = label;
    for (int64_t f = 0; f < size; ++f) {
      float template_value = (f % classes == label) ? 0.8f : 0.1f;
      d.images[i * size + f] = template_value + 0.3f * (next() - 0.5f);
    }
  }
  return d;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "cnnc_runtime_XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!mkdtemp(buffer.data())) std::abort();
  dir_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace cnnc::testing
