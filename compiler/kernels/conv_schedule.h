// Schedules of the convolution kernels (private to compiler/kernels).
#pragma once

#include <string>
#include <vector>

#include "compiler/kernels/halide_util.h"

namespace cnnc::kernels::detail {

// A register tile: `vectors` channel vectors of `lanes` floats by `columns`
// output columns; lanes 0 means the channels are too few to vectorise.
struct ConvTile {
  int lanes = 0, vectors = 1, columns = 1;
};

// The tile with the least estimated cost for these output extents; with
// `exact`, only column counts that divide the width.
// "48c x 8w": the tile's output channels by columns, for profiles.
std::string describe(const ConvTile& tile);

ConvTile choose_conv_tile(int64_t channels, int64_t width, const Halide::Target& target,
                          bool exact = false);

// `chosen` with the tile sizes a tuned schedule sets (clamped to the extents).
ConvTile tuned_tile(ConvTile chosen, const ScheduleChoice& choice, int64_t channels, int64_t width);

// Schedules a copy f(c, x, y, n) computed at root to run the rows of all
// images as one parallel loop (parallel rows inside a serial loop over images
// would start one parallel loop of tiny tasks per image), in blocks of rows
// of at least kMinTaskFloats (a row of `floats_per_row` each). Returns f.
Halide::Func parallel_rows(Halide::Func f, int64_t floats_per_row);

// True when the kernel is left unscheduled for Halide's autoscheduler.
inline bool autoscheduled(const KernelSpec& spec) {
  return spec.schedule.algorithm == "autoschedule";
}

// True when the forward (or data gradient) kernel's row schedule unrolls the
// whole row (its one or two tiles) and the kernel columns: then the builder
// may predicate its reduction on the output column (x), to skip the taps on
// the zero border.
bool unrolls_kernel_columns(const KernelSpec& spec, const Halide::Target& target);

// out(c, x, y, n) = act(acc(c, x, y, n)); acc's one update reduces over
// `rvars` (input channel, kx, ky) reading `padded`, a Func over the input
// that is a zero-bordered copy when `padded_is_copy` (else an alias to
// inline). `weights_stage`, when defined, wraps the weights (read with the
// channel first): it is copied per channel tile. The spec is that of the
// forward convolution computed (for a gradient, the equivalent one). Returns
// a short description of the schedule chosen ("direct 48c x 8w chunk 64").
std::string schedule_conv_forward(Halide::Func out, Halide::Func acc, Halide::Func padded,
                                  bool padded_is_copy, Halide::Func weights_stage,
                                  const std::vector<Halide::RVar>& rvars, const KernelSpec& spec,
                                  const Halide::Target& target);

}  // namespace cnnc::kernels::detail
