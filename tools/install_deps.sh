#!/usr/bin/env bash
# Installs the Debian packages that are missing, and nothing else.
#   tools/install_deps.sh build   what building cnnc and the demo need
#   tools/install_deps.sh test    that, plus the test suite's references and data
#   tools/install_deps.sh bench   build, plus the benchmarks' peers (oneDNN, Google Benchmark)
set -euo pipefail

build_packages=(cmake g++ make libhalide14-0-dev nlohmann-json3-dev zlib1g-dev npm)
bench_packages=(libdnnl-dev libbenchmark-dev)
test_packages=(libgtest-dev python3-torch python3-numpy dataset-fashion-mnist clang-14 libclang-rt-14-dev)

wanted=("${build_packages[@]}")
if [[ ${1:-build} == test ]]; then
  wanted+=("${test_packages[@]}")
elif [[ ${1:-build} == bench ]]; then
  wanted+=("${bench_packages[@]}")
fi

# A tool already on PATH counts as present, whatever package brought it (npm
# often comes with a NodeSource nodejs, which conflicts with Debian's npm).
declare -A commands=([cmake]=cmake [g++]=g++ [make]=make [npm]=npm)
missing=()
for p in "${wanted[@]}"; do
  if [[ -n ${commands[$p]:-} ]] && command -v "${commands[$p]}" >/dev/null 2>&1; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "Installing missing packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
