#!/usr/bin/env bash
# LeNet-5: cnnc's generated library against PyTorch (2 threads), side by side.
#   bench/lenet5_vs_pytorch.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
tools/install_deps.sh test
dpkg-query -W libbenchmark-dev >/dev/null 2>&1 || apt-get install -y --no-install-recommends libbenchmark-dev
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCNNC_BUILD_TESTS=OFF -DCNNC_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_lenet5

export CNNC_NUM_THREADS=2
cnnc_json=$("$build/bench/bench_lenet5" --benchmark_format=json --benchmark_min_time=2 2>/dev/null)
torch_json=$(/usr/bin/python3 bench/lenet5_torch.py 300)
/usr/bin/python3 - "$cnnc_json" "$torch_json" <<'PY'
import json, sys
cnnc = {b["name"]: b for b in json.loads(sys.argv[1])["benchmarks"]}
torch = json.loads(sys.argv[2])
def ms(name):  # real time per iteration in ms
    b = cnnc[name]
    scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
    return b["real_time"] * scale
train_c, train_t = 32 / (ms("BM_Lenet5TrainStep/32/real_time") / 1e3), 32 / torch["train_b32_s"]
print("LeNet-5, 2 threads            cnnc        PyTorch     ratio")
print("train batch 32 (images/s)  %9.0f   %9.0f    %5.2fx" % (train_c, train_t, train_c / train_t))
for b in (1, 32):
    c, t = ms("BM_Lenet5Infer/%d/real_time" % b), torch["infer_b%d_s" % b] * 1e3
    print("infer batch %-2d (ms)        %9.3f   %9.3f    %5.2f (cnnc/PyTorch time)" % (b, c, t, c / t))
PY
