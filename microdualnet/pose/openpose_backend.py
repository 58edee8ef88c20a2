"""The `openpose` backend: a folder of OpenPose BODY_25 JSON files, one per video frame.

When a frame holds several people (the interviewer, a parent), the participant is followed
through the video as `pose.participant` describes: from the sheet's side or box, else the
person nearest the frame's centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microdualnet import openpose_io
from microdualnet.pose.participant import NO_HINT, FollowStats, ParticipantHint, follow
from pipeio.errors import InputError


def read_openpose(folder: str | Path, video_frames: int, width: int, height: int,
                  only: np.ndarray | None = None, hint: ParticipantHint = NO_HINT
                  ) -> tuple[np.ndarray, np.ndarray, FollowStats]:
    """Frame indices, the participant's keypoints `[T, 25, 3]` and how they were followed.

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
    track, stats = follow(people, hint, width, height)
    return keep.astype(np.int64), track, stats
