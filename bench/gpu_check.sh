#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: the CUDA tests, then inference throughput
# of the demo and paper presets (model alone and end to end), then one GPU shared by 1, 2 and
# 4 infer jobs on HD video. Each step has a time limit; the whole check stays under 8
# minutes on an H100/H200 node once the environment is installed (bash scripts/setup.sh).
# Prints one summary table at the end; the full outputs are in $OUT (default /tmp/gpu_check).
#
#   bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
summary=()

step() {  # name, time limit (s), command...
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  summary+=("| $name | $rc | $((SECONDS - start)) s | $(tail -n 1 "$OUT/$name.log" | cut -c1-90) |")
}

nvidia-smi -L | tee "$OUT/gpus.txt"
step cuda_tests 150 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests
step throughput_demo 90 "$PY" bench/inference_throughput.py --preset demo --device cuda \
  --repeats 2 --seconds 60
step throughput_paper 120 "$PY" bench/inference_throughput.py --preset paper --device cuda \
  --repeats 2 --seconds 60 --size 1280x720 --fps 30
step gpu_share 150 "$PY" bench/gpu_share.py --jobs 1 2 4 --preset paper --seconds 20

echo
echo "| step | exit | time | last line |"
echo "|---|---:|---:|---|"
printf '%s\n' "${summary[@]}"
for f in throughput_demo throughput_paper gpu_share; do
  echo
  echo "## $f"
  grep -E '^\||windows/s|ratio' "$OUT/$f.log" | head -30
done
