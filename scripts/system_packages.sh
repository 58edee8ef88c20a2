#!/usr/bin/env bash
# Debian packages some tests and the SLURM profile use: a single-node SLURM cluster
# (slurm-wlm, munge) and R with sandwich/lmtest (independent check of the statistics).
# Installed only as root on a Debian/Ubuntu machine; elsewhere the tests that need them skip.
set -euo pipefail
PACKAGES=(slurm-wlm munge r-base-core r-cran-sandwich r-cran-lmtest)
if [ "${SKIP_SYSTEM_PACKAGES:-0}" = 1 ]; then
  echo "[setup] SKIP_SYSTEM_PACKAGES=1: not installing ${PACKAGES[*]}"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "[setup] not root or no apt-get: skipping ${PACKAGES[*]} (SLURM and R tests will skip)"
  exit 0
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
