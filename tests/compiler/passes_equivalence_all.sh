#!/usr/bin/env bash
# Passes on against passes off for the seed networks (issue 4's acceptance):
# one table of the inference error, the worst training-update error and the
# seconds each model took (two compiles and runs each way, on a cold kernel
# cache many minutes per model).
#   tests/compiler/passes_equivalence_all.sh [--cnnc PATH] [--batch N] [--steps K] [MODEL...]
# MODEL is a name under models/ (default: the five seed networks, AlexNet in
# both variants). Exit status 1 if any model fails its tolerance.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cnnc=$root/build/compiler/driver/cnnc
batch=2
steps=1
models=()
while (($#)); do
  case $1 in
    --cnnc) cnnc=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    -*) echo "passes_equivalence_all.sh: unknown option '$1'" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || models=(lenet5 alexnet alexnet_lrn vgg16 googlenet resnet50)
[[ -x $cnnc ]] || { echo "passes_equivalence_all.sh: no cnnc at $cnnc (build first)" >&2; exit 2; }

# The error (last word) on the line of the test's output that starts with $1.
error_of() { awk -v what="$1" 'index($0, what) == 1 { print $NF }' <<<"$2"; }

failed=0
printf '%-12s %-12s %-12s %-12s %8s  %s\n' model inference training checkpoint seconds result
for m in "${models[@]}"; do
  start=$SECONDS
  out=$(/usr/bin/python3 "$root/tests/compiler/test_passes_equivalence.py" "$cnnc" \
    "$root/models/$m.json" --batch "$batch" --steps "$steps" 2>&1)
  rc=$?
  result=PASS
  if ((rc != 0)); then
    result=FAIL
    failed=1
    echo "$out" >&2
  fi
  printf '%-12s %-12s %-12s %-12s %8d  %s\n' "$m" "$(error_of inference "$out")" \
    "$(error_of training "$out")" "$(error_of checkpoint "$out")" $((SECONDS - start)) "$result"
done
exit $failed
