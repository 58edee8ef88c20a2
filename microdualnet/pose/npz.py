"""The pose file contract: one `.npz` per participant (DESIGN.md, "Data contracts").

Arrays: `keypoints` float32 `[T, 25, 3]` BODY_25 (x, y pixels, confidence 0-1, 0 where not
detected), `frame_index` int64 `[T]` (video frame of each row, increasing), `fps`, `width`,
`height`, `backend`, and `video_frames` (the video's frame count, so a pose file made for
another video, or covering only some frames, is recognised).

An *exclusion record* (`pose --on-error exclude`, written when the participant's video or
OpenPose output could not be read) has the same keys with no frames (`T = 0`, `fps` 0) and
one more, `excluded`: the reason. Inference turns it into a windows file that carries the
reason on to the exclusions list; it is never analysed as pose.

Other people (optional, both or neither): `others_looked` bool `[T]` (the rows whose frame
was searched for people besides the participant: every row with OpenPose, the first frames
with mediapipe) and `others_boxes` float32 `[T, M, 4]` (x0, y0, x1, y1 pixels of the seen
joints of each other person found; NaN where fewer than M). They say who else a full-view
model sees (`microdualnet.inference.runner`); files without them are read as not looked.
"""

from __future__ import annotations

import contextlib
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microdualnet.body25 import NUM_JOINTS
from pipeio.atomic import atomic_path
from pipeio.errors import InputError

# A frame "has a person" when at least this many joints are seen with confidence above the
# model's keypoint threshold (theta of Eq. 1): fewer cannot place even one entity box.
PERSON_MIN_JOINTS = 3
PERSON_MIN_CONFIDENCE = 0.3


@dataclass
class PoseData:
    keypoints: np.ndarray
    frame_index: np.ndarray
    fps: float
    width: int
    height: int
    backend: str
    video_frames: int
    excluded: str | None = None  # set on an exclusion record: why there is no pose
    others_looked: np.ndarray | None = None  # [T] bool; None: nobody else was looked for
    others_boxes: np.ndarray | None = None  # [T, M, 4] px, NaN-padded

    @property
    def complete(self) -> bool:
        """True when every video frame has a row (not only the frames inference samples)."""
        return len(self.frame_index) == self.video_frames

    def at_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints `[*frames.shape, 25, 3]` and a mask of the frames this file has."""
        frames = np.asarray(frames)
        if not len(self.frame_index):  # no frame at all: every requested one is missing
            return (np.zeros((*frames.shape, NUM_JOINTS, 3), np.float32),
                    np.zeros(frames.shape, bool))
        pos = np.searchsorted(self.frame_index, frames)
        pos = np.clip(pos, 0, len(self.frame_index) - 1)
        have = self.frame_index[pos] == frames
        kp = np.where(have[..., None, None], self.keypoints[pos], 0.0).astype(np.float32)
        return kp, have

    def others_at(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Other people's boxes `[len(frames), M, 4]` at these frames (of this file's) and
        which of them were looked at (none where the file does not say)."""
        frames = np.asarray(frames)
        pos = np.clip(np.searchsorted(self.frame_index, frames), 0,
                      max(len(self.frame_index) - 1, 0))
        if self.others_looked is None or not len(self.frame_index):
            return np.full((len(frames), 0, 4), np.nan, np.float32), np.zeros(len(frames), bool)
        looked = (self.frame_index[pos] == frames) & self.others_looked[pos]
        return self.others_boxes[pos], looked


def has_person(keypoints: np.ndarray) -> np.ndarray:
    """Per frame: enough confident joints to count as a detected person."""
    return (keypoints[..., 2] > PERSON_MIN_CONFIDENCE).sum(-1) >= PERSON_MIN_JOINTS


def save_pose(path: str | Path, pose: PoseData) -> Path:
    """Write the contract atomically (a reader never sees half a file)."""
    kp = np.asarray(pose.keypoints, np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3) or len(kp) != len(pose.frame_index):
        raise ValueError(f"keypoints {kp.shape} do not match {len(pose.frame_index)} frames")
    others = {}
    if pose.others_looked is not None:
        others = {"others_looked": np.asarray(pose.others_looked, bool),
                  "others_boxes": np.asarray(pose.others_boxes, np.float32)}
        if (others["others_looked"].shape != (len(kp),) or others["others_boxes"].ndim != 3
                or others["others_boxes"].shape[::2] != (len(kp), 4)):
            raise ValueError(f"others_looked {others['others_looked'].shape} / others_boxes "
                             f"{others['others_boxes'].shape} do not match {len(kp)} frames")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh, keypoints=kp, frame_index=np.asarray(pose.frame_index, np.int64),
            fps=np.float64(pose.fps), width=np.int64(pose.width), height=np.int64(pose.height),
            backend=np.str_(pose.backend), video_frames=np.int64(pose.video_frames),
            **({"excluded": np.str_(pose.excluded)} if pose.excluded is not None else {}),
            **others)
    return Path(path)


def excluded_pose(backend: str, reason: str) -> PoseData:
    """The exclusion record of a participant whose pose could not be extracted."""
    return PoseData(np.zeros((0, NUM_JOINTS, 3), np.float32), np.zeros(0, np.int64), 0.0, 0,
                    0, backend, 0, excluded=reason)


def load_pose(path: str | Path) -> PoseData:
    """Read and check a pose file; every problem is an InputError naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pose file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise InputError(f"pose file {path} is not a readable .npz ({err})") from err
    need = ("keypoints", "frame_index", "fps", "width", "height", "backend")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise InputError(f"pose file {path}: key {missing[0]!r} is missing (has "
                         f"{sorted(arrays)})")
    kp = arrays["keypoints"]
    raw_frames = arrays["frame_index"]
    if raw_frames.dtype.kind not in "iuf" or (raw_frames.dtype.kind == "f" and not np.all(
            np.isfinite(raw_frames) & (raw_frames == np.round(raw_frames)))):
        raise InputError(f"pose file {path}: 'frame_index' must hold whole frame numbers, "
                         f"got {raw_frames.dtype} {raw_frames.ravel()[:5].tolist()}")
    frames = raw_frames.astype(np.int64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
        raise InputError(f"pose file {path}: 'keypoints' must be [T, 25, 3], got {kp.shape}")
    if frames.shape != (len(kp),):
        raise InputError(f"pose file {path}: 'frame_index' has shape {frames.shape}, expected "
                         f"({len(kp)},)")
    if len(frames) > 1 and np.any(np.diff(frames) <= 0):
        raise InputError(f"pose file {path}: 'frame_index' must be strictly increasing")
    conf = kp[..., 2]
    if (kp.dtype.kind not in "iuf" or not np.all(np.isfinite(kp))
            or conf.min(initial=0) < 0 or conf.max(initial=0) > 1):
        raise InputError(f"pose file {path}: keypoints must be finite with confidence in 0-1")
    video_frames = (_scalar(path, arrays, "video_frames", int) if "video_frames" in arrays
                    else len(kp))
    if len(frames) and (frames[0] < 0 or frames[-1] >= video_frames):
        raise InputError(f"pose file {path}: 'frame_index' runs {frames[0]}..{frames[-1]}, "
                         f"outside the video's frames 0..{video_frames - 1}")
    excluded = str(arrays["excluded"]) if "excluded" in arrays else None
    fps = _scalar(path, arrays, "fps", float)
    if not (math.isfinite(fps) and fps >= 0):  # 0 on an exclusion record
        raise InputError(f"pose file {path}: 'fps' must be a frame rate (a finite number "
                         f">= 0), got {fps:g}")
    return PoseData(kp.astype(np.float32), frames, fps,
                    _scalar(path, arrays, "width", int), _scalar(path, arrays, "height", int),
                    str(arrays["backend"]), video_frames, excluded,
                    *_others(path, arrays, len(kp)))


def _others(path: Path, arrays: dict[str, np.ndarray], rows: int
            ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """`others_looked` and `others_boxes` checked against the file's rows (None, None: absent)."""
    have = [k for k in ("others_looked", "others_boxes") if k in arrays]
    if not have:
        return None, None
    if len(have) == 1:
        raise InputError(f"pose file {path}: {have[0]!r} without its pair (others_looked and "
                         "others_boxes go together)")
    looked, boxes = arrays["others_looked"], arrays["others_boxes"]
    if looked.dtype != bool or looked.shape != (rows,):
        raise InputError(f"pose file {path}: 'others_looked' must be bool ({rows},), got "
                         f"{looked.dtype} {looked.shape}")
    if boxes.dtype.kind != "f" or boxes.ndim != 3 or boxes.shape[::2] != (rows, 4):
        raise InputError(f"pose file {path}: 'others_boxes' must be [{rows}, M, 4] pixels, "
                         f"got {boxes.dtype} {boxes.shape}")
    return looked, boxes.astype(np.float32)


def _scalar(path: Path, arrays: dict[str, np.ndarray], key: str, kind: type) -> float | int:
    """One number of the file (a per-frame array or text here would be another contract)."""
    value = arrays[key]
    if value.ndim == 0:
        with contextlib.suppress(TypeError, ValueError):
            return kind(value)
    raise InputError(f"pose file {path}: {key!r} must be one number, got {value.dtype} "
                     f"{value.shape}")
