"""A model folder's two files, checked and fingerprinted without torch.

The fingerprint (`model_digest`) is recorded in every windows file, so aggregation can refuse
results made by another model than the one the config names. The weights check reads only the
safetensors header and the file size, so the workflow can refuse a truncated download before
any job runs instead of failing in every participant's job.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from pipeio.errors import InputError

META_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"
_MAX_HEADER = 100 << 20  # the safetensors format caps its JSON header at 100 MB


def check_model_folder(folder: str | Path) -> None:
    """Both files present, and the weights file as long as its header says it is."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"model folder {folder} does not exist")
    for name in (META_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise InputError(f"model folder {folder}: missing {name}")
    check_weights_file(folder / WEIGHTS_FILE)


def check_weights_file(path: str | Path) -> None:
    """A safetensors file whose header parses and whose tensors fill the file exactly (the
    loader refuses a file with bytes beyond them too)."""
    path = Path(path)
    damaged = f"weights file {path} is damaged or incomplete (copy or download it again)"
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if not 0 < length <= min(_MAX_HEADER, size - 8):
                raise ValueError("header length")
            header = json.loads(fh.read(length))
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"]
    except (struct.error, ValueError, KeyError, TypeError, IndexError, AttributeError,
            OverflowError, RecursionError):  # Infinity as an offset; nesting too deep
        raise InputError(f"{damaged}: not a safetensors file") from None
    need = 8 + length + max(ends, default=0)
    if size != need:
        raise InputError(f"{damaged}: {size} bytes, its header needs {need}")


def model_digest(folder: str | Path) -> str:
    """SHA-256 over model.json and model.safetensors (the identity of a trained model)."""
    digest = hashlib.sha256()
    for name in (META_FILE, WEIGHTS_FILE):
        if not (Path(folder) / name).is_file():
            raise InputError(f"model folder {folder}: missing {name}")
        with open(Path(folder) / name, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()
