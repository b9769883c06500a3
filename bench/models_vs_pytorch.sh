#!/usr/bin/env bash
# Whole models: `cnnc bench` against PyTorch 1.13 (2 threads each), side by side
# in one run. Inference: PyTorch traced + frozen + optimize_for_inference.
# Training (LeNet-5, resnet_mini at batch 32): PyTorch eager. Both take the
# median of K runs after 3 warm-up runs. Prints ms, ms and the ratio.
#   bench/models_vs_pytorch.sh [--models lenet5,alexnet,... | none] [--batches 1,32]
#                              [--iters K] [--train-models lenet5,resnet_mini | none]
#                              [--cnnc PATH]
# Pieces at a time: e.g. --models vgg16 --batches 32 --train-models none, or
# training only: --models none.
# On a shared, loaded machine PyTorch's OpenMP barriers (threads spin, then
# wait for a descheduled peer) can make it many times slower: compare on a
# quiet machine.
# The first run of a model compiles its kernels (not timed).
set -euo pipefail
cd "$(dirname "$0")/.."
models=lenet5,alexnet,vgg16,googlenet,resnet50
batches=1,32
train_models=lenet5,resnet_mini
iters=20
cnnc=build/compiler/driver/cnnc
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --train-models) train_models=$2; shift 2 ;;
    --cnnc) cnnc=$2; shift 2 ;;
    *) echo "usage: $0 [--models LIST|none] [--batches LIST] [--iters K] [--train-models LIST|none] [--cnnc PATH]" >&2
       exit 2 ;;
  esac
done
[ -x "$cnnc" ] || { echo "$cnnc not found: build cnnc first (cmake --build build)" >&2; exit 2; }
export CNNC_NUM_THREADS=2 OMP_NUM_THREADS=2

median_ms() {  # the median_ms field of the last JSON line on stdin
  /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["median_ms"])'
}

row() {  # MODE MODEL BATCH
  local mode=$1 model=$2 batch=$3 flag=""
  [ "$mode" = train ] && flag=--train
  # The first run compiles (kernels, library); its messages are not part of the table.
  "$cnnc" bench "models/$model.json" --batch "$batch" --iters 1 --warmup 1 $flag >/dev/null 2>&1 ||
    "$cnnc" bench "models/$model.json" --batch "$batch" --iters 1 --warmup 1 $flag
  local c t
  c=$("$cnnc" bench "models/$model.json" --batch "$batch" --iters "$iters" $flag --json | median_ms)
  t=$(/usr/bin/python3 bench/models_torch.py "$mode" "models/$model.json" "$batch" "$iters" | median_ms)
  /usr/bin/python3 -c 'import sys
mode, model, batch, c, t = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
if mode == "train":
    print("%-12s %-6s %5d %11.3f %11.3f %9.2f   (%.0f vs %.0f images/s: %.2fx PyTorch)"
          % (model, mode, batch, c, t, c / t, batch * 1e3 / c, batch * 1e3 / t, t / c))
else:
    print("%-12s %-6s %5d %11.3f %11.3f %9.2f" % (model, mode, batch, c, t, c / t))' \
    "$mode" "$model" "$batch" "$c" "$t"
}

echo "# $(date -u +%FT%TZ), 2 threads each, median of $iters runs; ratio = cnnc ms / PyTorch ms"
printf "%-12s %-6s %5s %11s %11s %9s\n" model mode batch "cnnc ms" "PyTorch ms" ratio
if [ "$models" != none ]; then
  for model in ${models//,/ }; do
    for batch in ${batches//,/ }; do row infer "$model" "$batch"; done
  done
fi
if [ "$train_models" != none ]; then
  for model in ${train_models//,/ }; do row train "$model" 32; done
fi
