"""Which frames each inference window samples: shared by `infer` and `pose --only-sampled`.

Torch-free, so the pose stage can ask for the same frames without loading a model.

Rule (docs/inference.md): the model was trained on T frames `frame_stride` frames apart at
`model_fps` (the frame rate of its training clips), i.e. `frame_stride / model_fps` seconds
apart. On a video at `fps` the sampled frames are `max(1, round(stride_s * fps))` frames
apart, so the model sees the same time span whatever the recording's frame rate. Windows
start every `hop_s` seconds, last `window_s` seconds, and the T frames are centred in the
window (clipped to the video where the span is longer than the video allows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microdualnet.model.meta import META_FILE, read_meta
from pipeio.errors import InputError

# Frame rate assumed for a model whose model.json does not record its training clips' rate:
# the synthetic clips and MA-52 are 25 fps.
DEFAULT_MODEL_FPS = 25.0


@dataclass(frozen=True)
class SamplingRule:
    """How a model looks at time: T frames, `stride_s` seconds apart."""

    num_frames: int
    stride_s: float

    def stride_frames(self, fps: float) -> int:
        return max(1, int(round(self.stride_s * fps)))


@dataclass(frozen=True)
class WindowPlan:
    """All windows of one video: times in seconds and the frames each one samples."""

    start_s: np.ndarray  # [W]
    end_s: np.ndarray  # [W]
    frames: np.ndarray  # [W, T] frame indices into the video
    stride_frames: int

    def __len__(self) -> int:
        return len(self.start_s)

    def unique_frames(self) -> np.ndarray:
        return np.unique(self.frames)


def read_model_meta(model_dir: str | Path) -> dict:
    """model.json of a model folder with the keys window planning needs (no torch needed)."""
    meta = read_meta(model_dir)
    path = Path(model_dir) / META_FILE
    for key in ("frames", "frame_stride", "class_names", "entities"):
        if key not in meta:
            raise InputError(f"{path}: key {key!r} is missing")
    return meta


def model_fps(meta: dict, override: float | None = None) -> float:
    """Training frame rate: the override, else model.json `fps` or `metrics.fps`, else 25."""
    if override is not None:
        if override <= 0:
            raise InputError(f"--model-fps must be positive, got {override}")
        return float(override)
    for source in (meta, meta.get("metrics") or {}):
        if isinstance(source.get("fps"), int | float) and source["fps"] > 0:
            return float(source["fps"])
    return DEFAULT_MODEL_FPS


def sampling_rule(meta: dict, fps_override: float | None = None) -> SamplingRule:
    return SamplingRule(int(meta["frames"]),
                        float(meta["frame_stride"]) / model_fps(meta, fps_override))


def plan_windows(num_frames: int, fps: float, rule: SamplingRule, window_s: float,
                 hop_s: float) -> WindowPlan:
    """Windows covering the video from 0 s; a video shorter than one window has none."""
    if window_s <= 0 or hop_s <= 0:
        raise InputError(f"window and hop must be positive (got {window_s} s, {hop_s} s)")
    if fps <= 0 or num_frames < 1:
        raise InputError(f"video must have frames and a positive frame rate (got "
                         f"{num_frames} frames at {fps} fps)")
    duration = num_frames / fps
    count = 0 if duration + 1e-9 < window_s else int(math.floor((duration - window_s) / hop_s
                                                                 + 1e-9)) + 1
    start = np.arange(count) * hop_s
    end = start + window_s
    stride = rule.stride_frames(fps)
    # Frames shown inside [start, end): k / fps in the interval.
    first = np.ceil(start * fps - 1e-9)
    last = np.minimum(np.ceil(end * fps - 1e-9) - 1, num_frames - 1)
    mid = (first + last) / 2
    # floor(x + 0.5), not numpy round-half-to-even, so every window shifts alike.
    lo = np.floor(mid - (rule.num_frames - 1) * stride / 2 + 0.5).astype(np.int64)
    frames = lo[:, None] + stride * np.arange(rule.num_frames)[None, :]
    frames = np.clip(frames, 0, num_frames - 1)
    return WindowPlan(start.astype(np.float64), end.astype(np.float64),
                      frames.reshape(count, rule.num_frames), stride)
