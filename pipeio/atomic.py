"""Atomic outputs: a reader never sees a half-written file or a half-filled folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeio.errors import InputError


def _default_file_mode() -> int:
    """Mode a plain `open()` would give a new file (mkstemp's private 0600 is not wanted)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _default_dir_mode() -> int:
    return _default_file_mode() | ((_default_file_mode() & 0o444) >> 2)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The temporary file keeps the final suffix so writers that infer a format from it
    (pandas, matplotlib, PyAV) behave the same.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_file_mode())
        _fsync(tmp)  # on disk before it takes the name: a power cut leaves old or new
        os.replace(tmp, final)
        _fsync(final.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def staged_directory(out_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a whole output folder in a hidden sibling and swap it in when complete.

    An existing folder is refused unless `overwrite` (checked again before the swap, in case
    another process made it meanwhile); with `overwrite` it is replaced only after the new one
    is complete, so a failure leaves the old folder in place.
    """
    final = Path(out_dir)
    refused = f"output folder {final} already exists; choose another path or pass --overwrite"
    if final.exists() and not overwrite:
        raise InputError(refused)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield stage
        os.chmod(stage, _default_dir_mode())
        os.sync()  # every file of the new folder on disk before it takes the name
        if final.exists():
            if not overwrite:
                raise InputError(refused)
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            try:
                os.replace(stage, final)
            except OSError:
                os.replace(old, final)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, final)
        _fsync(final.parent)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
