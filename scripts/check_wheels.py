"""Check that the pinned package set installs from binary wheels on each supported Python.

For every target version, the pins of `requirements.lock` that apply there (environment
markers evaluated for that version) are resolved by pip from the package index without
installing or downloading them (`--dry-run`, metadata only), restricted to binary wheels for
CPython on manylinux x86-64. A pin without such a wheel fails the check with pip's message.
Pure-Python packages published only as source (`SOURCE_ONLY`) are left out: they build on
any Python.

    python scripts/check_wheels.py                 # 3.11, 3.12 and 3.13
    python scripts/check_wheels.py --python 3.13
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ("3.11", "3.12", "3.13")
SOURCE_ONLY = {"connection-pool"}  # pure Python, no wheel on the index (snakemake needs it)
PLATFORMS = [f"manylinux_2_{i}_x86_64" for i in range(5, 37)] + [
    "manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]


def pins_for(lock: Path, version: str) -> list[str]:
    """The lock's requirements that apply on Python `version`, markers dropped."""
    out = []
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        env = {"python_version": version, "python_full_version": f"{version}.0"}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        if req.name.lower().replace("_", "-") in SOURCE_ONLY:
            continue
        out.append(f"{req.name}{req.specifier}")
    return out


def check(version: str, lock: Path) -> tuple[bool, str]:
    """(ok, one line): whether every applicable pin has a wheel for `version`."""
    pins = pins_for(lock, version)
    with tempfile.TemporaryDirectory() as tmp:
        reqs, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.json"
        reqs.write_text("\n".join(pins) + "\n")
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
               "--ignore-installed", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--python-version", version,
               "--implementation", "cp", "--abi", "cp" + version.replace(".", ""),
               *[f"--platform={p}" for p in PLATFORMS], "--target", str(Path(tmp) / "t"),
               "--report", str(report), "-r", str(reqs)]
        # The package index only: not a machine's local wheel folders or constraint files.
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS",
                                                                 "PIP_CONSTRAINT")}
        env["PIP_CONFIG_FILE"] = os.devnull
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            errors = [x for x in done.stderr.splitlines() if x.startswith("ERROR")]
            return False, f"Python {version}: " + (errors[-1] if errors else
                                                   done.stderr.strip()[-300:])
        installs = json.loads(report.read_text())["install"]
    wheels = sum(i["download_info"]["url"].endswith(".whl") for i in installs)
    return wheels == len(pins), (f"Python {version}: {wheels} of {len(pins)} pins resolve to "
                                 f"binary wheels")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", nargs="+", default=list(SUPPORTED), choices=SUPPORTED)
    ap.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    args = ap.parse_args()
    ok = True
    for version in args.python:
        passed, line = check(version, args.lock)
        print(("ok    " if passed else "FAIL  ") + line, flush=True)
        ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
