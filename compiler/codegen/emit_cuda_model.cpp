// The Model class of a CUDA library: parameters, gradients, velocity, the
// moving statistics' backup, the derived inference weights and the arena live
// on the device (one allocation each); inputs, labels and outputs cross per
// call, the parameters and velocity only when the host side asks for them.
#include <sstream>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/emit_util.h"

namespace cnnc::codegen {

void emit_cuda_model(const ModelSource& m, int64_t statistics_floats, std::ostringstream& s) {
  const std::string& name = m.graph.name;
  const lower::Program& p = m.program;
  const bool derives = !p.folds.empty() || !p.merges.empty();
  s << "// Everything the kernels use, on the GPU. The arena's tensors are offsets\n"
    << "// into one allocation, planned as on the host.\n"
    << "struct DeviceState {\n"
    << "  cnnc::abi::GpuCheck gpu;  // first: a clear error where there is no GPU\n"
    << "  cnnc::abi::DeviceBlock params{kParamFloats};\n"
    << "  cnnc::abi::DeviceBlock grads{" << (p.has_training ? "kParamFloats" : "0") << "};\n"
    << "  cnnc::abi::DeviceBlock velocity{" << (p.has_training ? "kParamFloats" : "0") << "};\n"
    << "  cnnc::abi::DeviceBlock arena{kArenaBytes / sizeof(float)};\n"
    << "  cnnc::abi::DeviceBlock statistics{" << statistics_floats << "};\n"
    << "  cnnc::abi::DeviceBlock derived{" << p.derived_floats << "};\n"
    << "  cnnc::abi::DeviceBlock input{size_t(kMaxBatch) * kInputSize};\n"
    << "  cnnc::abi::DeviceBlock labels{size_t(kMaxBatch)};\n"
    << "  cnnc::abi::DeviceBlock output{size_t(kMaxBatch) * kOutputSize};\n"
    << "};\n\n"
    << "}  // namespace\n\n"
    << "// The host keeps copies of the parameters, velocity and derived weights:\n"
    << "// what params() and velocity() give, and weights files and checkpoints\n"
    << "// use. Flags say which side changed last; the copies cross only then.\n"
    << "struct Model::State {\n"
    << "  cnnc::abi::FloatBlock params{kParamFloats};\n"
    << "  cnnc::abi::FloatBlock velocity{kParamFloats};\n"
    << "  cnnc::abi::FloatBlock derived{" << p.derived_floats << "};\n"
    << "  std::unique_ptr<DeviceState> device;  // made on first use\n"
    << "  bool host_changed = true;     // params or velocity, since the last upload\n"
    << "  bool device_changed = false;  // since the last download\n"
    << "  bool prepared = false;        // the device's derived weights match params\n\n"
    << "  void to_host() {\n"
    << "    if (!device_changed) return;\n"
    << "    cnnc::abi::download(device->params.data(), params.data(), kParamFloats);\n"
    << "    if (kHasTraining) cnnc::abi::download(device->velocity.data(), velocity.data(), "
       "kParamFloats);\n"
    << "    device_changed = false;\n"
    << "  }\n\n"
    << "  DeviceState& on_device() {\n"
    << "    if (!device) device.reset(new DeviceState);\n"
    << "    if (!prepared) {\n"
    << (derives ? "      to_host();\n" : "") << "      prepare(params.data(), derived.data());\n"
    << "      cnnc::abi::upload(derived.data(), device->derived.data(), " << p.derived_floats
    << ");\n"
    << "    }\n"
    << "    if (host_changed) {\n"
    << "      cnnc::abi::upload(params.data(), device->params.data(), kParamFloats);\n"
    << "      if (kHasTraining) cnnc::abi::upload(velocity.data(), device->velocity.data(), "
       "kParamFloats);\n"
    << "      host_changed = false;\n"
    << "    }\n"
    << "    prepared = true;\n"
    << "    return *device;\n"
    << "  }\n"
    << "};\n\n"
    << "Model::Model(uint64_t seed) : state_(new State) { cnnc::initialize(*this, seed); }\n"
    << "Model::~Model() = default;\n"
    << "const cnnc::ModelInfo& Model::info() const { return model_info(); }\n"
    << "// Whoever gets the parameters may read or change them: the host copy is\n"
    << "// brought up to date and is the newer one from then on.\n"
    << "float* Model::params() {\n"
    << "  state_->to_host();\n"
    << "  state_->host_changed = true;\n"
    << "  state_->prepared = false;\n"
    << "  return state_->params.data();\n"
    << "}\n"
    << "float* Model::velocity() {\n"
    << "  state_->to_host();\n"
    << "  state_->host_changed = true;\n"
    << "  return state_->velocity.data();\n"
    << "}\n\n"
    << "void Model::infer(const float* images, int64_t n, float* out) {\n"
    << "  DeviceState& d = state_->on_device();\n"
    << "  for (int64_t first = 0; first < n; first += kMaxBatch) {\n"
    << "    int batch = int(std::min<int64_t>(kMaxBatch, n - first));\n"
    << "    cnnc::abi::upload(images + first * kInputSize, d.input.data(), batch * kInputSize);\n"
    << "    infer_batch(d.arena.data(), d.params.data(), d.derived.data(), d.input.data(), batch,\n"
    << "                d.output.data(), nullptr);\n"
    << "    cnnc::abi::download(d.output.data(), out + first * kOutputSize, batch * kOutputSize);\n"
    << "  }\n}\n\n"
    // Kernel launches return before the GPU is done: host clocks would time
    // the launches, not the kernels.
    << "void Model::profile_steps(double*) {\n"
    << "  throw cnnc::Error(\"a per-kernel profile is not available for the cuda target yet\");\n"
    << "}\n\n"
    << "cnnc::StepResult Model::train_step(const float* images, const int32_t* labels, int n,\n"
    << "                                   const cnnc::Sgd& sgd, uint64_t dropout_seed, uint64_t "
       "step) {\n";
  if (!p.has_training) {
    s << "  throw cnnc::Error(\"" << name
      << " was compiled without training; compile it again without --inference-only\");\n}\n\n";
    return;
  }
  s << "  if (n < 1 || n > kMaxBatch) {\n"
    << "    throw cnnc::Error(\"train_step: batch of \" + std::to_string(n) + \" images; this "
       "library takes 1 to \" + std::to_string(kMaxBatch) + \" (cnnc compile --batch)\");\n"
    << "  }\n"
    << "  for (int i = 0; i < n; ++i) {\n"
    << "    if (labels[i] < 0 || labels[i] >= kOutputSize) {\n"
    << "      throw cnnc::Error(\"train_step: label \" + std::to_string(labels[i]) + \" of image "
       "\" "
       "+ std::to_string(i) + \" is outside [0, \" + std::to_string(kOutputSize) + \")\");\n"
    << "    }\n  }\n"
    << "  DeviceState& d = state_->on_device();\n"
    << "  double penalty = 0.0;  // L2 terms, on the weights the loss was computed with\n";
  for (const lower::ParamSlot& ps : m.params.slots) {
    if (ps.l2 == 0.0 || !ps.variable.trainable) continue;
    s << "  penalty += cnnc::abi::l2_penalty(d.params.data() + " << ps.offset << ", " << ps.size
      << ", " << number(ps.l2) << ");\n";
  }
  const int64_t loss_at = p.tensors.at(p.loss_tensor).offset;
  const int64_t probs_at = p.tensors.at(p.probs_tensor).offset;
  s << "  cnnc::abi::upload(images, d.input.data(), n * kInputSize);\n"
    << "  cnnc::abi::upload(labels, d.labels.data(), n);\n"
    << "  copy_statistics(d.params.data(), d.statistics.data(), true);\n"
    << "  cnnc::abi::StepClock no_clock(nullptr);  // profile_steps() refuses this target\n"
    << "  train_batch(d.arena.data(), d.params.data(), d.grads.data(), d.input.data(),\n"
    << "              d.labels.data(), n, dropout_seed, step, false, no_clock, nullptr,\n"
    << "              nullptr);\n"
    << "  // The moving statistics (part of params) changed on the device.\n"
    << "  state_->device_changed = true;\n"
    << "  state_->prepared = false;\n"
    << "  std::vector<float> loss(n), probs(n * kOutputSize);\n"
    << "  cnnc::abi::download(d.arena.data() + " << loss_at << ", loss.data(), n);\n"
    << "  cnnc::abi::download(d.arena.data() + " << probs_at
    << ", probs.data(), n * kOutputSize);\n"
    << "  cnnc::StepResult r = cnnc::abi::summarize(loss.data(), probs.data(), labels, n, "
       "kOutputSize, penalty);\n"
    << "  // Only the loss is checked here: the host build also checks every gradient,\n"
    << "  // which on the GPU would download all of them each step.\n"
    << "  if (!std::isfinite(r.loss)) {\n"
    << "    // Run the step again, checking every output, to name where it broke.\n"
    << "    copy_statistics(d.params.data(), d.statistics.data(), false);\n"
    << "    const char* at = train_batch(d.arena.data(), d.params.data(), d.grads.data(),\n"
    << "                                 d.input.data(), d.labels.data(), n, dropout_seed, step, "
       "true, no_clock, nullptr, nullptr);\n"
    << "    copy_statistics(d.params.data(), d.statistics.data(), false);\n"
    << "    r.finite = false;\n"
    << "    r.nonfinite_at = at ? at : \"the loss or the weights' L2 term\";\n"
    << "    return r;\n"
    << "  }\n"
    << "  apply_updates(d.params.data(), d.grads.data(), d.velocity.data(), sgd, no_clock);\n"
    << "  return r;\n"
    << "}\n\n";
}

}  // namespace cnnc::codegen
