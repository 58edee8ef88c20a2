#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with the pinned package set.
# Idempotent: a second run only checks that everything is installed.
#
#   bash scripts/setup.sh          # what the demo and the pipeline need
#   bash scripts/setup.sh --test   # also the Debian packages some tests use (SLURM, R)
#
# Python: the newest supported python3.x found (3.13, 3.12, 3.11), or $PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
SUPPORTED=(3.13 3.12 3.11)
UV_VERSION=0.13.9  # the installer (scripts/setup.sh only; not part of the pinned set)
test_packages=0
for arg in "$@"; do
  case "$arg" in
    --test) test_packages=1 ;;
    *) echo "[setup] unknown option $arg (use --test for the test suite's system packages)" >&2
       exit 2 ;;
  esac
done

works() {  # a Python interpreter that runs and is one of the supported versions
  "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] in [(3, 11), (3, 12), (3, 13)] else 1)' \
    >/dev/null 2>&1
}

if [ -x .venv/bin/python ] && works .venv/bin/python; then
  PYTHON=.venv/bin/python
elif [ -n "${PYTHON:-}" ]; then
  works "$PYTHON" || { echo "[setup] PYTHON=$PYTHON is not Python ${SUPPORTED[*]}" >&2; exit 1; }
else
  for v in "${SUPPORTED[@]}"; do
    if works "python$v"; then PYTHON="python$v"; break; fi
  done
  if [ -z "${PYTHON:-}" ] && works python3; then PYTHON=python3; fi
  if [ -z "${PYTHON:-}" ]; then
    echo "[setup] no supported Python found: install Python ${SUPPORTED[*]} (python3.12 from" \
      "your package manager, pyenv or conda), or point PYTHON=/path/to/python at one" >&2
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $("$PYTHON" --version) ($(command -v "$PYTHON"))"
  "$PYTHON" -m venv .venv
fi
echo "[setup] using $(.venv/bin/python --version) in .venv"
stamp=.venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  # The CUDA build of torch (it also runs on the CPU) makes the environment about 7 GB, and
  # the installer holds up to 3 GB of downloads while it installs. Say so before it fails
  # half-way. Its temporary files go beside the venv, not to a /tmp that may be a small tmpfs.
  need_kb=$((11 * 1024 * 1024))
  free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
  if [ "${free_kb:-0}" -lt "$need_kb" ]; then
    echo "[setup] WARNING: $((free_kb / 1024)) MiB free on the disk of $(pwd); the install" \
      "needs about 11 GiB (7 GiB .venv + 3 GiB downloads held while installing)" >&2
  fi
  echo "[setup] installing pinned dependencies (first run takes a minute or a few)"
  mkdir -p .venv/.pip-tmp
  saved_tmpdir="${TMPDIR-}"
  export TMPDIR="$PWD/.venv/.pip-tmp"
  # uv installs the same pinned set several times faster than pip (parallel downloads and
  # unpacking; docs/benchmarks.md, install time); pip is the fallback wherever uv cannot be
  # installed or cannot reach the index. uv reads no pip.conf: a
  # mirror in PIP_INDEX_URL / PIP_EXTRA_INDEX_URL is passed on, and it uses the system's
  # certificate store (UV_NATIVE_TLS), as a proxy with its own certificate needs.
  index=()
  if [ -n "${PIP_INDEX_URL:-}" ]; then index+=(--index-url "$PIP_INDEX_URL"); fi
  for url in ${PIP_EXTRA_INDEX_URL:-}; do index+=(--extra-index-url "$url"); done
  installed=0
  if .venv/bin/python -m pip install --quiet --no-cache-dir --disable-pip-version-check \
      "uv==$UV_VERSION" >/dev/null 2>&1; then
    # --compile-bytecode as pip does: without .pyc files every process would compile
    # torch's Python anew where PYTHONDONTWRITEBYTECODE is set.
    if UV_NATIVE_TLS=1 .venv/bin/uv pip install --quiet --no-cache --compile-bytecode \
        --python .venv/bin/python ${index[@]+"${index[@]}"} -c requirements.lock \
        -e ".[pipeline,dev]"; then
      installed=1
    else
      echo "[setup] uv could not install the set; trying pip" >&2
    fi
  fi
  if [ "$installed" = 0 ]; then
    .venv/bin/python -m pip install --quiet --no-cache-dir --disable-pip-version-check \
      -c requirements.lock -e ".[pipeline,dev]"
  fi
  rm -rf .venv/.pip-tmp .venv/.installed-*
  # Back to the caller's temporary folder: the Debian packages' install scripts (R's uses
  # mktemp) must not see the one just removed.
  if [ -n "$saved_tmpdir" ]; then export TMPDIR="$saved_tmpdir"; else unset TMPDIR; fi
  touch "$stamp"
fi
if [ "$test_packages" = 1 ]; then
  bash scripts/system_packages.sh
fi
echo "[setup] environment ready: .venv"
