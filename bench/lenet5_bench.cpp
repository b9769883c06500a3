// LeNet-5 through the generated library: training throughput at batch 32 and
// inference latency at batch 1. bench/lenet5_vs_pytorch.sh runs it beside
// PyTorch and prints the ratios.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "lenet5.h"

namespace {

std::vector<float> random_images(int n) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> x(size_t(n) * lenet5::kInputSize);
  for (float& v : x) v = u(rng);
  return x;
}

void BM_Lenet5TrainStep(benchmark::State& state) {
  const int batch = int(state.range(0));
  lenet5::Model model(1);
  std::vector<float> x = random_images(batch);
  std::vector<int32_t> y(batch);
  for (int i = 0; i < batch; ++i) y[i] = i % 10;
  // The model file's optimizer, as the PyTorch peer (bench/lenet5_torch.py).
  const cnnc::TrainRecipe& recipe = model.info().recipe;
  cnnc::Sgd sgd{float(recipe.learning_rate), float(recipe.momentum), recipe.nesterov};
  uint64_t step = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(model.train_step(x.data(), y.data(), batch, sgd, 0, step++));
  }
  state.counters["images_per_s"] =
      benchmark::Counter(double(batch) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Lenet5TrainStep)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Lenet5Infer(benchmark::State& state) {
  const int batch = int(state.range(0));
  lenet5::Model model(1);
  std::vector<float> x = random_images(batch), out(size_t(batch) * lenet5::kOutputSize);
  for (auto _ : state) {
    model.infer(x.data(), batch, out.data());
    benchmark::ClobberMemory();
  }
  state.counters["images_per_s"] =
      benchmark::Counter(double(batch) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Lenet5Infer)->Arg(1)->Arg(32)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
