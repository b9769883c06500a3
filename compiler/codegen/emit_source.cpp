// The source of a generated model: kernel declarations, the ModelInfo table,
// one function per pass that calls the kernels in order, and the Model class
// and C API around them.
#include <set>
#include <sstream>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/emit_util.h"

namespace cnnc::codegen {
namespace {

using lower::Operand;
using lower::Space;

const kernels::KernelSignature& signature(const ModelSource& m, const lower::Step& st) {
  auto it = m.kernels.find(st.spec.key());
  if (it == m.kernels.end()) throw std::logic_error("no compiled kernel for " + st.spec.key());
  return it->second;
}

std::string base_pointer(const ModelSource& m, const Operand& o) {
  switch (o.space) {
    case Space::Arena: return "arena + " + std::to_string(m.program.tensors.at(o.tensor).offset);
    case Space::Params: return "params + " + std::to_string(o.offset);
    case Space::Grads: return "grads + " + std::to_string(o.offset);
    case Space::Velocity: return "velocity + " + std::to_string(o.offset);
    case Space::Derived: return "derived + " + std::to_string(o.offset);
    case Space::Input: return "input";
    case Space::Labels: return "labels";
    case Space::Output: return "output";
    case Space::Scalar: break;
  }
  throw std::logic_error("scalar operand used as a buffer");
}

// One kernel call in its own block: buffer descriptors, then the call. With
// `checked`, the block then returns the step's name if an output is not finite.
// `lap`, when not negative, times the step as number `lap` of the profile.
// With `dumped` (a count of the operands dumped so far), the block writes its
// batched operands where `dump` says (Network::dump_forward). With
// `grads_checked` (host training steps), the parameter gradients it writes are
// checked for finiteness into *grads_finite right away, while they are still
// in cache, timed as the host's step `host_lap`; it is set false if an output
// there cannot be checked so (then the whole block is checked at the end).
void emit_step(const ModelSource& m, const lower::Step& st, std::ostringstream& s,
               bool checked = false, int lap = -1, int* dumped = nullptr,
               bool* grads_checked = nullptr, int host_lap = -1) {
  const kernels::KernelSignature& sig = signature(m, st);
  s << "  {  // " << st.layer << ": " << kernels::kind_name(st.spec.kind) << ", " << st.purpose
    << "\n";
  std::vector<std::string> call_args;
  std::vector<std::string> finite_checks;  // "pointer, count" of dense outputs
  std::vector<std::string> grad_checks;    // those of them in the gradient block
  std::vector<std::string> dumps;          // dump_operand calls
  int index = 0;
  for (const kernels::ArgDesc& a : sig.args) {
    auto it = st.operands.find(a.name);
    if (it == st.operands.end()) {
      throw std::logic_error("step " + st.layer + " has no operand '" + a.name + "' for " +
                             sig.function);
    }
    const Operand& o = it->second;
    if (!a.is_buffer) {
      call_args.push_back(o.scalar);
      continue;
    }
    std::string extents;
    for (int64_t e : o.extents) extents += std::to_string(e) + ", ";
    size_t dims = o.extents.size();
    if (o.batched) {
      extents += o.rows_per_image == 1 ? "n" : "int64_t(n) * " + std::to_string(o.rows_per_image);
      ++dims;
    } else if (!extents.empty()) {
      extents.resize(extents.size() - 2);
    }
    if (int(dims) != a.dims) {
      throw std::logic_error("operand '" + a.name + "' of " + st.layer + " has " +
                             std::to_string(dims) + " dimensions, kernel wants " +
                             std::to_string(a.dims));
    }
    std::string var = "b" + std::to_string(index++);
    std::string pointer = base_pointer(m, o);
    if (o.element_offset != 0) pointer = "(" + pointer + ") + " + std::to_string(o.element_offset);
    std::string strides;
    if (!o.strides.empty()) {
      strides = ", {";
      for (size_t i = 0; i < o.strides.size(); ++i) {
        strides += (i ? ", " : "") + std::to_string(o.strides[i]);
      }
      strides += "}";
    }
    // A CUDA library's buffers have no host memory, only a device address.
    s << "    auto " << var << " = cnnc::abi::" << (o.is_int32 ? "i32" : "f32") << "<" << dims
      << ">(" << (m.cuda ? "nullptr" : pointer) << ", {" << extents << "}" << strides << ");\n";
    if (m.cuda) s << "    cnnc::abi::place(" << var << ", " << pointer << ");\n";
    if (a.is_output && o.strides.empty() && !o.is_int32) {
      int64_t per = 1;
      for (int64_t e : o.extents) per *= e;
      std::string count = std::to_string(per * (o.batched ? o.rows_per_image : 1)) + (o.batched ? " * n" : "");
      finite_checks.push_back(pointer + ", " + count);
      if (o.space == Space::Grads) grad_checks.push_back(finite_checks.back());
    } else if (a.is_output && o.space == Space::Grads && grads_checked) {
      *grads_checked = false;
    }
    if (dumped && o.batched && !o.is_int32) {
      dumps.push_back("cnnc::abi::dump_operand(dump, step, " + std::to_string((*dumped)++) +
                      ", \"" + st.layer + "\", \"" + st.purpose + "\", \"" +
                      (a.is_output ? "output " : "input ") + a.name + "\", " + var + ".get());");
    }
    call_args.push_back(var + ".get()");
  }
  s << "    cnnc::abi::check(" << sig.function << "(";
  for (size_t i = 0; i < call_args.size(); ++i) s << (i ? ", " : "") << call_args[i];
  s << "), \"" << st.layer << "\", \"" << st.purpose << "\");\n";
  if (lap >= 0) s << "    clock.lap(" << lap << ");\n";
  if (grads_checked && !grad_checks.empty()) {
    for (const std::string& c : grad_checks) {
      s << "    if (grads_finite && !cnnc::abi::all_finite(" << c << ")) *grads_finite = false;\n";
    }
    s << "    clock.lap(" << host_lap << ");\n";
  }
  for (const std::string& d : dumps) s << "    if (dump) " << d << "\n";
  if (checked) {
    for (const std::string& c : finite_checks) {
      s << "    if (check && !cnnc::abi::all_finite(" << c << ")) return \"layer '" << st.layer
        << "' (" << st.purpose << ")\";\n";
    }
  }
  s << "  }\n";
}

void emit_declarations(const ModelSource& m, std::ostringstream& s) {
  std::set<std::string> done;
  s << "extern \"C\" {\n";
  auto declare = [&](const std::vector<lower::Step>& steps) {
    for (const lower::Step& st : steps) {
      const kernels::KernelSignature& sig = signature(m, st);
      if (!done.insert(sig.function).second) continue;
      s << "int " << sig.function << "(";
      for (size_t i = 0; i < sig.args.size(); ++i) {
        s << (i ? ", " : "") << (sig.args[i].is_buffer ? "halide_buffer_t*" : sig.args[i].scalar_type);
      }
      s << ");\n";
    }
  };
  declare(m.program.prepare);
  declare(m.program.infer);
  declare(m.program.train);
  declare(m.program.update);
  s << "}\n\n";
}

// The Model class of a host (CPU) library: every block in host memory.
// `grads_checked`: train_batch checks every gradient it writes (emit_step).
void emit_host_model(const ModelSource& m, int64_t statistics_floats, bool grads_checked,
                     std::ostringstream& s) {
  const std::string& name = m.graph.name;
  const lower::Program& p = m.program;
  s << "}  // namespace\n\n"
    << "struct Model::State {\n"
    << "  cnnc::abi::FloatBlock params{kParamFloats};\n"
    << "  cnnc::abi::FloatBlock grads{" << (p.has_training ? "kParamFloats" : "0") << "};\n"
    << "  cnnc::abi::FloatBlock velocity{kParamFloats};\n"
    << "  cnnc::abi::FloatBlock arena{kArenaBytes / sizeof(float)};\n"
    << "  cnnc::abi::FloatBlock statistics{" << statistics_floats << "};\n"
    << "  cnnc::abi::FloatBlock derived{" << p.derived_floats << "};\n"
    << "  bool prepared = false;  // derived is up to date with params\n"
    << "  double* step_seconds = nullptr;  // profile_steps()\n"
    << "  std::string dump_dir;  // dump_forward()\n"
    << "};\n\n"
    << "Model::Model(uint64_t seed) : state_(new State) { cnnc::initialize(*this, seed); }\n"
    << "Model::~Model() = default;\n"
    << "const cnnc::ModelInfo& Model::info() const { return model_info(); }\n"
    << "// Whoever gets the parameters may change them: derive the inference weights again.\n"
    << "float* Model::params() {\n  state_->prepared = false;\n  return state_->params.data();\n}\n"
    << "float* Model::velocity() { return state_->velocity.data(); }\n\n"
    << "void Model::infer(const float* images, int64_t n, float* out) {\n"
    << "  if (!state_->prepared) {\n"
    << "    prepare(state_->params.data(), state_->derived.data());\n"
    << "    state_->prepared = true;\n"
    << "  }\n"
    << "  for (int64_t first = 0; first < n; first += kMaxBatch) {\n"
    << "    int batch = int(std::min<int64_t>(kMaxBatch, n - first));\n"
    << "    infer_batch(state_->arena.data(), state_->params.data(), state_->derived.data(),\n"
    << "                images + first * kInputSize, batch, out + first * kOutputSize,\n"
    << "                state_->step_seconds);\n"
    << "  }\n}\n\n"
    << "void Model::profile_steps(double* seconds) { state_->step_seconds = seconds; }\n"
    << "void Model::dump_forward(const char* dir) { state_->dump_dir = dir ? dir : \"\"; }\n\n"
    << "cnnc::StepResult Model::train_step(const float* images, const int32_t* labels, int n,\n"
    << "                                   const cnnc::Sgd& sgd, uint64_t dropout_seed, uint64_t "
       "step) {\n";
  if (!p.has_training) {
    s << "  throw cnnc::Error(\"" << name
      << " was compiled without training; compile it again without --inference-only\");\n}\n\n";
  } else {
    s << "  if (n < 1 || n > kMaxBatch) {\n"
      << "    throw cnnc::Error(\"train_step: batch of \" + std::to_string(n) + \" images; this "
         "library takes 1 to \" + std::to_string(kMaxBatch) + \" (cnnc compile --batch)\");\n"
      << "  }\n"
      << "  for (int i = 0; i < n; ++i) {\n"
      << "    if (labels[i] < 0 || labels[i] >= kOutputSize) {\n"
      << "      throw cnnc::Error(\"train_step: label \" + std::to_string(labels[i]) + \" of image \" "
         "+ std::to_string(i) + \" is outside [0, \" + std::to_string(kOutputSize) + \")\");\n"
      << "    }\n  }\n"
      << "  float* params = state_->params.data();\n"
      << "  state_->prepared = false;\n"
      << "  double penalty = 0.0;  // L2 terms, on the weights the loss was computed with\n";
    for (const lower::ParamSlot& ps : m.params.slots) {
      if (ps.l2 == 0.0 || !ps.variable.trainable) continue;
      s << "  penalty += cnnc::abi::l2_penalty(params + " << ps.offset << ", " << ps.size << ", "
        << number(ps.l2) << ");\n";
    }
    s << "  float* arena = state_->arena.data();\n"
      << "  float* grads = state_->grads.data();\n"
      << "  float* statistics = state_->statistics.data();\n"
      << "  cnnc::abi::StepClock clock(state_->step_seconds);\n"
      << "  copy_statistics(params, statistics, true);\n"
      << "  const char* dump = state_->dump_dir.empty() ? nullptr : state_->dump_dir.c_str();\n"
      << "  bool grads_finite = true;\n"
      << "  train_batch(arena, params, grads, images, labels, n, dropout_seed, step, false, "
         "clock, dump,\n"
      << "              &grads_finite);\n"
      << "  cnnc::StepResult r = cnnc::abi::summarize(arena + "
      << p.tensors.at(p.loss_tensor).offset << ", arena + " << p.tensors.at(p.probs_tensor).offset
      << ", labels, n, kOutputSize, penalty);\n"
      << "  if (!std::isfinite(r.loss) || !grads_finite"
      << (grads_checked ? "" : " || !cnnc::abi::all_finite(grads, kParamFloats)") << ") {\n"
      << "    // Run the step again, checking every output, to name where it broke.\n"
      << "    copy_statistics(params, statistics, false);\n"
      << "    cnnc::abi::StepClock no_clock(nullptr);\n"
      << "    const char* at = train_batch(arena, params, grads, images, labels, n, dropout_seed, "
         "step, true,\n"
      << "                                 no_clock, nullptr, nullptr);\n"
      << "    copy_statistics(params, statistics, false);\n"
      << "    r.finite = false;\n"
      << "    r.nonfinite_at = at ? at : \"the loss or the weights' L2 term\";\n"
      << "    return r;\n"
      << "  }\n"
      << "  clock.lap(" << p.train.size() << ");  // the host's part: loss summary, checks\n"
      << "  apply_updates(params, grads, state_->velocity.data(), sgd, clock);\n"
      << "  return r;\n"
      << "}\n\n";
  }
}

}  // namespace

std::string emit_source(const ModelSource& m) {
  const std::string& name = m.graph.name;
  const lower::Program& p = m.program;
  std::ostringstream s;
  s << "// Generated by cnnc from " << m.source_file << ". Do not edit.\n"
    << "#include \"" << name << ".h\"\n\n#include <algorithm>\n#include <cmath>\n#include <cstring>\n\n"
    << "#include \"cnnc_kernel_abi.h\"\n" << (m.cuda ? "#include \"cnnc_cuda_abi.h\"\n" : "")
    << "\n";
  emit_declarations(m, s);
  // The kernel-calling functions take device addresses in a CUDA library.
  const std::string ptr = m.cuda ? "cnnc::abi::DevicePtr " : "float* ";
  const std::string in_ptr = m.cuda ? ptr : "const float* ";
  const std::string label_ptr = m.cuda ? ptr : "const int32_t* ";
  s << "namespace " << name << " {\nnamespace {\n\n" << emit_model_info(m) << "\n";

  s << "// Inference weights derived from the parameters (BatchNorm folded into the\n"
    << "// layer before it, 1x1 layers composed, parallel ones merged, then Winograd\n"
    << "// transforms), computed again whenever the parameters may have changed.\n"
    << "void prepare(const float* params, float* derived) {\n"
    << "  (void)params;\n  (void)derived;\n";
  auto at = [](const char* block, int64_t offset) {
    return offset < 0 ? std::string("nullptr") : std::string(block) + " + " + std::to_string(offset);
  };
  for (const lower::BatchNormFold& f : p.folds) {
    s << "  // " << f.batchnorm << " folded into " << f.layer << "\n"
      << "  cnnc::abi::fold_batchnorm(" << at("params", f.kernel) << ", " << f.kernel_floats << ", "
      << f.channels << ", " << at("params", f.bias) << ", " << at("params", f.gamma) << ", "
      << at("params", f.beta) << ", " << at("params", f.mean) << ", " << at("params", f.variance)
      << ", " << number(f.epsilon) << ", " << at("derived", f.derived_kernel) << ", "
      << at("derived", f.derived_bias) << ");\n";
  }
  for (const lower::ComposedWeights& c : p.composes) {
    const char* first = c.first_derived ? "derived" : "params";
    const char* second = c.second_derived ? "derived" : "params";
    s << "  // " << c.layer << ": the 1x1 convolution before it composed in\n"
      << "  cnnc::abi::compose_1x1(" << at(first, c.first_kernel) << ", " << at(first, c.first_bias)
      << ", " << at(second, c.second_kernel) << ", " << at(second, c.second_bias) << ", " << c.c_in
      << ", " << c.c_mid << ", " << c.c_out << ", " << at("derived", c.derived_kernel) << ", "
      << at("derived", c.derived_bias) << ");\n";
  }
  for (const lower::MergedWeights& mw : p.merges) {
    s << "  // " << mw.layer << ": the parts side by side along the output channels\n";
    int64_t begin = 0;
    for (const lower::MergedWeights::Part& part : mw.parts) {
      const char* block = part.derived ? "derived" : "params";
      s << "  cnnc::abi::copy_output_channels(" << at(block, part.kernel) << ", " << at(block, part.bias)
        << ", " << mw.rows << ", " << part.channels << ", " << at("derived", mw.derived_kernel) << ", "
        << at("derived", mw.derived_bias) << ", " << mw.channels << ", " << begin << ");\n";
      begin += part.channels;
    }
  }
  // prepare() runs on the host, also in a CUDA library (whose kernels take
  // device addresses): the lowering keeps kernel calls out of it there.
  if (m.cuda && !p.prepare.empty()) {
    throw std::logic_error("load-time kernel calls (Winograd weight transforms) on a GPU target");
  }
  for (const lower::Step& st : p.prepare) emit_step(m, st, s);
  s << "}\n\n";
  s << "// Inference on n <= kMaxBatch images. With `step_seconds`, adds the time\n"
    << "// of each kernel call to it (model_info().infer_steps).\n"
    << "void infer_batch(" << ptr << "arena, " << ptr << "params, " << ptr << "derived, " << in_ptr
    << "input, int n,\n"
    << "                 " << ptr << "output, double* step_seconds) {\n"
    << "  (void)params;\n  (void)derived;\n"
    << "  cnnc::abi::StepClock clock(step_seconds);\n";
  for (size_t i = 0; i < p.infer.size(); ++i) emit_step(m, p.infer[i], s, false, int(i));
  s << "}\n\n";

  bool grads_checked = false;
  if (p.has_training) {
    s << "// Forward (training mode), loss and backward on n <= kMaxBatch images. With\n"
      << "// `check`, returns the first step whose output is not finite. With\n"
      << "// `grads_finite`, clears it if a parameter gradient is not finite. `clock` times\n"
      << "// each kernel call (model_info().train_steps). With `dump` (a folder), each\n"
      << "// forward call's batched operands are written there (Network::dump_forward).\n"
      << "const char* train_batch(" << ptr << "arena, " << ptr << "params, " << ptr << "grads, "
      << in_ptr << "input,\n"
      << "                        " << label_ptr
      << "labels, int n, uint64_t dropout_seed, uint64_t step,\n"
      << "                        bool check, cnnc::abi::StepClock& clock, const char* dump,\n"
      << "                        bool* grads_finite) {\n"
      << "  (void)dropout_seed;\n  (void)step;\n  (void)dump;\n  (void)grads_finite;\n";
    int dumped = 0;
    grads_checked = !m.cuda;  // a CUDA library's gradients are on the device
    for (size_t i = 0; i < p.train.size(); ++i) {
      const lower::Step& st = p.train[i];
      bool forward = st.purpose.rfind("forward", 0) == 0;
      emit_step(m, st, s, /*checked=*/true, int(i), forward ? &dumped : nullptr,
                m.cuda ? nullptr : &grads_checked, int(p.train.size()));
    }
    s << "  return nullptr;\n}\n\n"
      << "// `clock` times the updates as model_info().train_steps after those of\n"
      << "// train_batch() and the host's step between them.\n"
      << "void apply_updates(" << ptr << "params, " << ptr << "grads, " << ptr
      << "velocity, const cnnc::Sgd& sgd,\n"
      << "                   cnnc::abi::StepClock& clock) {\n";
    for (size_t i = 0; i < p.update.size(); ++i) {
      emit_step(m, p.update[i], s, false, int(p.train.size() + 1 + i));
    }
    s << "}\n\n";
    // Moving statistics change in the forward pass: kept aside so that a
    // non-finite step changes nothing.
    s << "void copy_statistics(" << ptr << "from, " << ptr << "to, bool to_backup) {\n"
      << "  size_t at = 0;\n  (void)from;\n  (void)to;\n  (void)to_backup;\n  (void)at;\n";
    for (const lower::ParamSlot& ps : m.params.slots) {
      if (ps.variable.trainable) continue;
      if (m.cuda) {
        s << "  if (to_backup) cnnc::abi::copy_on_device(from + " << ps.offset << ", to + at, "
          << ps.size << ");\n"
          << "  else cnnc::abi::copy_on_device(to + at, from + " << ps.offset << ", " << ps.size
          << ");\n";
      } else {
        s << "  if (to_backup) std::memcpy(to + at, from + " << ps.offset << ", " << ps.size
          << " * sizeof(float));\n"
          << "  else std::memcpy(from + " << ps.offset << ", to + at, " << ps.size
          << " * sizeof(float));\n";
      }
      s << "  at += " << ps.size << ";\n";
    }
    s << "}\n\n";
  }

  int64_t statistics_floats = 0;
  for (const lower::ParamSlot& ps : m.params.slots) {
    if (!ps.variable.trainable) statistics_floats += ps.size;
  }
  if (m.cuda) {
    emit_cuda_model(m, statistics_floats, s);
  } else {
    emit_host_model(m, statistics_floats, grads_checked, s);
  }

  // C API: exceptions become return codes and a message kept per model.
  s << "}  // namespace " << name << "\n\n"
    << "struct " << name << "_model {\n  " << name << "::Model model;\n  std::string error;\n"
    << "  explicit " << name << "_model(uint64_t seed) : model(seed) {}\n};\n\n"
    << "namespace {\ntemplate <typename F>\nint " << name << "_guard(" << name
    << "_model* m, F&& f) {\n"
    << "  try {\n    f();\n    m->error.clear();\n    return 0;\n"
    << "  } catch (const cnnc::Error& e) {\n    m->error = e.what();\n    return e.exit_code();\n"
    << "  } catch (const std::exception& e) {\n    m->error = e.what();\n    return 70;\n  }\n}\n"
    << "}  // namespace\n\n"
    << "extern \"C\" {\n"
    << name << "_model* " << name << "_create(uint64_t seed) {\n"
    << "  try {\n    return new " << name << "_model(seed);\n  } catch (...) {\n    return nullptr;\n"
    << "  }\n}\n"
    << "void " << name << "_destroy(" << name << "_model* m) { delete m; }\n"
    << "int " << name << "_load_weights(" << name << "_model* m, const char* path) {\n"
    << "  return " << name << "_guard(m, [&] { m->model.load(path); });\n}\n"
    << "int " << name << "_save_weights(" << name << "_model* m, const char* path) {\n"
    << "  return " << name << "_guard(m, [&] { m->model.save(path); });\n}\n"
    << "int " << name << "_infer(" << name
    << "_model* m, const float* images, int64_t n, float* out) {\n"
    << "  return " << name << "_guard(m, [&] { m->model.infer(images, n, out); });\n}\n"
    << "const char* " << name << "_last_error(const " << name
    << "_model* m) { return m->error.c_str(); }\n"
    << "}  // extern \"C\"\n";
  return s.str();
}

}  // namespace cnnc::codegen
