#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with the pinned package set.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version}"'
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  # The CUDA build of torch (it also runs on the CPU) makes the environment about 7 GB, and
  # pip holds about 3 GB of downloads while it installs. Say so before pip fails half-way.
  # pip's temporary files go beside the venv, not to a /tmp that may be a small tmpfs.
  need_kb=$((11 * 1024 * 1024))
  free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
  if [ "${free_kb:-0}" -lt "$need_kb" ]; then
    echo "[setup] WARNING: $((free_kb / 1024)) MiB free on the disk of $(pwd); the install" \
      "needs about 11 GiB (7 GiB .venv + 3 GiB downloads held while installing)" >&2
  fi
  echo "[setup] installing pinned dependencies (first run takes a few minutes)"
  mkdir -p .venv/.pip-tmp
  TMPDIR="$PWD/.venv/.pip-tmp" .venv/bin/python -m pip install --quiet --no-cache-dir \
    --disable-pip-version-check -c requirements.lock -e ".[pipeline,dev]"
  rm -rf .venv/.pip-tmp .venv/.installed-*
  touch "$stamp"
fi
bash scripts/system_packages.sh
echo "[setup] environment ready: .venv"
