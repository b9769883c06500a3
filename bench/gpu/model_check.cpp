// One generated model library, linked with this file by bench/gpu/prepare.sh
// (-include <name>.h -DMODEL=<name>):
//   check_<name> reference DIR   (the host build, on the CPU machine) writes
//                                DIR/<name>.forward.bin and DIR/<name>.update.bin
//   check_<name> check DIR       (the CUDA build, on the GPU machine) computes
//                                the same and compares: forward outputs within
//                                1e-3 relative, the training step's weight
//                                changes within 1e-2; exit 0 when both hold
//   check_<name> bench ARGS      cnnc::bench_main (--batch N --iters K [--train] --json)
// Nothing large crosses between the machines: the weights come from the
// library's own seeded initialisation, the images and labels from a fixed
// generator; the files hold the outputs and a sample of every tensor's change.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#ifndef MODEL
#error "compile with -include <name>.h -DMODEL=<name>"
#endif

namespace {

constexpr int kBatch = 4;          // images of the forward and the training step
constexpr size_t kSamples = 4096;  // changes kept per tensor, evenly spaced
constexpr uint64_t kSeed = 1;      // the weights' initialisation

// Images in [0, 1) and labels from a fixed linear congruential generator.
std::vector<float> images(const cnnc::ModelInfo& info) {
  std::vector<float> v(size_t(kBatch) * size_t(info.input_size()));
  uint64_t state = 12345;
  for (float& x : v) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x = float(state >> 40) / float(1 << 24);
  }
  return v;
}

// What the check compares: the forward outputs, then per tensor a sample of
// how the training step changed it (the same positions on both machines).
struct Result {
  std::vector<float> forward;
  std::vector<std::vector<float>> changes;
  std::vector<double> scales;  // per tensor: the largest weight before the step
};

Result compute(MODEL::Model& model) {
  const cnnc::ModelInfo& info = model.info();
  std::vector<float> x = images(info);
  Result r;
  r.forward.resize(size_t(kBatch) * size_t(info.output_size));
  model.infer(x.data(), kBatch, r.forward.data());
  std::vector<float> before(model.params(), model.params() + info.param_floats);
  std::vector<int32_t> labels(kBatch);
  for (int i = 0; i < kBatch; ++i) labels[i] = int32_t((i * 7) % info.output_size);
  cnnc::Sgd sgd;
  sgd.learning_rate = float(info.recipe.learning_rate);
  sgd.momentum = float(info.recipe.momentum);
  sgd.nesterov = info.recipe.nesterov;
  cnnc::StepResult step = model.train_step(x.data(), labels.data(), kBatch, sgd, 7, 0);
  if (!step.finite)
    std::fprintf(stderr, "training step not finite at %s\n", step.nonfinite_at.c_str());
  const float* after = model.params();
  for (const cnnc::ParamInfo& p : info.params) {
    const size_t stride = std::max<size_t>(1, p.size / kSamples);
    std::vector<float> change;
    double scale = 0;
    for (size_t i = 0; i < p.size; i += stride) {
      change.push_back(after[p.offset + i] - before[p.offset + i]);
      scale = std::max(scale, double(std::fabs(before[p.offset + i])));
    }
    r.changes.push_back(change);
    r.scales.push_back(scale);
  }
  return r;
}

void write(const std::string& path, const std::vector<float>& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  if (!out) throw cnnc::Error("cannot write " + path);
}

std::vector<float> read(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw cnnc::Error("cannot read " + path + " (run bench/gpu/prepare.sh first)");
  std::vector<float> v(size_t(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  return v;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

// max |a - b| / max(max |b|, floor)
double relative(const std::vector<float>& a, const std::vector<float>& b, double floor) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
  return diff / std::max({max_abs(b), floor, 1e-30});
}

int check(MODEL::Model& model, const std::string& dir, const std::string& name) {
  Result got = compute(model);
  std::vector<float> forward = read(dir + "/" + name + ".forward.bin");
  std::vector<float> update = read(dir + "/" + name + ".update.bin");
  const double forward_error = relative(got.forward, forward, 0);
  // A tensor's changes against the reference's, relative to their largest
  // value but at least 1e-3 of the largest change in the model (biases right
  // before a BatchNorm have zero gradients: their changes are noise) and 1e-3
  // of the tensor's largest weight (a float32 change much smaller than the
  // weight is known only to the weight's rounding).
  double largest = max_abs(update), worst = 0;
  std::string worst_name = "-";
  size_t at = 0;
  for (size_t t = 0; t < got.changes.size(); ++t) {
    const std::vector<float>& c = got.changes[t];
    if (at + c.size() > update.size())
      return std::fprintf(stderr, "%s: reference too short\n", name.c_str()), 1;
    std::vector<float> ref(update.begin() + long(at), update.begin() + long(at + c.size()));
    at += c.size();
    const double e = relative(c, ref, 1e-3 * std::max(largest, got.scales[t]));
    if (e > worst || std::isnan(e)) worst = e, worst_name = model.info().params[t].name;
  }
  const bool ok = forward_error <= 1e-3 && worst <= 1e-2 && at == update.size();
  std::printf(
      "%-10s forward rel error %.2e (<= 1e-3), training step rel error %.2e (<= 1e-2, worst %s): "
      "%s\n",
      name.c_str(), forward_error, worst, worst_name.c_str(), ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace

#define CNNC_STRING(x) #x
#define CNNC_NAME(x) CNNC_STRING(x)

int main(int argc, char** argv) {
  const std::string name = CNNC_NAME(MODEL);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "bench" && (argc != 3 || (mode != "reference" && mode != "check"))) {
    std::fprintf(stderr, "usage: %s reference|check DIR, or %s bench ARGS\n", argv[0], argv[0]);
    return 2;
  }
  try {
    MODEL::Model model(kSeed);
    if (mode == "bench") return cnnc::bench_main(model, argc - 1, argv + 1);
    if (mode == "check") return check(model, argv[2], name);
    Result r = compute(model);
    std::vector<float> update;
    for (const std::vector<float>& c : r.changes) update.insert(update.end(), c.begin(), c.end());
    write(std::string(argv[2]) + "/" + name + ".forward.bin", r.forward);
    write(std::string(argv[2]) + "/" + name + ".update.bin", update);
    return 0;
  } catch (const cnnc::Error& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return 70;
  }
}
