"""Opening and reading participant videos, turning every failure into a one-line InputError.

decord opens a video and counts its frames: its index is what pose files and window plans
refer to, and training reads clips with it. Whole videos are read forward by `FrameStream`
(PyAV): decord's decoder thread keeps decoding after each call returns and the next call
redoes that work, which doubled the decoding CPU when reads alternate with other work
(measured on a 120 s demo video: 1.6 s instead of 0.8 s), taking a core from the model.
Both give the same RGB pixels, frame for frame (FFmpeg's converter; tested bit for bit on
files with B-frames, BT.709 and full-range colour, 4:4:4 chroma, MPEG-4 Part 2).

decord raises `DECORDError` (not a RuntimeError) for corrupt files, and some failures come
as RuntimeError from its C++ core; both name the file here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av  # imported here, not in the loader process that forks from this one
import numpy as np
from av.video.reformatter import VideoReformatter

from pipeio.errors import InputError

log = logging.getLogger(__name__)


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


def frame_times(reader) -> np.ndarray:
    """Each frame's start time in seconds, by decord's frame index."""
    return reader.get_frame_timestamp(np.arange(len(reader)))[:, 0].astype(np.float64)


def video_info(reader) -> VideoInfo:
    """Frame count, rate and size (decodes the first frame: decord exposes no size)."""
    height, width = reader[0].shape[:2]
    reader.seek(0)
    return VideoInfo(len(reader), float(reader.get_avg_fps()), int(width), int(height))


class FrameStream:
    """A video's frames decoded forward, one at a time, converted to RGB only when wanted.

    Frame i is the i-th frame the decoder outputs (presentation order), as decord's index i.
    Memory stays at one frame, whatever the video's length or size. With `start`, decoding
    begins at the keyframe before frame `start` (found by decord's frame times), so several
    readers can share a video's decoding by taking a stretch each.
    """

    def __init__(self, path: str | Path, threads: int = 1, start: int = 0,
                 times: np.ndarray | None = None) -> None:
        """`times`: each frame's start in seconds (`frame_times`), to seek without opening
        the file with decord again."""
        self.path = Path(path)
        self._errors = (av.FFmpegError, RuntimeError)
        self._threads = threads
        self._open()
        self.decoded = 0  # frames decoded so far (the work done)
        if start > 0:
            self._seek(start, times if times is not None else frame_times(open_video(path)))

    def _open(self) -> None:
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
        except (*self._errors, IndexError) as err:
            raise InputError(f"video {self.path} is not readable (truncated or not a "
                             f"video?): {_first_line(err)}") from err
        self._stream.thread_count = self._threads
        # One converter for the stream: `frame.to_ndarray(format=...)` builds a new FFmpeg
        # scaler context for every frame (0.33 instead of 0.06 ms a 160x120 frame); the same
        # conversion through a kept context gives the same pixels (tested against decord).
        self._to_rgb = VideoReformatter()
        self._decoded = self._container.decode(self._stream)
        self._last_index, self._last = -1, None  # the frame decoded last

    def _seek(self, start: int, times: np.ndarray) -> None:
        """Continue from the keyframe at or before `start`; from the first frame if the
        keyframe's time does not match decord's index (a file with odd timestamps)."""
        times = times[:start + 1]
        tolerance = 0.5 * float(np.median(np.diff(times))) if start > 1 else 1e-3
        try:
            self._container.seek(int(round(times[start] / self._stream.time_base)),
                                 stream=self._stream, backward=True, any_frame=False)
            self._decoded = self._container.decode(self._stream)
            first = next(self._decoded)
        except (*self._errors, StopIteration):
            first = None
        index = int(np.argmin(np.abs(times - first.time))) if first is not None and \
            first.time is not None else -1
        if index < 0 or index > start or abs(times[index] - first.time) > tolerance:
            log.debug("%s: seeking found no frame of the index; decoding from the start",
                      self.path)
            self._container.close()
            self._open()
            return
        self._last_index, self._last = index, first
        self.decoded += 1

    def frames(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """`(index, RGB uint8 [H, W, 3])` for `indices`, ascending, from the last frame read
        on."""
        for index in (int(i) for i in indices):
            if index < self._last_index:
                raise ValueError(f"FrameStream reads forward: frame {index} asked for after "
                                 f"frame {self._last_index}")
            while self._last_index < index:
                try:
                    self._last = next(self._decoded)
                except StopIteration:
                    raise InputError(f"video {self.path} ends after {self._last_index + 1} "
                                     f"decodable frames, frame {index} was needed (truncated "
                                     "file?)") from None
                except self._errors as err:
                    raise InputError(f"video {self.path}: decoding frame "
                                     f"{self._last_index + 1} failed (truncated file?): "
                                     f"{_first_line(err)}") from err
                self._last_index += 1
                self.decoded += 1
            yield index, self._to_rgb.reformat(self._last, format="rgb24").to_ndarray()

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__
