#!/usr/bin/env bash
# The graph passes' effect on speed: `cnnc bench` of each model with every pass
# off and on, alternating in one run (ROUNDS rounds, so that a load that comes
# and goes on a shared machine falls on both). Prints each run's median and,
# per model, the median of the rounds and the ratio off/on (above 1: the passes
# help). The first run of each build compiles its kernels (not timed).
#   bench/passes_on_off.sh [--models resnet50,googlenet] [--batch 1] [--iters 20]
#                          [--rounds 3] [--cnnc PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
models=resnet50,googlenet
batch=1
iters=20
rounds=3
cnnc=build/compiler/driver/cnnc
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --cnnc) cnnc=$2; shift 2 ;;
    *) echo "usage: $0 [--models LIST] [--batch N] [--iters K] [--rounds R] [--cnnc PATH]" >&2
       exit 2 ;;
  esac
done

# median_ms from the JSON object on the last line of `cnnc bench --json`.
median_ms() {
  "$cnnc" bench "models/$1.json" --batch "$batch" --iters "$iters" --passes "$2" --json |
    tail -n 1 | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["median_ms"])'
}

declare -A times
IFS=, read -ra names <<<"$models"
for m in "${names[@]}"; do  # compile both builds first
  for p in none all; do median_ms "$m" "$p" >/dev/null; done
done
printf '%-10s %5s %6s %10s\n' model round passes median_ms
for ((r = 1; r <= rounds; ++r)); do
  for m in "${names[@]}"; do
    for p in none all; do
      t=$(median_ms "$m" "$p")
      times[$m,$p]+="$t "
      printf '%-10s %5d %6s %10.2f\n' "$m" "$r" "$p" "$t"
    done
  done
done
echo
printf '%-10s %12s %12s %8s   (batch %d, median of %d rounds of %d iterations)\n' \
  model off_ms on_ms off/on "$batch" "$rounds" "$iters"
for m in "${names[@]}"; do
  /usr/bin/python3 - "$m" "${times[$m,none]}" "${times[$m,all]}" <<'EOF'
import statistics, sys
off = statistics.median(map(float, sys.argv[2].split()))
on = statistics.median(map(float, sys.argv[3].split()))
print("%-10s %12.2f %12.2f %8.2f" % (sys.argv[1], off, on, off / on))
EOF
done
