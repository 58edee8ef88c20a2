"""Which frames each inference window samples: shared by `infer` and `pose --only-sampled`.

Torch-free, so the pose stage can ask for the same frames without loading a model.

Rule (docs/inference.md): the model was trained on T frames `frame_stride` frames apart at
the frame rate of its training clips (model.json `fps`), i.e. `frame_stride / fps` seconds
apart. Every window samples one grid of times, `stride_s` apart from 0 s: grid point g is
the frame nearest g * stride_s (`stride_s * fps` frames apart, not rounded to a whole
stride), so the model sees the same time span whatever the recording's frame rate: at 25 fps
a model trained at 30 fps with stride 2 gets frames 1 or 2 apart, e.g. 0, 2, 3, 5, 7, 8, 10,
12 (0.44-0.48 s for 8 frames, 0.467 s in training), rather than every second frame (0.56 s).
At the training rate the grid is every `frame_stride`-th frame.
Windows start every `hop_s` seconds and last `window_s` seconds; a window takes the T
consecutive grid points whose middle is nearest its own middle (halves up), clipped to the
video. Neighbouring windows therefore share frames: a video is posed, decoded and converted
once per grid point (1 / stride_s frames a second) rather than T frames per window, at the
cost of a window's frames sitting up to half a stride off its centre (training jitters a
clip's start by more; evaluation centres on the same grid, `data/sampling.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeio.errors import InputError


@dataclass(frozen=True)
class SamplingRule:
    """How a model looks at time: T frames, `stride_s` seconds apart."""

    num_frames: int
    stride_s: float

    def stride_frames(self, fps: float) -> float:
        """The spacing in frames of a video at `fps` (whole at the training rate)."""
        return round(self.stride_s * fps, 9)


@dataclass(frozen=True)
class WindowPlan:
    """All windows of one video: times in seconds and the frames each one samples."""

    start_s: np.ndarray  # [W]
    end_s: np.ndarray  # [W]
    frames: np.ndarray  # [W, T] frame indices into the video
    stride_frames: float  # spacing of the sampled frames before rounding to frames

    def __len__(self) -> int:
        return len(self.start_s)

    def unique_frames(self) -> np.ndarray:
        return np.unique(self.frames)

    def view_s(self, fps: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (s) of the time each window's frames show: every sampled frame
        stands for the stride around it, so a window views T strides centred on its frames
        (0.96 s for 8 frames at 0.12 s; 2.13 s for 8 at 0.27 s), clipped to the video."""
        half = self.stride_frames / fps / 2
        times = self.frames / fps
        return (np.clip(times[:, 0] - half, 0.0, duration_s),
                np.clip(times[:, -1] + half, 0.0, duration_s))


def plan_windows(num_frames: int, fps: float, rule: SamplingRule, window_s: float,
                 hop_s: float) -> WindowPlan:
    """Windows covering the video from 0 s; a video shorter than one window has none."""
    if not (math.isfinite(window_s) and math.isfinite(hop_s) and window_s > 0 and hop_s > 0):
        raise InputError(f"window and hop must be positive (got {window_s} s, {hop_s} s)")
    if not (math.isfinite(fps) and fps > 0) or num_frames < 1:
        raise InputError(f"video must have frames and a positive frame rate (got "
                         f"{num_frames} frames at {fps} fps)")
    duration = num_frames / fps
    count = 0 if duration + 1e-9 < window_s else int(math.floor((duration - window_s) / hop_s
                                                                 + 1e-9)) + 1
    start = np.arange(count) * hop_s
    end = start + window_s
    stride = rule.stride_frames(fps)
    # Frames shown inside [start, end): k / fps in the interval; their middle in grid steps.
    first = np.ceil(start * fps - 1e-9)
    last = np.minimum(np.ceil(end * fps - 1e-9) - 1, num_frames - 1)
    mid = (first + last) / 2 / stride
    # floor(x + 0.5), not numpy round-half-to-even, so every window shifts alike.
    g0 = np.maximum(np.floor(mid - (rule.num_frames - 1) / 2 + 0.5), 0)
    grid = g0[:, None] + np.arange(rule.num_frames)[None, :]
    frames = np.floor(grid * stride + 0.5).astype(np.int64)
    frames = np.clip(frames, 0, num_frames - 1)
    return WindowPlan(start.astype(np.float64), end.astype(np.float64),
                      frames.reshape(count, rule.num_frames), stride)
