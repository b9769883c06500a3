// cnnc's Conv2D kernel (the cache's builder, JIT-compiled for the host)
// against oneDNN's convolution (NHWC, fp32, bias + ReLU post-op) on every
// distinct conv shape of the seed networks at batch 1. Each iteration runs
// both on the same data, in alternating order; the counters are medians.
// cnnc runs the algorithm the lowering would choose (the label); where that
// is not direct, the direct kernel runs too (direct_ms, direct_ratio).
//   bench_conv_vs_onednn [--benchmark_filter=...]   (threads: CNNC_BENCH_THREADS, 2)
//   CNNC_BENCH_ALGO=direct|direct_packed|winograd_f2|winograd_f4 forces an algorithm where it
//   applies.
// bench/conv_vs_onednn.sh builds it, runs it and prints the table.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Halide.h"
#include "bench/bench_util.h"
#include "bench/conv_shapes.h"
#include "compiler/kernels/halide_kernels.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

using cnnc::bench::median;
using cnnc::bench::random_floats;

using cnnc::kernels::KernelSpec;
using Clock = std::chrono::steady_clock;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

KernelSpec with_kind(KernelSpec s, cnnc::kernels::Kind kind) {
  s.kind = kind;
  return s;
}

// One shape: the data, cnnc's compiled pipeline and oneDNN's primitive.
struct Case {
  explicit Case(const KernelSpec& spec);
  void run_cnnc() { kernel.pipeline.realize(Halide::Realization(cnnc_out), target); }
  void run_direct() { direct.pipeline.realize(Halide::Realization(direct_out), target); }
  bool has_direct() const { return s.conv_algo != cnnc::kernels::ConvAlgo::Direct; }
  void run_onednn() {
    prim.execute(stream, {{DNNL_ARG_SRC, src_mem},
                          {DNNL_ARG_WEIGHTS, wei_mem},
                          {DNNL_ARG_BIAS, bias_mem},
                          {DNNL_ARG_DST, dst_mem}});
    stream.wait();
  }
  double max_relative_error(const Halide::Buffer<float>& out) const;

  KernelSpec s;
  Halide::Target target;
  cnnc::kernels::BuiltKernel kernel, direct;
  std::vector<float> input, weights, bias, dnnl_out;
  Halide::Buffer<float> in_buf, wei_buf, bias_buf, u_buf, cnnc_out, direct_out;
  dnnl::stream stream{engine()};
  dnnl::memory src_mem, wei_mem, bias_mem, dst_mem;
  dnnl::convolution_forward prim;
};

Case::Case(const KernelSpec& spec) : s(spec), target(Halide::get_host_target()) {
  kernel = cnnc::kernels::build_kernel(s, target);
  kernel.pipeline.compile_jit(target);
  const int ic = int(s.in_c), oc = int(s.out_c), kh = int(s.kernel_h), kw = int(s.kernel_w);
  input = random_floats(size_t(s.in_h * s.in_w * ic), 1);
  weights = random_floats(size_t(kh * kw * ic * oc), 2);
  bias = random_floats(size_t(oc), 3);
  dnnl_out.resize(size_t(s.out_h * s.out_w * oc));
  in_buf = Halide::Buffer<float>(input.data(), std::vector<int>{ic, int(s.in_w), int(s.in_h), 1});
  wei_buf = Halide::Buffer<float>(weights.data(), std::vector<int>{oc, ic, kw, kh});
  bias_buf = Halide::Buffer<float>(bias.data(), std::vector<int>{oc});
  cnnc_out = Halide::Buffer<float>(std::vector<int>{oc, int(s.out_w), int(s.out_h), 1});
  direct_out = Halide::Buffer<float>(std::vector<int>{oc, int(s.out_w), int(s.out_h), 1});
  if (has_direct()) {
    KernelSpec d = s;
    d.conv_algo = cnnc::kernels::ConvAlgo::Direct;
    direct = cnnc::kernels::build_kernel(d, target);
    direct.pipeline.compile_jit(target);
  }
  for (cnnc::kernels::BuiltKernel* k : {&kernel, &direct}) {
    if (k->inputs.empty()) continue;  // no direct kernel
    k->inputs[0].set(in_buf);
    k->inputs[1].set(wei_buf);
    k->inputs[2].set(bias_buf);
  }
  if (has_direct()) {
    // Winograd and packed weights are transformed once, as the generated code does at load time.
    cnnc::kernels::BuiltKernel transform =
        cnnc::kernels::build_kernel(with_kind(s, cnnc::kernels::Kind::WinogradWeights), target);
    transform.inputs[0].set(wei_buf);
    u_buf = Halide::Buffer<float>(std::vector<int>{int(cnnc::kernels::winograd_weight_floats(s))});
    transform.pipeline.realize(Halide::Realization(u_buf), target);
    kernel.inputs[1].set(u_buf);
  }

  using md = dnnl::memory::desc;
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const md src_md({1, ic, s.in_h, s.in_w}, dt::f32, tag::nhwc);
  const md dst_md({1, oc, s.out_h, s.out_w}, dt::f32, tag::nhwc);
  const md bias_md({oc}, dt::f32, tag::x);
  const md user_wei_md({oc, ic, kh, kw}, dt::f32, tag::hwio);
  const md any_wei_md({oc, ic, kh, kw}, dt::f32, tag::any);
  auto pad_after = [](int64_t in, int64_t out, int64_t k, int64_t stride, int64_t before) {
    return std::max<int64_t>((out - 1) * stride + k - in - before, 0);
  };
  const dnnl::memory::dims strides = {s.stride_h, s.stride_w};
  const dnnl::memory::dims pad_l = {s.pad_top, s.pad_left};
  const dnnl::memory::dims pad_r = {pad_after(s.in_h, s.out_h, kh, s.stride_h, s.pad_top),
                                    pad_after(s.in_w, s.out_w, kw, s.stride_w, s.pad_left)};
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::convolution_auto, src_md, any_wei_md,
                                       bias_md, dst_md, strides, pad_l, pad_r);
  dnnl::post_ops ops;
  ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
  prim = dnnl::convolution_forward(pd);
  src_mem = dnnl::memory(src_md, engine(), input.data());
  bias_mem = dnnl::memory(bias_md, engine(), bias.data());
  dst_mem = dnnl::memory(dst_md, engine(), dnnl_out.data());
  // Weights reordered once, as a deployed model would hold them.
  dnnl::memory user_wei(user_wei_md, engine(), weights.data());
  wei_mem = dnnl::memory(pd.weights_desc(), engine());
  dnnl::reorder(user_wei, wei_mem).execute(stream, user_wei, wei_mem);
  stream.wait();
}

double Case::max_relative_error(const Halide::Buffer<float>& out) const {
  double worst = 0, scale = 1e-6;
  for (size_t i = 0; i < dnnl_out.size(); ++i) {
    worst = std::max(worst, double(std::fabs(out.data()[i] - dnnl_out[i])));
    scale = std::max(scale, double(std::fabs(dnnl_out[i])));
  }
  return worst / scale;
}

double fastest(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

struct Result {
  double cnnc_ms, onednn_ms;
};
std::map<std::string, Result>& results() {
  static std::map<std::string, Result> r;
  return r;
}

// The lowering's choice, or CNNC_BENCH_ALGO's where it applies (Winograd:
// 3x3 stride 1).
KernelSpec with_algo(KernelSpec s) {
  s.conv_algo = cnnc::kernels::default_conv_algo(s);
  const char* forced = std::getenv("CNNC_BENCH_ALGO");
  cnnc::kernels::ConvAlgo algo;
  if (forced && cnnc::kernels::parse_conv_algo(forced, &algo) &&
      (algo == cnnc::kernels::ConvAlgo::Direct || algo == cnnc::kernels::ConvAlgo::DirectPacked ||
       cnnc::kernels::winograd_applies(s))) {
    s.conv_algo = algo;
  }
  return s;
}

void BM_Conv(benchmark::State& state, const cnnc::bench::ConvShape& shape) {
  static std::map<std::string, std::unique_ptr<Case>> cases;  // compiled once per shape
  std::unique_ptr<Case>& c = cases[shape.name];
  if (!c) c = std::make_unique<Case>(with_algo(shape.spec));
  c->run_cnnc();  // warm up all
  c->run_onednn();
  if (c->has_direct()) c->run_direct();
  const double err = c->max_relative_error(c->cnnc_out);
  if (err > 1e-4) state.SkipWithError(("cnnc differs from oneDNN: " + std::to_string(err)).c_str());
  state.SetLabel(std::string(cnnc::kernels::conv_algo_name(c->s.conv_algo)) + ": " +
                 c->kernel.schedule);
  std::vector<double> t_cnnc, t_dnnl, t_direct;
  bool cnnc_first = true;
  auto time_ms = [](auto&& run) {
    const auto t0 = Clock::now();
    run();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  for (auto _ : state) {
    for (int k = 0; k < 2; ++k) {
      if ((k == 0) == cnnc_first) {
        t_cnnc.push_back(time_ms([&] { c->run_cnnc(); }));
      } else {
        t_dnnl.push_back(time_ms([&] { c->run_onednn(); }));
      }
    }
    if (c->has_direct()) t_direct.push_back(time_ms([&] { c->run_direct(); }));
    state.SetIterationTime((t_cnnc.back() + t_dnnl.back()) / 1e3);
    cnnc_first = !cnnc_first;
  }
  const KernelSpec& s = shape.spec;
  const double gflop =
      2e-9 * double(s.out_h * s.out_w * s.out_c * s.in_c * s.kernel_h * s.kernel_w);
  const double mc = median(t_cnnc), md = median(t_dnnl);
  results()[shape.name] = {mc, md};
  state.counters["cnnc_ms"] = mc;
  state.counters["onednn_ms"] = md;
  state.counters["cnnc_gflops"] = gflop / (mc / 1e3);
  state.counters["onednn_gflops"] = gflop / (md / 1e3);
  state.counters["ratio"] = mc / md;
  // On a shared machine the fastest runs are the least disturbed ones.
  state.counters["ratio_min"] = fastest(t_cnnc) / fastest(t_dnnl);
  state.counters["rel_err"] = err;
  if (c->has_direct()) {
    state.counters["direct_ms"] = median(t_direct);
    state.counters["direct_ratio"] = median(t_direct) / md;
    state.counters["direct_ratio_min"] = fastest(t_direct) / fastest(t_dnnl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Two thread pools share the cores: OpenMP's must not spin while Halide's
  // works (libgomp reads this when it loads, so re-run with it set).
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
  }
  const char* env = std::getenv("CNNC_BENCH_THREADS");
  const int threads = env ? std::atoi(env) : 2;
  setenv("HL_NUM_THREADS", std::to_string(threads).c_str(), 1);
  omp_set_num_threads(threads);
  for (const cnnc::bench::ConvShape& shape : cnnc::bench::seed_conv_shapes()) {
    benchmark::RegisterBenchmark(("conv/" + shape.name).c_str(), BM_Conv, shape)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(0.3);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  double log_sum = 0, worst = 0;
  std::string worst_name;
  for (const auto& [name, r] : results()) {
    const double ratio = r.cnnc_ms / r.onednn_ms;
    log_sum += std::log(ratio);
    if (ratio > worst) worst = ratio, worst_name = name;
  }
  if (!results().empty()) {
    std::fprintf(stderr,
                 "summary: %zu shapes, geometric mean cnnc/oneDNN time %.3f, worst %.3f (%s), "
                 "%d threads\n",
                 results().size(), std::exp(log_sum / double(results().size())), worst,
                 worst_name.c_str(), threads);
  }
  return 0;
}
