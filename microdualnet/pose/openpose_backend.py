"""The `openpose` backend: a folder of OpenPose BODY_25 JSON files, one per video frame.

When a frame holds several people (the interviewer, a parent), the participant is followed
through the video as `pose.participant` describes: from the sheet's side or box, else the
person nearest the frame's centre.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from microdualnet import openpose_io
from microdualnet.pose.participant import (
    NO_HINT,
    FollowStats,
    ParticipantHint,
    follow,
    other_boxes,
)
from microdualnet.pose.qc import upright_axis
from pipeio.errors import InputError

OUTSIDE_TOLERANCE = 0.02  # share of the frame size a keypoint may lie beyond its edge
# Everyone's keypoints within this share of the width and of the height, from the top-left
# corner: the pixels of a smaller copy of the video (or OpenPose's --keypoint_scale 1 or 2).
SMALL_FRAME = 2 / 3
SEEN_BLOCK = 4096  # frames whose found joints the checks gather at once (~3 MB)
# BODY_25's joints 1 and 2 (neck, right shoulder) lie at the shoulders' height, below the
# nose (0); BODY_25B's and COCO-17's (eyes) lie above it. Joint 5 is the left shoulder in
# all three. A person upright read as BODY_25 votes for the eyes when the lower found one
# of 1 and 2 lies less than this share of the way from the nose down to joint 5. In 600
# synthetic recordings (any yaw, leaning, nodding, cut off by the frame) 0.01% of BODY_25
# people voted so, at most 4% in one recording; as BODY_25B, 0.2% did not, at most 19%.
EYES_CUT = 0.2
EYES_MIN_VOTES = 10  # people that show the nose, joint 5 and joint 1 or 2, for a verdict


def read_openpose(folder: str | Path, video_frames: int, width: int, height: int,
                  only: np.ndarray | None = None, hint: ParticipantHint = NO_HINT,
                  progress: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, FollowStats, np.ndarray]:
    """Frame indices, the participant's keypoints `[T, 25, 3]`, how they were followed
    (with `pixel_frame_warning`: `small_frame_warning`; `openpose_stem_sha256`, the digest
    of the name the files carry, and `openpose_keypoints_sha256`, of everyone in the frames
    read: `openpose_io.people_digest`), and everyone else's boxes `[T, M, 4]`
    (`participant.other_boxes`).

    The folder must hold exactly one file per video frame (0 .. video_frames-1): a count
    that differs means the JSON belongs to another video or is incomplete, which is an error.
    `only` restricts the frames read (the ones inference samples). `progress`: a bar while
    the files are read (an hour's recording at 25-60 fps has 90,000-216,000 of them).
    """
    files = openpose_io.frame_files(folder)
    numbers = np.array([i for i, _ in files])
    if len(files) != video_frames or not np.array_equal(numbers, np.arange(video_frames)):
        missing = np.setdiff1d(np.arange(video_frames), numbers)
        gap = f"; frame {missing[0]} has no file" if len(missing) else ""
        raise InputError(
            f"OpenPose folder {folder} has {len(files)} frame files (frames {numbers[0]}-"
            f"{numbers[-1]}{gap}), the video has {video_frames} frames (0-{video_frames - 1});"
            " the JSON does not belong to this video or is incomplete")
    keep = np.arange(video_frames) if only is None else np.unique(only)
    people = [openpose_io.read_frame(files[i][1])
              for i in tqdm(keep, desc=f"pose {Path(folder).name}", unit="file",
                            disable=not progress, mininterval=1.0)]
    check_pixel_frame(people, width, height, folder)
    check_body25_order(people, folder)
    track, stats = follow(people, hint, width, height)
    stats.extra["pixel_frame_warning"] = small_frame_warning(people, width, height)
    stats.extra["openpose_stem_sha256"] = openpose_io.name_digest(
        openpose_io.file_stem(files[0][1]))
    stats.extra["openpose_keypoints_sha256"] = openpose_io.people_digest(people)
    return keep.astype(np.int64), track, stats, other_boxes(people, track)


def check_pixel_frame(people: list[np.ndarray], width: int, height: int,
                      folder: str | Path) -> None:
    """The keypoints are pixels of this video: JSON made from a larger or rotated copy, or
    with OpenPose's normalised `--keypoint_scale`, would pass every other check."""
    size = np.array([width, height], np.float64)
    largest = None  # of |x| and |y|
    for xy in _seen_xy_blocks(people):
        outside = ((xy < -OUTSIDE_TOLERANCE * size)
                   | (xy > (1 + OUTSIDE_TOLERANCE) * size)).any(1)
        if outside.any():  # the first block with one holds the first one
            x, y = xy[np.flatnonzero(outside)[0]]
            raise InputError(f"OpenPose folder {folder}: a keypoint at ({x:.0f}, {y:.0f}) "
                             f"lies outside the {width}x{height} video; the JSON was made from "
                             "another size or orientation of it: run OpenPose on the video "
                             "itself")
        top = np.abs(xy).max()
        largest = top if largest is None else max(largest, top)
    if largest is not None and largest <= 1.5 and max(width, height) > 30:
        raise InputError(f"OpenPose folder {folder}: every keypoint has |x| and |y| <= 1.5, "
                         "normalised coordinates (OpenPose's --keypoint_scale 3 or 4), not "
                         "pixels: run it with the default scale")


def check_body25_order(people: list[np.ndarray], folder: str | Path) -> None:
    """The joints are in BODY_25's order: OpenPose's BODY_25B model, and tools writing
    COCO's 17 joints into OpenPose's JSON, also give 75 numbers a person, in another order
    (nose, eyes, ears, shoulders, ...), which every check and the model would read silently
    misplaced (eyes as the neck and right shoulder, an elbow as the mid-hip)."""
    votes = eyes = 0
    for kp in _people_blocks(people):
        found = kp[..., 2] > 0
        y = kp[..., 1]
        lower = np.where(found[:, 1:3], y[:, 1:3], -np.inf).max(1)  # of joints 1 and 2
        drop = y[:, 5] - y[:, 0]  # joint 5 below the nose: an upright person
        # Upright read as BODY_25: a recording turned sideways is the upright check's.
        _, upright = upright_axis(kp)
        ok = upright & found[:, 0] & found[:, 5] & np.isfinite(lower) & (drop > 0)
        votes += int(ok.sum())
        eyes += int((ok & (lower - y[:, 0] < EYES_CUT * drop)).sum())
    if votes >= EYES_MIN_VOTES and eyes > votes / 2:
        raise InputError(
            f"OpenPose folder {folder}: joints 1 and 2 (BODY_25's neck and right shoulder) lie "
            f"above the nose, as eyes do, in {eyes} of the {votes} upright people showing "
            "them, the nose and joint 5 (a shoulder): the JSON of OpenPose's BODY_25B model or "
            "of a tool writing COCO's joint order in OpenPose's format, whose joints BODY_25 "
            "would misplace; run OpenPose with its default BODY_25 model")


def small_frame_warning(people: list[np.ndarray], width: int, height: int) -> str | None:
    """The QC warning that the keypoints may be pixels of a smaller copy of the video, or None.

    Why: JSON of a downscaled copy (or written with `--keypoint_scale 1`, the network's
    size, or 2 with a smaller `--output_resolution`) lies inside the frame and passes
    `check_pixel_frame`, while every entity box then lands up and left of the person.
    OpenPose's JSON does not say its frame size, so this is a warning, not an error: a
    person seen only in the top-left part of the frame all along looks the same.
    """
    highest = None  # of x and of y
    for xy in _seen_xy_blocks(people):
        top = xy.max(0)
        highest = top if highest is None else np.maximum(highest, top)
    if highest is None:
        return None
    x, y = highest
    if x > SMALL_FRAME * width or y > SMALL_FRAME * height:
        return None
    return (f"every keypoint of everyone in view lies within the top-left {x:.0f}x{y:.0f} px "
            f"of the {width}x{height} video: the JSON may be in the pixels of a smaller copy "
            "of it (or OpenPose's --keypoint_scale 1 or 2), putting the entity boxes off the "
            "person; run OpenPose on the video itself with the default scale")


def _seen_xy_blocks(people: list[np.ndarray]) -> Iterator[np.ndarray]:
    """`[N, 2]` positions of every joint OpenPose found (confidence above 0), everyone, in
    frame order, `SEEN_BLOCK` frames at a time (blocks without any left out)."""
    for kp in _people_blocks(people):
        if len(xy := kp[..., :2][kp[..., 2] > 0]):
            yield xy


def _people_blocks(people: list[np.ndarray]) -> Iterator[np.ndarray]:
    """`[P, 25, 3]` everyone in `SEEN_BLOCK` frames at a time, in frame order (blocks
    without anyone left out): all of them at once would take more memory than the people
    themselves."""
    for start in range(0, len(people), SEEN_BLOCK):
        block = [p for p in people[start:start + SEEN_BLOCK] if len(p)]
        if block:
            yield np.concatenate(block)
