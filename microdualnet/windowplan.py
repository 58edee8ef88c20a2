"""Which frames each inference window samples: shared by `infer` and `pose --only-sampled`.

Torch-free, so the pose stage can ask for the same frames without loading a model.

Rule (docs/inference.md): the model was trained on T frames `frame_stride` frames apart at
the frame rate of its training clips (model.json `fps`), i.e. `frame_stride / fps` seconds
apart. Every window samples one grid of times, `stride_s` apart from 0 s: grid point g is
the frame nearest g * stride_s (the later of two as near; `stride_s * fps` frames apart, not
rounded to a whole stride), so the model sees the same time span whatever the recording's
frame rate: at 25 fps a model trained at 30 fps with stride 2 gets frames 1 or 2 apart, e.g.
0, 2, 3, 5, 7, 8, 10, 12 (0.44-0.48 s for 8 frames, 0.467 s in training), rather than every
second frame (0.56 s). At the training rate the grid is every `frame_stride`-th frame.
Windows start every `hop_s` seconds and last `window_s` seconds; a window takes the T
consecutive grid points whose middle is nearest the middle of the frames it shows (those
timed within [start, end), as evaluation centres a clip on its frames), halves up, clipped to
the video. Neighbouring windows therefore share frames: a video is posed, decoded and
converted once per grid point (1 / stride_s frames a second) rather than T frames per
window, at the cost of a window's frames sitting up to half a stride off its centre
(training jitters a clip's start by more; evaluation centres on the same grid,
`data/sampling.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from pipeio.errors import InputError

# The stride in frames is taken as the simple ratio the two rates make (20/3 frames for
# 8/30 s at 25 fps), with a denominator up to this: a grid point or a window midway between
# two choices is then exactly midway and goes up, as the rule says, rather than whichever
# way floating-point noise tips it (20/3 stored as 6.666666667 sent such ties down).
MAX_DENOMINATOR = 10**6


@dataclass(frozen=True)
class SamplingRule:
    """How a model looks at time: T frames, `stride_s` seconds apart."""

    num_frames: int
    stride_s: float

    def stride_ratio(self, fps: float) -> Fraction:
        """The spacing in frames of a video at `fps`, exact (whole at the training rate)."""
        return Fraction(self.stride_s * fps).limit_denominator(MAX_DENOMINATOR)

    def stride_frames(self, fps: float) -> float:
        """The same as a number, for the windows file's metadata and the view's span."""
        return float(self.stride_ratio(fps))


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

    def repeated_share(self) -> float:
        """The share of sampled frames that are the frame before them in their window: a
        video slower than the model's sampling (1 / stride_s frames a second) has fewer
        frames than grid points, and the model sees one picture several times, which it
        never did in training (0 for a video without windows)."""
        if not self.frames.size:
            return 0.0
        return float((np.diff(self.frames, axis=1) == 0).sum() / self.frames.size)

    def view_s(self, fps: float, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (s) of the time each window's frames show: every sampled frame
        stands for the stride around it, so a window views T strides centred on its frames
        (0.96 s for 8 frames at 0.12 s; 2.13 s for 8 at 0.27 s), clipped to the video."""
        half = self.stride_frames / fps / 2
        times = self.frames / fps
        return (np.clip(times[:, 0] - half, 0.0, duration_s),
                np.clip(times[:, -1] + half, 0.0, duration_s))


def low_rate_note(plan: WindowPlan, fps: float, rule: SamplingRule) -> str | None:
    """Why a video's windows repeat frames, or None where its rate is enough for the model:
    the warning `infer` writes to its log and the windows file's metadata."""
    share = plan.repeated_share()
    if plan.stride_frames >= 1 or share == 0:
        return None
    return (f"the video is {fps:.3g} fps, slower than the {1 / rule.stride_s:.3g} frames a "
            f"second the model samples ({rule.stride_s:.3g} s apart): {100 * share:.0f}% of "
            "the windows' frames repeat the one before them, which the model never saw in "
            "training")


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
    ratio = rule.stride_ratio(fps)
    if ratio == 0:
        raise InputError(f"the model's frames are {rule.stride_s:g} s apart, under a "
                         f"millionth of a frame of a {fps:g} fps video; check its fps")
    num, den = ratio.numerator, ratio.denominator
    # Frames shown inside [start, end): k / fps in the interval.
    first = np.ceil(start * fps - 1e-9).astype(np.int64)
    last = np.minimum(np.ceil(end * fps - 1e-9).astype(np.int64) - 1, num_frames - 1)
    # The T grid steps whose middle is nearest the frames' middle, halves up (every window
    # alike): floor((first + last) / 2 / stride - (T - 1) / 2 + 1 / 2), in integers.
    g0 = np.maximum(((first + last) * den - (rule.num_frames - 2) * num) // (2 * num), 0)
    grid = g0[:, None] + np.arange(rule.num_frames)[None, :]
    # Grid step g is frame floor(g * stride + 1 / 2): the nearest, the later of two as near.
    frames = np.clip((2 * grid * num + den) // (2 * den), 0, num_frames - 1)
    return WindowPlan(start.astype(np.float64), end.astype(np.float64),
                      frames.reshape(count, rule.num_frames), float(ratio))
