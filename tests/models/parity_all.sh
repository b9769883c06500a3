#!/bin/sh
# Parity of every seed architecture with the PyTorch reference: forward at
# batch 2 (relative error <= 1e-4) and two SGD steps with the model's momentum
# and L2 (<= 1e-3; Dropout rates set to 0 in a copy). About an hour on 2 cores,
# most of it compiling the ImageNet-size models and VGG16's float64 reference
# (~5 GB of memory). Models whose layers this cnnc refuses are reported SKIP.
#
#   tests/models/parity_all.sh [CNNC] [MODEL...]
# CNNC defaults to build/compiler/driver/cnnc; MODEL names files in models/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cnnc=${1:-$root/build/compiler/driver/cnnc}
[ $# -gt 0 ] && shift
models=${*:-"lenet5 lenet5_momentum resnet_mini alexnet alexnet_lrn googlenet resnet50 vgg16"}
python=/usr/bin/python3  # Debian's python3-torch lives here, whatever python3 is first on PATH
if [ ! -x "$cnnc" ]; then
  echo "no cnnc at $cnnc; build it (cmake --build build --target cnnc) or pass its path" >&2
  exit 2
fi

summary=""
failed=0
check() {  # model mode args...
  model=$1 mode=$2
  shift 2
  start=$(date +%s)
  log=$("$python" "$here/test_parity.py" "$cnnc" "$root/models/$model.json" "$mode" "$@" 2>&1)
  rc=$?
  seconds=$(($(date +%s) - start))
  echo "== $model $mode $*  (${seconds}s)"
  echo "$log" | tail -n 5
  case $rc in
    0) result=PASS ;;
    77) result=SKIP ;;
    *) result=FAIL failed=$((failed + 1)) ;;
  esac
  summary="$summary$(printf '%-5s %-16s %-8s %5ss' "$result" "$model" "$mode" "$seconds")
"
}

for model in $models; do
  case $model in
    lenet5*) batch=4 ;;
    resnet_mini) batch=4 ;;
    *) batch=2 ;;
  esac
  [ "$model" != lenet5_momentum ] && check "$model" forward --batch 2
  check "$model" sgd --steps 2 --batch $batch
done
echo
echo "$summary"
[ $failed -eq 0 ] && echo "no failures" || echo "$failed failed"
exit $((failed > 0))
