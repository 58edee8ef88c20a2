"""Writing mp4 video (H.264 via PyAV); every file is written atomically."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeio.atomic import atomic_path
from pipeio.errors import InputError


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float, width: int,
              height: int, crf: int = 20) -> int:
    """Encode RGB uint8 frames `[H, W, 3]` as H.264 mp4 and return the number written.

    Single-threaded x264 so the same frames always give the same bytes.
    """
    if width % 2 or height % 2:
        raise InputError(f"video size must be even for H.264 (got {width}x{height})")
    count = 0
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count = 1
        stream.options = {"crf": str(crf), "preset": "ultrafast", "threads": "1"}
        for frame in frames:
            if frame.shape != (height, width, 3):
                raise ValueError(f"frame {count} has shape {frame.shape}, expected {(height, width, 3)}")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            count += 1
        container.mux(stream.encode())
    return count
