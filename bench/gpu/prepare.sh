#!/usr/bin/env bash
# Builds, on this CPU machine, everything bench/gpu/device_check.sh runs on the
# GPU machine (which has no Halide and no cnnc compiler) into bench/gpu/prebuilt/
# (ignored by git; the device tool takes it along with carry, see README.md):
#   check_<model>         the model's CUDA library (--target cuda, batch up to 64)
#                         linked with model_check.cpp: parity check and bench
#   lib/<model>/          that library (gzip) and its headers (to link there if need be)
#   ref/<model>.*.bin     the host build's forward outputs and training-step
#                         changes, computed here (the GPU machine's CPU may lack
#                         this one's AVX-512; its weights come from the same seed)
#   bench/gpu/prepare.sh [BUILD_DIR] [MODEL...]     (default: build, all five)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
models=${*:-lenet5 alexnet vgg16 googlenet resnet50}
cnnc=$build/compiler/driver/cnnc
[ -x "$cnnc" ] || { echo "prepare.sh: no $cnnc; build cnnc first (cmake --build $build --target cnnc)" >&2; exit 2; }

out=bench/gpu/prebuilt
work=$build/gpu-prepare
mkdir -p "$out/ref" "$work"
# The libraries' extra objects need nothing but libstdc++ and glibc; the GPU
# machine's may be older than this one's libstdc++, so that one is linked in.
link() {  # link DIR NAME OUTPUT
  c++ -std=c++17 -O2 -include "$1/$2.h" -DMODEL="$2" -I"$1" bench/gpu/model_check.cpp \
    -L"$1" -l"$2" -static-libstdc++ -static-libgcc -lpthread -ldl -o "$3"
}
for m in $models; do
  echo "== $m" >&2
  # The CUDA library: its arena at batch 64 is for the GPU's memory, not this machine's.
  "$cnnc" compile "models/$m.json" -o "$work/$m-cuda" --target cuda --batch 64 --memory-limit 120G
  link "$work/$m-cuda" "$m" "$out/check_$m"
  # The library too (compressed: mostly PTX text): device_check.sh links it
  # there if this executable cannot start on that machine's system libraries.
  mkdir -p "$out/lib/$m"
  cp "$work/$m-cuda/$m.h" "$work/$m-cuda/cnnc_runtime.h" "$out/lib/$m/"
  gzip -c "$work/$m-cuda/lib$m.a" >"$out/lib/$m/lib$m.a.gz"
  # The reference: the host build, batch 4 (the check's), run here.
  "$cnnc" compile "models/$m.json" -o "$work/$m-host" --batch 4
  link "$work/$m-host" "$m" "$work/check_${m}_host"
  "$work/check_${m}_host" reference "$out/ref"
done
# The CUDA executables fail cleanly here (no GPU): that is checked, too.
for m in $models; do
  set +e
  msg=$("$out/check_$m" check "$out/ref" 2>&1)
  code=$?
  set -e
  if [ $code -ne 2 ] || ! grep -q "CUDA" <<<"$msg"; then
    if ! command -v nvidia-smi >/dev/null; then
      echo "prepare.sh: check_$m without a GPU: exit $code, '$msg' (want 2 and a message naming CUDA)" >&2
      exit 1
    fi
  fi
done
du -sh "$out" >&2
echo "prepare.sh: ready; run bench/gpu/device_check.sh on the GPU machine (bench/gpu/README.md)" >&2
