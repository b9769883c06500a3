// cnnc's Dense kernel (the cache's builder, JIT-compiled for the host) against
// oneDNN's inner product (fp32, bias + ReLU post-op, weights reordered once)
// on the matrix products of the seed networks: ResNet-50's and GoogLeNet's
// 1x1 convolutions (rows = pixels x batch) and the classifiers. Both run on
// the same data in alternating order; times are medians of many runs.
//   bench_dense_vs_onednn [BATCH] [FILTER]   (threads: HL_NUM_THREADS, OMP_NUM_THREADS)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "Halide.h"
#include "bench/bench_util.h"
#include "compiler/kernels/halide_kernels.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

using cnnc::bench::median;
using cnnc::bench::random_floats;

using cnnc::kernels::KernelSpec;
using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  int64_t rows_per_image, in, out;
  bool residual;
};

// Distinct products of ResNet-50 and GoogLeNet (after merge_parallel_1x1) and
// the classifiers of VGG16, AlexNet, ResNet-50 and GoogLeNet.
const Shape kShapes[] = {
    {"r50_56_64x64", 3136, 64, 64, false},        {"r50_56_64x320", 3136, 64, 320, false},
    {"r50_56_64x256r", 3136, 64, 256, true},      {"r50_56_256x64", 3136, 256, 64, false},
    {"r50_28_128x512r", 784, 128, 512, true},     {"r50_28_512x128", 784, 512, 128, false},
    {"r50_14_256x1024r", 196, 256, 1024, true},   {"r50_14_1024x256", 196, 1024, 256, false},
    {"r50_7_512x2048r", 49, 512, 2048, true},     {"r50_7_2048x512", 49, 2048, 512, false},
    {"g_28_192x176", 784, 192, 176, false},       {"g_28_256x288", 784, 256, 288, false},
    {"g_14_480x304", 196, 480, 304, false},       {"g_14_528x416", 196, 528, 416, false},
    {"g_7_832x624", 49, 832, 624, false},         {"fc_r50_2048x1000", 1, 2048, 1000, false},
    {"fc_g_1024x1000", 1, 1024, 1000, false},     {"fc_vgg1_25088x4096", 1, 25088, 4096, false},
    {"fc_4096x4096", 1, 4096, 4096, false},       {"fc_vgg3_4096x1000", 1, 4096, 1000, false},
    {"fc_alex1_9216x4096", 1, 9216, 4096, false},
};

double time_ms(const std::function<void()>& run) {
  const auto t0 = Clock::now();
  run();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int batch = argc > 1 ? std::atoi(argv[1]) : 1;
  if (argc > 3 || batch < 1 || batch > 256) {
    std::fprintf(stderr, "usage: %s [BATCH (1-256)] [SHAPE_NAME_FILTER]\n", argv[0]);
    return 2;
  }
  const std::string filter = argc > 2 ? argv[2] : "";
  const Halide::Target target = Halide::get_host_target();
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  std::printf("%-22s %6s %8s %8s %6s %7s %8s %7s  %s\n", "shape", "rows", "cnnc_ms", "dnnl_ms",
              "ratio", "GF/s", "min_ratio", "err", "schedule");
  std::vector<double> ratios;
  for (const Shape& sh : kShapes) {
    if (!filter.empty() && std::string(sh.name).find(filter) == std::string::npos) continue;
    KernelSpec s;
    s.kind = cnnc::kernels::Kind::Dense;
    s.in_c = sh.in, s.out_c = sh.out, s.use_bias = true, s.act = cnnc::kernels::Act::Relu;
    s.rows_per_image = sh.rows_per_image;
    s.residual = sh.residual;
    if (const char* tile = std::getenv("CNNC_BENCH_TILE")) {  // "vectors,rows": a tuned tile
      std::sscanf(tile, "%d,%d", &s.schedule.tile_vectors, &s.schedule.tile_columns);
    }
    const int rows = static_cast<int>(sh.rows_per_image * batch);
    const int ic = static_cast<int>(sh.in), oc = static_cast<int>(sh.out);
    cnnc::kernels::BuiltKernel k = cnnc::kernels::build_kernel(s, target);
    if (const char* asm_path = std::getenv("CNNC_BENCH_ASM")) {  // the kernel's assembly
      k.pipeline.compile_to_assembly(std::string(asm_path) + "." + sh.name + ".s", k.args, "dense",
                                     target);
    }
    k.pipeline.compile_jit(target);
    std::vector<float> input = random_floats(size_t(rows) * ic, 1);
    std::vector<float> weights = random_floats(size_t(ic) * oc, 2);
    std::vector<float> bias = random_floats(size_t(oc), 3);
    std::vector<float> residual = random_floats(size_t(rows) * oc, 4);
    std::vector<float> dnnl_out(size_t(rows) * oc);
    Halide::Buffer<float> in_buf(input.data(), std::vector<int>{ic, rows});
    Halide::Buffer<float> wei_buf(weights.data(), std::vector<int>{oc, ic});
    Halide::Buffer<float> bias_buf(bias.data(), std::vector<int>{oc});
    Halide::Buffer<float> res_buf(residual.data(), std::vector<int>{oc, rows});
    Halide::Buffer<float> out_buf(std::vector<int>{oc, rows});
    k.inputs[0].set(in_buf);
    k.inputs[1].set(wei_buf);
    k.inputs[2].set(bias_buf);
    if (sh.residual) k.inputs[3].set(res_buf);
    auto run_cnnc = [&] { k.pipeline.realize(Halide::Realization(out_buf), target); };

    using md = dnnl::memory::desc;
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const md src_md({rows, ic}, dt::f32, tag::nc), dst_md({rows, oc}, dt::f32, tag::nc);
    const md bias_md({oc}, dt::f32, tag::x), user_wei_md({oc, ic}, dt::f32, tag::io);
    const md any_wei_md({oc, ic}, dt::f32, tag::any);
    dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src_md, any_wei_md,
                                           bias_md, dst_md);
    dnnl::post_ops ops;
    if (sh.residual) ops.append_sum(1.f);
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    dnnl::inner_product_forward::primitive_desc pd(desc, attr, eng);
    dnnl::inner_product_forward prim(pd);
    dnnl::memory src_mem(src_md, eng, input.data()), bias_mem(bias_md, eng, bias.data());
    dnnl::memory dst_mem(dst_md, eng, dnnl_out.data());
    dnnl::memory user_wei(user_wei_md, eng, weights.data()), wei_mem(pd.weights_desc(), eng);
    dnnl::reorder(user_wei, wei_mem).execute(stream, user_wei, wei_mem);
    stream.wait();
    auto run_dnnl = [&] {
      // The sum post-op accumulates into dst: start from the residual.
      if (sh.residual) std::copy(residual.begin(), residual.end(), dnnl_out.begin());
      prim.execute(stream, {{DNNL_ARG_SRC, src_mem},
                            {DNNL_ARG_WEIGHTS, wei_mem},
                            {DNNL_ARG_BIAS, bias_mem},
                            {DNNL_ARG_DST, dst_mem}});
      stream.wait();
    };
    run_cnnc();
    run_dnnl();
    double err = 0, scale = 1e-6;
    for (size_t i = 0; i < dnnl_out.size(); ++i) {
      err = std::max(err, double(std::fabs(out_buf.data()[i] - dnnl_out[i])));
      scale = std::max(scale, double(std::fabs(dnnl_out[i])));
    }
    // About 0.3 s per shape and side, at least 10 runs each.
    const double once = std::max(time_ms(run_cnnc), 1e-3);
    const int iters = std::clamp(static_cast<int>(300 / once), 10, 2000);
    std::vector<double> tc, td;
    for (int i = 0; i < iters; ++i) {
      if (i % 2) {
        tc.push_back(time_ms(run_cnnc));
        td.push_back(time_ms(run_dnnl));
      } else {
        td.push_back(time_ms(run_dnnl));
        tc.push_back(time_ms(run_cnnc));
      }
    }
    const double c = median(tc), d = median(td);
    const double min_ratio =
        *std::min_element(tc.begin(), tc.end()) / *std::min_element(td.begin(), td.end());
    const double gflops = 2.0 * rows * ic * oc / (c * 1e6);
    ratios.push_back(c / d);
    std::printf("%-22s %6d %8.3f %8.3f %6.2f %7.1f %8.2f %7.1e  %s\n", sh.name, rows, c, d, c / d,
                gflops, min_ratio, err / scale, k.schedule.c_str());
    std::fflush(stdout);
  }
  double log_sum = 0;
  for (double r : ratios) log_sum += std::log(r);
  if (!ratios.empty()) std::printf("geomean ratio %.3f\n", std::exp(log_sum / ratios.size()));
  return 0;
}
