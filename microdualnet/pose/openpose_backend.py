"""The `openpose` backend: a folder of OpenPose BODY_25 JSON files, one per video frame.

When a frame holds several people, one person is followed through the video: the most
prominent one (largest box times mean confidence) where people first appear, then in each
frame the candidate nearest to where that person was last seen. A candidate further than
`MAX_JUMP` body sizes away is not taken (the participant is counted as not found there), so
a second person walking through the frame cannot take the track over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microdualnet import openpose_io
from microdualnet.body25 import NUM_JOINTS
from pipeio.errors import InputError

SEEN = 0.1  # joints below this confidence do not count for matching
MAX_JUMP = 1.0  # in units of the tracked person's box diagonal


@dataclass
class TrackStats:
    """What the person choice had to do, for the QC summary."""

    frames_several_people: int = 0
    frames_person_rejected: int = 0


def _box(person: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Centre and diagonal of the seen joints' box, or None with fewer than 2 seen."""
    seen = person[person[:, 2] > SEEN, :2]
    if len(seen) < 2:
        return None
    lo, hi = seen.min(0), seen.max(0)
    return (lo + hi) / 2, float(max(np.linalg.norm(hi - lo), 1.0))


def prominence(person: np.ndarray) -> float:
    box = _box(person)
    if box is None:
        return 0.0
    return box[1] ** 2 * float(person[person[:, 2] > SEEN, 2].mean())


def _distance(ref: np.ndarray, cand: np.ndarray) -> float:
    """Mean joint distance over joints both see (box centres if none), in reference sizes."""
    ref_box, cand_box = _box(ref), _box(cand)
    if ref_box is None or cand_box is None:
        return np.inf
    both = (ref[:, 2] > SEEN) & (cand[:, 2] > SEEN)
    if both.sum() >= 2:
        d = float(np.linalg.norm(ref[both, :2] - cand[both, :2], axis=1).mean())
    else:
        d = float(np.linalg.norm(ref_box[0] - cand_box[0]))
    return d / ref_box[1]


def choose_person(people: list[np.ndarray]) -> tuple[np.ndarray, TrackStats]:
    """One `[T, 25, 3]` track from each frame's `[P, 25, 3]` people (zeros where not found)."""
    out = np.zeros((len(people), NUM_JOINTS, 3), np.float32)
    stats = TrackStats()
    ref: np.ndarray | None = None
    for t, cands in enumerate(people):
        cands = [p for p in cands if _box(p) is not None]
        if len(cands) > 1:
            stats.frames_several_people += 1
        if not cands:
            continue
        if ref is None:
            pick = max(cands, key=prominence)
        else:
            dists = [_distance(ref, p) for p in cands]
            best = int(np.argmin(dists))
            if dists[best] > MAX_JUMP:
                stats.frames_person_rejected += 1
                continue
            pick = cands[best]
        out[t] = pick
        ref = pick
    return out, stats


def read_openpose(folder: str | Path, video_frames: int,
                  only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, TrackStats]:
    """Frame indices, keypoints `[T, 25, 3]` and tracking stats from an OpenPose folder.

    The folder must hold exactly one file per video frame (0 .. video_frames-1): a count
    that differs means the JSON belongs to another video or is incomplete, which is an error.
    `only` restricts the frames read (the ones inference samples).
    """
    files = openpose_io.frame_files(folder)
    numbers = np.array([i for i, _ in files])
    if len(files) != video_frames or numbers[0] != 0 or numbers[-1] != video_frames - 1:
        raise InputError(
            f"OpenPose folder {folder} has {len(files)} frame files (frames {numbers[0]}-"
            f"{numbers[-1]}), the video has {video_frames} frames (0-{video_frames - 1}); "
            "the JSON does not belong to this video or is incomplete")
    keep = np.arange(video_frames) if only is None else np.unique(only)
    people = [openpose_io.read_frame(files[i][1]) for i in keep]
    track, stats = choose_person(people)
    return keep.astype(np.int64), track, stats
