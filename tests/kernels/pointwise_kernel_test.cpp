// Activation(Backward), Softmax, SoftmaxCrossEntropy and SgdUpdate against
// the reference.
#include <algorithm>

#include "tests/kernels/jit_runner.h"

namespace cnnc::testing {
namespace {

constexpr double kTolerance = 1e-5;

KernelSpec flat_spec(Kind kind, int64_t h, int64_t w, int64_t c, Act act = Act::Linear) {
  KernelSpec s;
  s.kind = kind;
  s.in_h = s.out_h = h, s.in_w = s.out_w = w, s.in_c = s.out_c = c, s.act = act;
  return s;
}

Vec scaled(Vec v, double factor) {
  for (double& x : v) x *= factor;
  return v;
}

TEST(ActivationKernel, MatchesReference) {
  // 5x7x3 = 105 elements (at batch 100 two tasks of whole images, the second
  // short); 28x28x29 in two blocks of an image, the last with a vector tail.
  const std::vector<KernelSpec> specs = {flat_spec(Kind::Activation, 5, 7, 3, Act::Relu),
                                         flat_spec(Kind::Activation, 28, 28, 29, Act::Tanh),
                                         flat_spec(Kind::Activation, 5, 7, 3, Act::Sigmoid),
                                         flat_spec(Kind::Activation, 1, 1, 5, Act::Linear)};
  for (const KernelSpec& s : specs) {
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    const int64_t elems = s.in_h * s.in_w * s.in_c;
    for (int64_t batch : {1, 3, 100}) {
      const Vec input = scaled(random_vec(elems * batch, 1), 4.0);
      const std::vector<int> sizes = {static_cast<int>(elems), static_cast<int>(batch)};
      const Vec got = k.run({to_buffer(input, sizes)}, {sizes})[0];
      EXPECT_LE(relative_error(got, reference::activation(s.act, input)), kTolerance);
    }
  }
}

TEST(ActivationBackwardKernel, MatchesReference) {
  for (Act act : {Act::Relu, Act::Tanh, Act::Sigmoid, Act::Linear}) {
    const KernelSpec s = flat_spec(Kind::ActivationBackward, 3, 3, 13, act);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    const int64_t elems = 3 * 3 * 13, batch = 3;
    const Vec output = reference::activation(act, scaled(random_vec(elems * batch, 2), 3.0));
    const Vec d_output = random_vec(elems * batch, 3);
    const std::vector<int> sizes = {static_cast<int>(elems), static_cast<int>(batch)};
    const Vec got = k.run({to_buffer(output, sizes), to_buffer(d_output, sizes)}, {sizes})[0];
    EXPECT_LE(relative_error(got, reference::activation_backward(act, output, d_output)),
              kTolerance);
  }
}

// With residual, dy is the sum of two contributions; ReLU outputs with
// exact zeros, contributions of both signs; 28x28x29 in blocks of an image.
TEST(ActivationBackwardKernel, SumsTwoContributions) {
  for (Act act : {Act::Relu, Act::Tanh}) {
    KernelSpec s = flat_spec(Kind::ActivationBackward, 28, 28, 29, act);
    s.residual = true;
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    const int64_t elems = 28 * 28 * 29, batch = 2;
    const Vec output = reference::activation(act, scaled(random_vec(elems * batch, 4), 3.0));
    const Vec d_output = random_vec(elems * batch, 5), d_residual = random_vec(elems * batch, 6);
    Vec sum(d_output.size());
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = d_output[i] + d_residual[i];
    const Vec want = reference::activation_backward(act, output, sum);
    if (act == Act::Relu) {
      EXPECT_GT(std::count(output.begin(), output.end(), 0.0), 0);
    }
    const std::vector<int> sizes = {static_cast<int>(elems), static_cast<int>(batch)};
    std::vector<Halide::Buffer<>> inputs = {to_buffer(output, sizes), to_buffer(d_output, sizes),
                                            to_buffer(d_residual, sizes)};
    EXPECT_LE(relative_error(k.run(inputs, {sizes})[0], want), kTolerance);
  }
}

TEST(SoftmaxKernel, MatchesReferenceOnLargeLogits) {
  // 1000 classes: 9 rows a parallel task, 20 rows make three, the last short.
  for (int64_t classes : {10, 3, 37, 1000}) {
    const KernelSpec s = flat_spec(Kind::Softmax, 1, 1, classes);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t rows : {1, 5, 20}) {
      // exp(200) overflows float: only a max-subtracting softmax survives.
      const Vec input = scaled(random_vec(classes * rows, 4), 200.0);
      const std::vector<int> sizes = {static_cast<int>(classes), static_cast<int>(rows)};
      const Vec got = k.run({to_buffer(input, sizes)}, {sizes})[0];
      EXPECT_LE(relative_error(got, reference::softmax(classes, rows, input)), kTolerance);
    }
  }
}

TEST(SoftmaxCrossEntropyKernel, MatchesReferenceOnLargeLogits) {
  for (int64_t classes : {10, 5}) {
    const KernelSpec s = flat_spec(Kind::SoftmaxCrossEntropy, 1, 1, classes);
    SCOPED_TRACE(s.key());
    JitKernel k(s);
    for (int64_t batch : {1, 4}) {
      const Vec logits = scaled(random_vec(classes * batch, 5), 100.0);
      std::vector<int32_t> labels;
      for (int64_t n = 0; n < batch; ++n)
        labels.push_back(static_cast<int32_t>((3 * n + 1) % classes));
      Halide::Buffer<int32_t> label_buf(static_cast<int>(batch));
      for (int64_t n = 0; n < batch; ++n) label_buf(n) = labels[n];
      const std::vector<int> sizes = {static_cast<int>(classes), static_cast<int>(batch)};
      const std::vector<Vec> got =
          k.run({to_buffer(logits, sizes), label_buf}, {sizes, sizes, {static_cast<int>(batch)}});
      Vec probs, d_logits, loss;
      reference::softmax_cross_entropy(classes, batch, logits, labels, &probs, &d_logits, &loss);
      EXPECT_LE(relative_error(got[0], probs), kTolerance);
      EXPECT_LE(relative_error(got[1], d_logits), kTolerance);
      EXPECT_LE(relative_error(got[2], loss), kTolerance);
    }
  }
}

// Separate and aliased (in-place) outputs, plain and Nesterov, with and
// without momentum, sizes with a vector tail and spanning several parallel
// blocks.
TEST(SgdUpdateKernel, MatchesReferenceInPlaceAndNot) {
  KernelSpec s;
  s.kind = Kind::SgdUpdate;
  JitKernel k(s);
  for (int size : {5, 1003, 20000}) {
    for (double momentum : {0.9, 0.0}) {
      for (int nesterov : {0, 1}) {
        for (bool in_place : {false, true}) {
          SCOPED_TRACE(::testing::Message()
                       << "size " << size << " momentum " << momentum << " nesterov " << nesterov
                       << " in_place " << in_place);
          const Vec w = random_vec(size, 6), g = random_vec(size, 7), v = random_vec(size, 8);
          const double lr = 0.05, l2 = 0.01;
          k.kernel().float_scalars.at("lr").set(static_cast<float>(lr));
          k.kernel().float_scalars.at("momentum").set(static_cast<float>(momentum));
          k.kernel().float_scalars.at("l2").set(static_cast<float>(l2));
          k.kernel().int_scalars.at("nesterov").set(nesterov);
          Halide::Buffer<float> wb = to_buffer(w, {size}), gb = to_buffer(g, {size}),
                                vb = to_buffer(v, {size});
          std::vector<Halide::Buffer<>> outputs;
          if (in_place) {
            outputs = {wb, vb};
          } else {
            outputs = {Halide::Buffer<float>(size), Halide::Buffer<float>(size)};
          }
          k.run_into({wb, gb, vb}, outputs);
          Vec new_w, new_v;
          reference::sgd_update(w, g, v, lr, momentum, l2, nesterov != 0, &new_w, &new_v);
          EXPECT_LE(relative_error(from_buffer(Halide::Buffer<float>(outputs[0])), new_w),
                    kTolerance);
          EXPECT_LE(relative_error(from_buffer(Halide::Buffer<float>(outputs[1])), new_v),
                    kTolerance);
        }
      }
    }
  }
}

}  // namespace
}  // namespace cnnc::testing
