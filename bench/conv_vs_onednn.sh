#!/usr/bin/env bash
# cnnc's Conv2D kernels against oneDNN on every distinct conv shape of the
# seed networks (batch 1, 2 threads each), side by side in one process.
#   bench/conv_vs_onednn.sh [BUILD_DIR] [extra benchmark flags, e.g. --benchmark_filter=14x14]
# Prints per shape: times (medians), GFLOP/s, the ratio cnnc/oneDNN (medians,
# and of the fastest runs), cnnc's algorithm and, where it is not direct, the
# direct kernel's ratio in the same run; and the geometric mean of the ratios.
set -euo pipefail
flags=()
cd "$(dirname "$0")/.."
build=${1:-build-bench}
shift || true
tools/install_deps.sh bench
# A fresh build folder skips the tests; an existing one keeps its settings.
[[ -f $build/CMakeCache.txt ]] || flags=(-DCMAKE_BUILD_TYPE=Release -DCNNC_BUILD_TESTS=OFF)
cmake -S . -B "$build" "${flags[@]}" -DCNNC_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_conv_vs_onednn

out=$(mktemp)
trap 'rm -f "$out"' EXIT
OMP_WAIT_POLICY=PASSIVE CNNC_BENCH_THREADS=2 "$build/bench/bench_conv_vs_onednn" \
  --benchmark_out="$out" --benchmark_out_format=json "$@" >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import json, math, sys
rows = json.load(open(sys.argv[1]))["benchmarks"]
print("%-26s %10s %10s %7s %7s %6s %6s  %-44s %s" % (
    "shape (HxWxC-k-filters)", "cnnc ms", "oneDNN ms", "cnnc GF", "dnnl GF", "ratio", "r_min",
    "algorithm", "direct ratio"))
logs, logs_min = [], []
for b in rows:
    if "ratio" not in b:
        print("%-26s %s" % (b["name"], b.get("error_message", "failed")))
        continue
    logs.append(math.log(b["ratio"]))
    logs_min.append(math.log(b["ratio_min"]))
    print("%-26s %10.3f %10.3f %7.1f %7.1f %6.2f %6.2f  %-44s %s" % (
        b["name"].split("/")[1], b["cnnc_ms"], b["onednn_ms"], b["cnnc_gflops"],
        b["onednn_gflops"], b["ratio"], b["ratio_min"], b.get("label", ""),
        "%.2f" % b["direct_ratio"] if "direct_ratio" in b else ""))
if logs:
    worst = max(rows, key=lambda b: b.get("ratio", 0))
    print("geometric mean cnnc/oneDNN time: %.3f (fastest runs: %.3f) over %d shapes; worst %.2f (%s)"
          % (math.exp(sum(logs) / len(logs)), math.exp(sum(logs_min) / len(logs_min)), len(logs),
             worst["ratio"], worst["name"].split("/")[1]))
    # Direct everywhere (the kernels before Winograd), from the same run.
    direct = [b.get("direct_ratio", b["ratio"]) for b in rows if "ratio" in b]
    print("direct kernels only: geometric mean %.3f, worst %.2f"
          % (math.exp(sum(map(math.log, direct)) / len(direct)), max(direct)))
PY
