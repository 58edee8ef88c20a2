#!/usr/bin/env bash
# The wheels a lent GPU machine's Python lacks for bench/gpu_check.sh, downloaded here into
# .whl/ (ignored by git) at this project's pins. That machine reaches no package registry and
# runs its own python3 (3.12, with torch, numpy, pandas, pyarrow, OpenCV, safetensors, tqdm,
# PyYAML and pytest already there); it misses PyAV and pydantic with pydantic's helpers.
#
#   bash scripts/device_wheels.sh            # then, on the GPU machine, in the checkout:
#   python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site \
#       .whl/*.whl && PYTHONPATH=/tmp/site PY=python3 bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
pin() {  # the version requirements.lock pins
  local v
  v=$(grep -i -E "^$1==" requirements.lock | cut -d= -f3)
  [ -n "$v" ] || { echo "$1 is not pinned in requirements.lock" >&2; exit 1; }
  echo "$1==$v"
}
mkdir -p .whl
platforms=()
for p in manylinux_2_34_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 \
  manylinux_2_17_x86_64 manylinux2014_x86_64; do
  platforms+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d .whl \
  "$(pin av)" "$(pin pydantic)" "$(pin pydantic_core)" "$(pin annotated-types)" \
  "$(pin typing-inspection)" "$(pin typing_extensions)"
ls -1 .whl
du -sh .whl
