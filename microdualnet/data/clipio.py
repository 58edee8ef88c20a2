"""Reading one clip: only the sampled video frames and their OpenPose JSON files.

Every way a file can be bad (missing, not decodable, truncated JSON, no person anywhere,
confidence outside 0-1) becomes an `InputError` naming the file, so a DataLoader worker
returns a reportable problem instead of dying with a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from microdualnet.body25 import NUM_JOINTS
from microdualnet.data.records import ClipRecord
from microdualnet.openpose_io import frame_filename, read_frame
from microdualnet.video import probe, read_frames
from pipeio.errors import InputError

IndexPicker = Callable[[int], np.ndarray]


def read_video(record: ClipRecord, pick: IndexPicker) -> tuple[np.ndarray, np.ndarray]:
    """Frames `[T, H, W, 3]` uint8 and their absolute frame numbers.

    `pick(n)` chooses indices in the record's segment of n frames; only those are decoded
    (from the keyframe before the first).
    """
    info = probe(record.video, square_pixels=False)
    if record.end_frame is not None and record.end_frame > info.frames + info.fps:
        # A frame or a few past the end is a release's off-by-one; over a second, the
        # segment is another video's (or counted at another frame rate): its frames are not
        # the labelled movement.
        raise InputError(f"{record.video}: segment {record.start_frame}-{record.end_frame} "
                         f"ends {record.end_frame - info.frames} frames past the video's "
                         f"{info.frames} frames ({info.fps:g} fps), expected at most about a "
                         "second past: an annotation of another video or frame rate?")
    end = info.frames if record.end_frame is None else min(record.end_frame, info.frames)
    n = end - record.start_frame
    if n < 1:
        raise InputError(f"{record.video}: segment {record.start_frame}-{record.end_frame} is "
                         f"outside the video's {info.frames} frames")
    frames_abs = record.start_frame + pick(n)
    return read_frames(record.video, frames_abs, info), frames_abs


def _main_person(people: np.ndarray) -> np.ndarray:
    """The most confidently detected person of a frame (zeros when nobody was found)."""
    if len(people) == 0:
        return np.zeros((NUM_JOINTS, 3), np.float32)
    return people[int(np.argmax(people[:, :, 2].sum(axis=1)))]


def read_pose(record: ClipRecord, frames_abs: np.ndarray) -> np.ndarray:
    """BODY_25 keypoints `[T, 25, 3]` of the given frames (a frame without a file: no person)."""
    if record.pose_dir is None or not record.pose_dir.is_dir():
        raise InputError(f"{record.pose_dir}: pose folder for clip {record.name} is missing")
    out = np.zeros((len(frames_abs), NUM_JOINTS, 3), np.float32)
    found = 0
    for t, frame in enumerate(frames_abs):
        path = record.pose_dir / frame_filename(record.pose_stem, int(frame))
        if path.is_file():
            out[t] = _main_person(read_frame(path))
            found += 1
    if not found:  # misnamed files, or OpenPose run on other frames: not "no person"
        raise InputError(
            f"{record.pose_dir}: no OpenPose JSON file for any sampled frame "
            f"({int(frames_abs[0])}-{int(frames_abs[-1])}); expected names like "
            f"{frame_filename(record.pose_stem, int(frames_abs[0]))}")
    conf = out[..., 2]
    if not np.all(np.isfinite(out)) or conf.min() < 0 or conf.max() > 1:
        raise InputError(f"{record.pose_dir}: keypoint confidences must be finite and in [0, 1]")
    if not np.any(conf > 0):
        raise InputError(f"{record.pose_dir}: no person detected in any sampled frame "
                         f"({int(frames_abs[0])}-{int(frames_abs[-1])})")
    return out


def read_clip(record: ClipRecord, pick: IndexPicker, need_pose: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    """Frames and keypoints (zeros when the model does not use pose) of the picked frames."""
    frames, frames_abs = read_video(record, pick)
    if need_pose:
        return frames, read_pose(record, frames_abs)
    return frames, np.zeros((len(frames), NUM_JOINTS, 3), np.float32)
