"""Opening participant videos with decord, turning every failure into a one-line InputError.

decord raises `DECORDError` (not a RuntimeError) for corrupt files, and some failures come
as RuntimeError from its C++ core; both name the file here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeio.errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def _decord_errors() -> tuple[type[BaseException], ...]:
    import decord

    return (decord.DECORDError, RuntimeError)


def open_video(path: str | Path, threads: int = 1):  # -> decord.VideoReader
    """A decord reader for `path`, or an InputError saying why the file is not a video."""
    import decord

    path = Path(path)
    if not path.is_file():
        raise InputError(f"video {path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"video {path} is empty (0 bytes)")
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
        count = len(reader)
        fps = float(reader.get_avg_fps())
    except _decord_errors() as err:
        raise InputError(f"video {path} is not readable (truncated or not a video?): "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                         ) from err
    if count < 1 or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"video {path} has no frames or no frame rate ({count} frames, "
                         f"{fps} fps)")
    return reader


def video_info(reader) -> VideoInfo:
    """Frame count, rate and size (decodes the first frame: decord exposes no size)."""
    height, width = reader[0].shape[:2]
    reader.seek(0)
    return VideoInfo(len(reader), float(reader.get_avg_fps()), int(width), int(height))


def read_frames(reader, indices: np.ndarray, path: str | Path) -> np.ndarray:
    """RGB uint8 `[N, H, W, 3]` for the given frame indices (decode errors name the file)."""
    try:
        return reader.get_batch([int(i) for i in indices]).asnumpy()
    except _decord_errors() as err:
        raise InputError(f"video {path}: decoding frames {int(indices[0])}-{int(indices[-1])} "
                         f"failed (truncated file?): {str(err).splitlines()[0]}") from err
