// The ModelInfo table of a generated model: shapes, the parameter table and
// the training recipe, as C++ that builds a cnnc::ModelInfo once.
#include <iomanip>
#include <sstream>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/emit_util.h"

namespace cnnc::codegen {
namespace {

const char* init_name(ir::Initializer i) {
  switch (i) {
    case ir::Initializer::GlorotUniform: return "GlorotUniform";
    case ir::Initializer::GlorotNormal: return "GlorotNormal";
    case ir::Initializer::HeUniform: return "HeUniform";
    case ir::Initializer::HeNormal: return "HeNormal";
    case ir::Initializer::Zeros: return "Zeros";
    case ir::Initializer::Ones: return "Ones";
  }
  return "Zeros";
}

const char* schedule_name(LrSchedule::Type t) {
  switch (t) {
    case LrSchedule::Type::Constant: return "Constant";
    case LrSchedule::Type::Piecewise: return "Piecewise";
    case LrSchedule::Type::Step: return "Step";
    case LrSchedule::Type::Plateau: return "Plateau";
  }
  return "Constant";
}

template <typename T>
std::string list(const std::vector<T>& v) {
  std::ostringstream s;
  s << "{";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << number(double(v[i]));
  s << "}";
  return s.str();
}

// Floating-point operations per image of a step: 2 per multiply-add of the
// convolutions and matrix products (each backward one does as many as its
// forward); 0 for kernels that mostly move data.
double flops_per_image(const lower::Step& st) {
  const kernels::KernelSpec& k = st.spec;
  switch (k.kind) {
    case kernels::Kind::Conv2D:
    case kernels::Kind::Conv2DBackwardData:
    case kernels::Kind::Conv2DBackwardFilter:
      // A pair of data gradients (pair_out_c) does both convolutions' work.
      return 2.0 * double(k.out_h * k.out_w * (k.out_c + k.pair_out_c)) *
             double(k.kernel_h * k.kernel_w * k.in_c);
    case kernels::Kind::Dense:
    case kernels::Kind::DenseBackwardData:
    case kernels::Kind::DenseBackwardWeights: {
      auto in = st.operands.find(k.kind == kernels::Kind::DenseBackwardData ? "d_input" : "input");
      int64_t rows = in == st.operands.end() ? 1 : in->second.rows_per_image;
      return 2.0 * double(k.in_c) * double(k.out_c) * double(rows);
    }
    default:
      return 0.0;
  }
}

}  // namespace

std::string emit_model_info(const ModelSource& m) {
  const ir::Shape& in = m.graph.input_shape;
  const TrainRecipe& r = m.recipe;
  std::ostringstream s;
  s << "const cnnc::ModelInfo& model_info() {\n"
    << "  static const cnnc::ModelInfo info = [] {\n"
    << "    cnnc::ModelInfo m;\n"
    << "    m.name = \"" << m.graph.name << "\";\n"
    << "    m.input_h = " << in[0] << ", m.input_w = " << in[1] << ", m.input_c = " << in[2] << ";\n"
    << "    m.output_size = " << m.program.output_floats_per_image << ";\n"
    << "    m.max_batch = " << m.program.max_batch << ";\n"
    << "    m.has_training = " << (m.program.has_training ? "true" : "false") << ";\n"
    << "    m.param_floats = " << m.params.total_floats << ";\n"
    << "    m.arena_bytes = " << m.program.arena_floats * 4 << ";\n"
    << "    m.params = {\n";
  for (const lower::ParamSlot& p : m.params.slots) {
    s << "        {\"" << p.variable.name << "\", " << p.variable.shape.size() << ", {";
    for (size_t i = 0; i < 4; ++i) {
      s << (i ? ", " : "") << (i < p.variable.shape.size() ? p.variable.shape[i] : 0);
    }
    s << "}, " << p.offset << ", " << p.size << ", cnnc::Init::" << init_name(p.init) << ", "
      << p.fan_in << ", " << p.fan_out << ", float(" << number(p.l2) << "), "
      << (p.variable.trainable ? "true" : "false") << "},\n";
  }
  s << "    };\n"
    << "    cnnc::TrainRecipe& r = m.recipe;\n"
    << "    r.batch_size = " << r.batch_size << ";\n"
    << "    r.epochs = " << r.epochs << ";\n"
    << "    r.learning_rate = " << number(r.learning_rate) << ";\n"
    << "    r.momentum = " << number(r.momentum) << ";\n"
    << "    r.nesterov = " << (r.nesterov ? "true" : "false") << ";\n"
    << "    r.schedule.type = cnnc::LrSchedule::Type::" << schedule_name(r.schedule.type) << ";\n"
    << "    r.schedule.boundaries = " << list(r.schedule.boundaries) << ";\n"
    << "    r.schedule.values = " << list(r.schedule.values) << ";\n"
    << "    r.schedule.initial = " << number(r.schedule.initial) << ";\n"
    << "    r.schedule.factor = " << number(r.schedule.factor) << ";\n"
    << "    r.schedule.every = " << r.schedule.every << ";\n"
    << "    r.schedule.patience = " << r.schedule.patience << ";\n"
    << "    r.schedule.min_lr = " << number(r.schedule.min_lr) << ";\n"
    << "    r.schedule.monitor = \"" << r.schedule.monitor << "\";\n"
    << "    r.shuffle = " << (r.shuffle ? "true" : "false") << ";\n"
    << "    r.seed = " << r.seed << "u;\n"
    << "    r.checkpoint_monitor = \"" << r.checkpoint_monitor << "\";\n"
    << "    r.save_best_only = " << (r.save_best_only ? "true" : "false") << ";\n"
    << "    r.augmentation.random_crop_padding = " << r.augmentation.random_crop_padding << ";\n"
    << "    r.augmentation.horizontal_flip = "
    << (r.augmentation.horizontal_flip ? "true" : "false") << ";\n";
  auto steps = [&](const std::vector<lower::Step>& list) {
    for (const lower::Step& st : list) {
      auto sig = m.kernels.find(st.spec.key());
      std::string schedule = sig == m.kernels.end() ? "" : sig->second.schedule;
      s << "        {\"" << st.layer << "\", \"" << kernels::kind_name(st.spec.kind) << "\", \""
        << schedule << "\", " << number(flops_per_image(st)) << "},\n";
    }
  };
  s << "    m.infer_steps = {\n";
  steps(m.program.infer);
  s << "    };\n";
  if (m.program.has_training) {
    // train_step(): train_batch(), the host's part, apply_updates().
    s << "    m.train_steps = {\n";
    steps(m.program.train);
    s << "        {\"(train_step)\", \"host\", \"loss summary, finiteness check\", 0},\n";
    steps(m.program.update);
    s << "    };\n";
  }
  s << "    return m;\n"
    << "  }();\n"
    << "  return info;\n"
    << "}\n";
  return s.str();
}

}  // namespace cnnc::codegen
