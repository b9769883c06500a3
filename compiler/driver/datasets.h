// Named data sets for `cnnc train --dataset NAME`: where their IDX files are,
// preparing them on first use.
#pragma once

#include <string>

namespace cnnc::driver {

struct DatasetFiles {
  std::string train_images, train_labels, test_images, test_labels;
};

// "mnist": IDX files made by tools/fetch_mnist.sh in <data_dir>/mnist.
// "fashion-mnist": the Debian package dataset-fashion-mnist, decompressed
// once into <data_dir>/fashion-mnist. Throws cnnc::Error saying what to do
// when a data set is missing or the name is unknown.
DatasetFiles resolve_dataset(const std::string& name, const std::string& data_dir);

// The fashion-mnist part, with the folder of the .gz files as a parameter
// (for tests; the package installs them in kFashionMnistPackageDir).
constexpr char kFashionMnistPackageDir[] = "/usr/share/datasets/fashion-mnist";
DatasetFiles resolve_fashion_mnist(const std::string& data_dir, const std::string& package_dir);

}  // namespace cnnc::driver
