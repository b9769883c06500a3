#include "compiler/lower/param_layout.h"

namespace cnnc::lower {

ParamLayout layout_params(const ir::Graph& g) {
  ParamLayout layout;
  for (const ir::Variable& v : ir::graph_variables(g)) {
    const ir::Node& n = g.node(v.node);
    ParamSlot s;
    s.variable = v;
    s.offset = layout.total_floats;
    s.size = ir::num_elements(v.shape);
    if (v.suffix == "kernel") {
      s.init = n.attrs.kernel_init;
      s.l2 = n.attrs.l2;
      // Keras's fans: receptive field times channels (Conv2D), rows/columns (Dense).
      int64_t receptive = 1;
      for (size_t i = 0; i + 2 < v.shape.size(); ++i) receptive *= v.shape[i];
      s.fan_in = receptive * v.shape[v.shape.size() - 2];
      s.fan_out = receptive * v.shape.back();
    } else if (v.suffix == "gamma" || v.suffix == "moving_variance") {
      s.init = ir::Initializer::Ones;
    } else {
      s.init = ir::Initializer::Zeros;  // bias, beta, moving_mean
    }
    layout.index[v.name] = int(layout.slots.size());
    layout.slots.push_back(s);
    layout.total_floats += s.size;
  }
  return layout;
}

}  // namespace cnnc::lower
