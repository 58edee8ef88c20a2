#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: the CUDA tests, then inference throughput
# of the demo and paper presets (model alone and end to end), then one GPU shared by 1, 2 and
# 4 infer jobs on HD video. Each step has a time limit: 550 s in all if every step ran to its
# limit (expect about half), once the environment is installed (bash scripts/setup.sh, or PY:
# a Python with the pipeline's packages). Prints one summary table at the end; the full
# outputs are in $OUT (default /tmp/gpu_check).
#
#   bash bench/gpu_check.sh
#
# On a lent GPU machine, whose python3 lacks some of the packages: scripts/device_wheels.sh
# (its header says how).
#
#   REHEARSE=1 bash bench/gpu_check.sh
#
# runs the same steps on the CPU with tiny inputs (about 2 min on 2 cores), to check the
# script and the benchmarks it calls where there is no GPU; its figures mean nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
# The project importable without an install (bench scripts run as files), and every line a
# step printed kept when its time limit kills it.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
summary=() failed=()

step() {  # name, time limit (s), command...
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local last
  last=$(tail -n 1 "$OUT/$name.log" | tr '|\r' '/\n' | tail -n 1 | cut -c1-90)
  summary+=("| $name | $rc | $((SECONDS - start)) s | $last |")
  [ "$rc" = 0 ] || failed+=("$name")
}

if [ "${REHEARSE:-0}" = 1 ]; then
  dev=cpu need_cuda=False
  demo_args=(--repeats 1 --seconds 5)
  paper_args=(--repeats 1 --seconds 5 --size 320x180 --fps 30 --batch-size 4 --pairs 1)
  share_args=(--jobs 1 2 --seconds 5 --size 320x180)
else
  dev=cuda need_cuda=True
  demo_args=(--repeats 2 --seconds 60)
  paper_args=(--repeats 2 --seconds 30 --size 1280x720 --fps 30)
  share_args=(--jobs 1 2 4 --seconds 20)
  nvidia-smi -L | tee "$OUT/gpus.txt"
fi
# Minutes of steps would each fail on an import: stop at once instead.
if ! "$PY" -c "import av, cv2, pydantic, safetensors, torch, microdualnet.cli
print(f'torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}')
assert torch.cuda.is_available() or not $need_cuda, 'no CUDA device for torch'" 2>&1 \
    | tee "$OUT/python.txt"; then
  echo "$PY cannot run the check (above)"
  exit 1
fi
# Only the files with GPU tests: collecting the whole suite takes a minute, and a module only
# another part of the suite needs would stop the run at collection. No addopts: the GPU
# machine's own pytest-xdist may not know the suite's options.
mapfile -t gpu_tests < <(grep -rlE --include='test_*.py' 'mark\.gpu' tests | sort)
step cuda_tests 120 "$PY" -m pytest -q -o addopts= -m gpu -p no:cacheprovider "${gpu_tests[@]}"
step throughput_demo 110 "$PY" bench/inference_throughput.py --preset demo --device $dev \
  "${demo_args[@]}"
step throughput_paper 180 "$PY" bench/inference_throughput.py --preset paper --device $dev \
  "${paper_args[@]}"
step gpu_share 140 "$PY" bench/gpu_share.py --preset paper --device $dev "${share_args[@]}"

echo
echo "| step | exit | time | last line |"
echo "|---|---:|---:|---|"
printf '%s\n' "${summary[@]}"
for f in throughput_demo throughput_paper gpu_share; do
  echo
  echo "## $f"
  grep -E '^[|#]|device:|windows/s|end-to-end|beside a loader' "$OUT/$f.log" | head -30
done
# The exit status says whether every step succeeded (their logs are in $OUT).
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "failed: ${failed[*]}"
  exit 1
fi
