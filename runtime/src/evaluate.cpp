// evaluate(): mean cross-entropy and accuracy in inference mode.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/include/cnnc_runtime.h"
#include "runtime/src/fit_support.h"

namespace cnnc {

void evaluate(Network& net, const Dataset& d, double* loss, double* accuracy) {
  const ModelInfo& info = net.info();
  detail::check_dataset(info, d, "evaluation data");
  // Keras clips the probabilities before taking the log.
  constexpr double kEpsilon = 1e-7;
  const int64_t classes = info.output_size;
  const int64_t chunk = info.max_batch > 0 ? std::min<int64_t>(info.max_batch, d.n) : d.n;
  const int64_t image_floats = info.input_size();
  std::vector<float> out(static_cast<size_t>(chunk * classes));
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < d.n; start += chunk) {
    int64_t n = std::min(chunk, d.n - start);
    net.infer(d.images.data() + start * image_floats, n, out.data());
    for (int64_t i = 0; i < n; ++i) {
      const float* p = out.data() + i * classes;
      int32_t label = d.labels[static_cast<size_t>(start + i)];
      double prob = std::clamp(static_cast<double>(p[label]), kEpsilon, 1.0 - kEpsilon);
      loss_sum -= std::log(prob);
      correct += std::max_element(p, p + classes) - p == label ? 1 : 0;
    }
  }
  if (loss) *loss = loss_sum / static_cast<double>(d.n);
  if (accuracy) *accuracy = static_cast<double>(correct) / static_cast<double>(d.n);
}

}  // namespace cnnc
