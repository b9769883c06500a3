#include "compiler/driver/tune.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

#include "compiler/driver/process.h"
#include "compiler/driver/tuning.h"
#include "compiler/ir/verifier.h"
#include "compiler/kernels/kernel_cache.h"
#include "compiler/kernels/kernel_timer.h"
#include "compiler/lower/program.h"
#include "compiler/passes/passes.h"
#include "frontends/json/json_frontend.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::driver {
namespace {

using kernels::KernelSpec;
using kernels::Kind;
using Clock = std::chrono::steady_clock;
using Shapes = std::vector<std::vector<int64_t>>;

// One kernel call to tune: the layers whose inference step makes it (same
// kernel, same buffer shapes) share the measurement and the choice.
struct Unit {
  const lower::Step* step;  // the first layer's
  KernelSpec spec;
  Shapes shapes;
  std::vector<std::string> layers;
  // A 1x1 convolution: the step of the other lowering ("direct": the
  // convolution of a matrix product, "gemm": the matrix product of a convolution).
  const lower::Step* other = nullptr;
  std::string other_lowering;
};

struct Candidate {
  std::string lowering;  // "direct": the 1x1 convolution instead of the matrix product
  KernelSpec spec;
  const lower::Step* step;  // whose operands give the buffer shapes
  std::string label;
};

Shapes shapes_of(const lower::Step& st, int batch) {
  Shapes shapes;
  // time_kernel gives a Winograd Conv2D raw weights (the step reads them transformed).
  KernelSpec raw = st.spec;
  raw.conv_algo = kernels::ConvAlgo::Direct;
  for (const kernels::ArgDesc& a : kernels::kernel_args(raw)) {
    const lower::Operand& o = st.operands.at(a.name);
    std::vector<int64_t> s = o.extents;
    if (raw.kind == Kind::Conv2D && a.name == "weights") {
      s = {raw.out_c, raw.in_c, raw.kernel_w, raw.kernel_h};
    }
    if (o.batched) s.push_back(int64_t(batch) * o.rows_per_image);
    shapes.push_back(s);
  }
  return shapes;
}

std::string shape_text(const Shapes& shapes) {
  std::ostringstream out;
  for (const auto& s : shapes) {
    for (int64_t e : s) out << e << ",";
    out << ";";
  }
  return out.str();
}

// The convolution algorithms other than the default (Winograd only where
// there are channels enough for its transforms to pay), the register tiles
// tried (channel vectors x columns) and the autoscheduler, both for the
// direct kernel. The default is measured first, as the reference. No
// Winograd without `winograd` (GPU targets).
std::vector<Candidate> candidates(const Unit& u, bool winograd) {
  static const int kTiles[][2] = {{1, 8}, {2, 4}, {2, 6}, {3, 4}, {4, 3}, {4, 6}, {1, 12}, {3, 8}};
  using kernels::ConvAlgo;
  std::vector<Candidate> list;
  const bool conv = u.spec.kind == Kind::Conv2D;
  if (conv && winograd && kernels::winograd_applies(u.spec) && u.spec.in_c >= 32 &&
      u.spec.out_c >= 32) {
    for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::WinogradF2, ConvAlgo::WinogradF4}) {
      if (a == u.spec.conv_algo) continue;
      Candidate c{"", u.spec, u.step, kernels::conv_algo_name(a)};
      c.spec.conv_algo = a;
      list.push_back(c);
    }
  }
  // Tiles of the direct kernel, with its weights packed if the default packs them.
  KernelSpec direct_kernel = u.spec;
  if (direct_kernel.conv_algo != ConvAlgo::DirectPacked) direct_kernel.conv_algo = ConvAlgo::Direct;
  const int64_t channels = u.spec.out_c, width = conv ? u.spec.out_w : 6;
  for (const auto& t : kTiles) {
    if (channels < 8 * t[0] || width < t[1]) continue;
    Candidate c{"", direct_kernel, u.step, ""};
    c.spec.schedule.tile_vectors = t[0];
    c.spec.schedule.tile_columns = t[1];
    c.label = "tile " + std::to_string(t[0]) + "x" + std::to_string(t[1]);
    list.push_back(c);
  }
  if (u.other) {
    const bool direct = u.other_lowering == "direct";
    list.push_back({u.other_lowering, u.other->spec, u.other,
                    direct ? "1x1 as a convolution" : "1x1 as a matrix product"});
  }
  // Adams2019 vectorises by 16 whatever the exact output extents: fewer
  // channels fail the kernels' bounds checks. Its tiles must fit the smallest
  // extents the kernel will see, so it plans for one image (however many the
  // tuning runs): the schedule then holds for every batch.
  if (channels >= 16) {
    Candidate a{"", direct_kernel, u.step, "Adams2019"};
    a.spec.schedule.algorithm = "autoschedule";
    a.spec.schedule.estimate_batch = static_cast<int>(shapes_of(*u.step, 1).back().back());
    list.push_back(a);
  }
  return list;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string ms_text(double ms) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(ms < 1 ? 4 : 3) << ms;
  return out.str();
}

}  // namespace

int tune_model(const TuneOptions& o, std::ostream& progress) {
  const Clock::time_point start = Clock::now();
  const std::string model_text = read_file(o.model_path);
  frontend::Model model = frontend::load_model_file(o.model_path);
  const ir::Graph& g = model.graph;
  ir::verify(g);
  std::vector<std::string> enabled = passes::parse_pass_list(o.passes);
  ir::Graph inference = g;
  passes::run_passes(inference, enabled, {/*training=*/false, nullptr});
  lower::LowerOptions lowering{passes::pass_enabled(enabled, "plan_memory"),
                               passes::pass_enabled(enabled, "gemm_1x1"),
                               {},
                               passes::pass_enabled(enabled, "concat_in_place"),
                               true,
                               {},
                               {}};
  const kernels::KernelCache target_cache(cache_dir() + "/kernels", o.target);
  const std::string target = target_cache.target_string();
  // Winograd has CPU schedules only (its weights transformed in the host's prepare()).
  lowering.winograd = !target_cache.cuda();
  lower::Program program = lower::lower_program(g, inference, nullptr, o.batch, lowering);
  // The same model with every 1x1 as a convolution: the alternative to the matrix product.
  lower::LowerOptions direct_lowering = lowering;
  direct_lowering.gemm_1x1 = false;
  lower::Program direct = lower::lower_program(g, inference, nullptr, o.batch, direct_lowering);
  // And with every 1x1 as a matrix product, where the default made some convolutions.
  lower::LowerOptions gemm_lowering = lowering;
  for (const ir::Node& n : inference.nodes) gemm_lowering.gemm_layers.insert(n.name);
  lower::Program gemm = lower::lower_program(g, inference, nullptr, o.batch, gemm_lowering);

  std::set<std::string> wanted(o.layers.begin(), o.layers.end()), seen;
  std::vector<Unit> units;
  std::map<std::string, size_t> unit_of;
  for (const lower::Step& st : program.infer) {
    if (st.spec.kind != Kind::Conv2D && st.spec.kind != Kind::Dense) continue;
    if (!wanted.empty() && !wanted.count(st.layer)) continue;
    seen.insert(st.layer);
    Unit u{&st, st.spec, shapes_of(st, o.batch), {st.layer}, nullptr, ""};
    // A 1x1 convolution when the other lowering makes another kind of step of it.
    const bool dense = st.spec.kind == Kind::Dense;
    for (const lower::Step& d : dense ? direct.infer : gemm.infer) {
      if (d.layer == st.layer && d.spec.kind == (dense ? Kind::Conv2D : Kind::Dense)) {
        u.other = &d;
        u.other_lowering = dense ? "direct" : "gemm";
      }
    }
    const std::string key =
        st.spec.key() + "|" + shape_text(u.shapes) + "|" + (u.other ? u.other->spec.key() : "");
    auto [it, added] = unit_of.emplace(key, units.size());
    if (added) {
      units.push_back(u);
    } else {
      units[it->second].layers.push_back(st.layer);
    }
  }
  for (const std::string& l : wanted) {
    if (!seen.count(l)) {
      throw Error("--layers: model " + o.model_path + " has no convolution or dense layer '" + l +
                  "'");
    }
  }
  progress << "cnnc tune: " << g.name << ": " << units.size() << " distinct kernels at batch "
           << o.batch << " on " << target << ", budget " << o.budget_seconds << " s\n";

  Tuning tuning{g.name, model_hash(model_text), target, o.passes, o.batch, {}};
  for (size_t i = 0; i < units.size(); ++i) {
    const Unit& u = units[i];
    // Each kernel gets an equal share of what is left of the budget.
    const Clock::time_point unit_start = Clock::now();
    const double share = (o.budget_seconds - seconds_since(start)) / double(units.size() - i);
    if (share <= 0) {  // out of time: the rest keep their default schedules
      progress << "[" << i + 1 << "/" << units.size() << "] " << u.layers[0]
               << ": skipped, the budget is spent\n";
      continue;
    }
    std::ostringstream line;
    line << "[" << i + 1 << "/" << units.size() << "] " << u.layers[0];
    if (u.layers.size() > 1) line << " (+" << u.layers.size() - 1 << " alike)";
    line << " " << u.spec.key() << ": ";
    kernels::KernelRun reference;
    try {
      reference = kernels::time_kernel(u.spec, u.shapes, target, /*seed=*/i + 1);
    } catch (const std::exception& e) {
      progress << line.str() << "default schedule failed, skipped: " << e.what() << "\n";
      continue;
    }
    LayerTuning best;
    best.default_kernel = best.kernel = u.spec.key();
    best.default_ms = best.best_ms = reference.median_ms;
    std::string best_label = "default";
    std::optional<kernels::KernelRun> one_image;  // the default's, when needed
    auto right_for_one_image = [&](const Candidate& c) {
      if (o.batch == 1) return true;
      try {
        if (!one_image)
          one_image = kernels::time_kernel(u.spec, shapes_of(*u.step, 1), target, i + 1);
        return kernels::same_outputs(
            kernels::time_kernel(c.spec, shapes_of(*c.step, 1), target, i + 1), *one_image);
      } catch (const std::exception&) {
        return false;
      }
    };
    for (const Candidate& c : candidates(u, lowering.winograd)) {
      if (seconds_since(unit_start) > share) break;
      ++best.candidates;
      kernels::KernelRun run;
      try {
        run = kernels::time_kernel(c.spec, shapes_of(*c.step, o.batch), target, i + 1);
      } catch (const std::exception& e) {
        ++best.rejected;  // Halide could not schedule it this way
        const std::string why = e.what();
        progress << "  " << c.label << ": failed, discarded: " << why.substr(0, why.find('\n'))
                 << "\n";
        continue;
      }
      if (!kernels::same_outputs(run, reference)) {
        ++best.rejected;
        progress << "  " << c.label << ": wrong output, discarded\n";
        continue;
      }
      // A win within the noise (3%) keeps the default schedule.
      if (run.median_ms >= best.best_ms || run.median_ms >= 0.97 * best.default_ms) continue;
      // Schedules may depend on the batch extent (Adams2019's have been wrong
      // at some): a new best must also compute one image right.
      if (!right_for_one_image(c)) {
        ++best.rejected;
        progress << "  " << c.label << ": wrong output for one image, discarded\n";
        continue;
      }
      best.best_ms = run.median_ms;
      best.kernel = c.spec.key();
      best.lowering = c.lowering;
      best.conv_algo = c.spec.kind == Kind::Conv2D && c.spec.conv_algo != u.spec.conv_algo
                           ? kernels::conv_algo_name(c.spec.conv_algo)
                           : "";
      best.schedule = c.spec.schedule;
      best_label = c.label;
    }
    // A load spike on a shared machine can slow the first timing of the
    // default: timed again, the faster of the two counts.
    if (best_label != "default") {
      try {
        best.default_ms = std::min(best.default_ms,
                                   kernels::time_kernel(u.spec, u.shapes, target, i + 1).median_ms);
      } catch (const std::exception&) {
      }
      if (best.best_ms >= 0.97 * best.default_ms) {
        best.kernel = best.default_kernel;
        best.best_ms = best.default_ms;
        best.lowering = best.conv_algo = "";
        best.schedule = {};
        best_label = "default (timed again)";
      }
    }
    line << "default " << ms_text(best.default_ms) << " ms, best " << best_label << " "
         << ms_text(best.best_ms) << " ms (" << best.candidates << " candidates";
    if (best.rejected) line << ", " << best.rejected << " rejected";
    line << ", " << std::fixed << std::setprecision(1) << seconds_since(unit_start) << " s)";
    progress << line.str() << "\n" << std::flush;
    for (const std::string& layer : u.layers) {
      best.layer = layer;
      tuning.layers.push_back(best);
    }
  }
  write_tuning(o.out_path, tuning);
  progress << "cnnc tune: wrote " << o.out_path << " (" << tuning.layers.size() << " layers, "
           << std::fixed << std::setprecision(0) << seconds_since(start) << " s)\n";
  return static_cast<int>(tuning.layers.size());
}

}  // namespace cnnc::driver
