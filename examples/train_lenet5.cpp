// Trains LeNet-5 (models/lenet5.json, compiled by cnnc into liblenet5.a) on
// MNIST in IDX form, reports test accuracy and saves the weights.
//
//   train_lenet5 MNIST_DIR [EPOCHS] [WEIGHTS_OUT]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "lenet5.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MNIST_DIR [EPOCHS] [WEIGHTS_OUT]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  int epochs = argc > 2 ? std::atoi(argv[2]) : 1;
  std::string weights = argc > 3 ? argv[3] : "lenet5_example.safetensors";
  try {
    cnnc::Dataset train = cnnc::load_images(dir + "/train-images-idx3-ubyte");
    cnnc::load_labels(train, dir + "/train-labels-idx1-ubyte", lenet5::kOutputSize);
    cnnc::Dataset test = cnnc::load_images(dir + "/t10k-images-idx3-ubyte");
    cnnc::load_labels(test, dir + "/t10k-labels-idx1-ubyte", lenet5::kOutputSize);

    lenet5::Model model(/*seed=*/1);
    cnnc::FitOptions options;
    options.recipe = model.info().recipe;  // the model file's training section
    options.recipe.epochs = epochs;
    options.save = weights;
    cnnc::fit(model, train, &test, options);

    double loss = 0, accuracy = 0;
    cnnc::evaluate(model, test, &loss, &accuracy);
    std::printf("test loss %.4f, test accuracy %.2f%% on %lld images; weights in %s\n", loss,
                100.0 * accuracy, static_cast<long long>(test.n), weights.c_str());
  } catch (const cnnc::Error& e) {
    std::fprintf(stderr, "train_lenet5: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
