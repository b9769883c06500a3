#!/usr/bin/env bash
# A long fuzzing campaign over the four libFuzzer targets (tests/fuzz).
#   tools/fuzz_campaign.sh [SECONDS] [BUILD_DIR]
# SECONDS (default 600) is split evenly over the targets, which run one after
# another; BUILD_DIR (default build-fuzz) holds the clang++ build, the growing
# corpora (BUILD_DIR/campaign/<target>/corpus) and any crash, hang or
# sanitizer finding (BUILD_DIR/campaign/<target>/artifacts). Prints the
# executions per target and in all; exits non-zero if a target found anything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
build=${2:-$root/build-fuzz}
targets=(fuzz_model_json fuzz_safetensors fuzz_npy fuzz_idx)
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z $cxx ]]; then
  echo "error: clang++ not found; install clang-14 and libclang-rt-14-dev" >&2
  exit 2
fi

cmake -S "$root/tests/fuzz/targets" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

per_target=$((seconds / ${#targets[@]}))
((per_target >= 1)) || per_target=1
total=0 failed=()
start=$(date +%s)
for t in "${targets[@]}"; do
  work=$build/campaign/$t
  if line=$("$root/tests/fuzz/run_fuzzer.sh" "$build/$t" "$root/tests/fuzz/corpus/$t" "$work" \
    "$per_target" | tail -n 1); then
    :
  else
    failed+=("$t")
    line=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/last.log" | tail -n 1)
    line="$t: executions: ${line:-0} (FOUND SOMETHING: see $work/artifacts, $work/last.log)"
  fi
  echo "$line"
  runs=$(sed -n 's/.*executions: \([0-9]*\).*/\1/p' <<<"$line")
  total=$((total + ${runs:-0}))
done
echo "total: $total executions in $(($(date +%s) - start))s over ${#targets[@]} targets"
if ((${#failed[@]})); then
  echo "findings in: ${failed[*]}" >&2
  exit 1
fi
