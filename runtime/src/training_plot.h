// The training curves as an SVG image (internal): loss and accuracy, training
// and validation, one panel each, with axes, ticks, labels and a legend. No
// dependencies; written beside the checkpoint after every epoch.
#pragma once

#include <string>
#include <vector>

#include "runtime/include/cnnc_runtime.h"

namespace cnnc::detail {

std::string training_plot_svg(const std::string& title, const std::vector<EpochRecord>& history);
// Writes training_plot_svg atomically (temporary file, then rename).
void write_training_plot(const std::string& path, const std::string& title,
                         const std::vector<EpochRecord>& history);

}  // namespace cnnc::detail
