#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then examples/ built as an outside
# project against it (find_package(cnnc)), and the C example's usage error.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/cnnc-install-XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in bin/cnnc lib/cnnc/libcnnc_runtime.a include/cnnc/cnnc_runtime.h \
  include/cnnc/cnnc_kernel_abi.h lib/cmake/cnnc/cnncConfig.cmake \
  lib/cmake/cnnc/cnncConfigVersion.cmake lib/cmake/cnnc/cnnc_add_model.cmake; do
  [[ -f $prefix/$f ]] || { echo "FAIL: $f was not installed"; exit 1; }
done
"$prefix/bin/cnnc" --help | grep -q "cnnc compile" || { echo "FAIL: installed cnnc --help"; exit 1; }

# Moved after installing: the package must not depend on its first prefix.
mv "$prefix" "$work/moved"
prefix=$work/moved
cmake -S "$source/examples" -B "$work/examples" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; echo "FAIL: configuring examples against the install"; exit 1; }
cmake --build "$work/examples" -j2 >"$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log"; echo "FAIL: building examples against the install"; exit 1; }

set +e
usage=$("$work/examples/infer_lenet5" 2>&1)
status=$?
set -e
if [[ $status -ne 2 || $usage != *"usage:"*"WEIGHTS.safetensors"* ]]; then
  echo "FAIL: infer_lenet5 without arguments: exit $status: $usage"
  exit 1
fi
echo "PASS: installed into $prefix; examples built against it; infer_lenet5 usage exits 2"
