#!/usr/bin/env bash
# Runs one libFuzzer target for a while on its seed corpus.
#   run_fuzzer.sh FUZZER SEED_CORPUS WORK_DIR SECONDS [extra libFuzzer flags]
# New inputs go to WORK_DIR/corpus (the seed corpus is only read), crashes to
# WORK_DIR/artifacts/. Prints "executions: N"; exits non-zero on any finding.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/last.log
set +e
"$fuzzer" "$work/corpus" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
  -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" >"$log" 2>&1
status=$?
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "$(basename "$fuzzer"): executions: ${runs:-0} in ${seconds}s (exit $status)"
if [[ $status -ne 0 ]]; then
  tail -n 60 "$log"
  echo "finding saved under $work/artifacts/" >&2
fi
exit $status
