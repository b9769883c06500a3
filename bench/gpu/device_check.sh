#!/usr/bin/env bash
# On the GPU machine (see bench/gpu/README.md for the exact `run` command):
#  1. parity: each network's CUDA library against the host build's outputs
#     computed by prepare.sh (forward within 1e-3 relative, one training step's
#     weight changes within 1e-2);
#  2. speed: the CUDA libraries (what `cnnc bench --target cuda` measures)
#     against PyTorch FP32 with TF32 off, and for reference TF32 and bf16, at
#     batch 1 and 64 (inference) and a training step at batch 64.
# Needs only the driver, python3 with torch/torchvision, and bench/gpu/prebuilt.
#   bench/gpu/device_check.sh [OUT_DIR]     (MODELS="lenet5 ..." to choose)
set -uo pipefail
cd "$(dirname "$0")/../.."
pre=bench/gpu/prebuilt
out=${1:-${OUT:-/tmp}}
models=${MODELS:-lenet5 alexnet vgg16 googlenet resnet50}
[ -d "$pre/ref" ] || { echo "device_check.sh: no $pre: run bench/gpu/prepare.sh on the CPU machine first" >&2; exit 2; }
nvidia-smi -L || true
export CUDA_CACHE_MAXSIZE=1073741824  # PTX compiled for this GPU once, kept for the next process
start=$SECONDS
status=0

# An executable that cannot start here (this machine's system libraries) is
# linked again from its library, with this machine's compiler.
declare -A exe
for m in $models; do
  exe[$m]=$pre/check_$m
  "${exe[$m]}" >/dev/null 2>&1
  if [ $? -ne 2 ]; then
    echo "check_$m does not start here; linking it from $pre/lib/$m"
    exe[$m]=$out/check_$m
    gunzip -c "$pre/lib/$m/lib$m.a.gz" >"$out/lib$m.a"
    c++ -std=c++17 -O2 -include "$pre/lib/$m/$m.h" -DMODEL="$m" -I"$pre/lib/$m" bench/gpu/model_check.cpp \
      -L"$out" -l"$m" -lpthread -ldl -o "${exe[$m]}" || status=1
    rm -f "$out/lib$m.a"
  fi
done

echo "== parity: CUDA library vs the host build (forward <= 1e-3, training step <= 1e-2)"
for m in $models; do
  timeout 150 "${exe[$m]}" check "$pre/ref" || { echo "$m: parity check failed (exit $?)"; status=1; }
done
echo "   parity took $((SECONDS - start)) s"

echo "== speed of the CUDA libraries (median ms per call, host images in, host outputs out)"
timings=$out/cnnc_gpu_timings.jsonl
: >"$timings"
for m in $models; do
  for mode in "1 infer" "64 infer" "64 train"; do
    set -- $mode
    batch=$1 kind=$2
    if [ $((SECONDS - start)) -gt 330 ]; then echo "   (skipping $m $kind $batch: time budget)"; continue; fi
    flags=(--batch "$batch" --warmup 2 --json)
    if [ "$kind" = train ]; then flags+=(--train --iters 5); else flags+=(--iters 10); fi
    line=$(timeout 90 "${exe[$m]}" bench "${flags[@]}" 2>&1 | tail -1)
    echo "   $m $kind batch $batch: $line"
    case $line in
      "{"*) echo "{\"model\": \"$m\", \"kind\": \"$kind\", \"batch\": $batch, \"cnnc\": $line}" >>"$timings" ;;
      *) status=1 ;;
    esac
  done
done

echo "== PyTorch on the same GPU, and the ratios"
timeout $((470 - (SECONDS - start))) python3 bench/gpu/torch_bench.py "$timings" || status=1
echo "device_check.sh: $((SECONDS - start)) s, $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
