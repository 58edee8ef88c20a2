"""One participant's pose: video (+ OpenPose folder) -> pose `.npz` + QC summary JSON."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from microdualnet import openpose_io
from microdualnet.pose.npz import PoseData, excluded_pose, save_pose
from microdualnet.pose.participant import (
    NO_HINT,
    SIDES,
    ParticipantHint,
    pad_boxes,
    several_people_warning,
    track_warning,
)
from microdualnet.pose.qc import exclusion_summary, qc_summary, upright_problem, write_qc
from microdualnet.video import FrameStream, VideoInfo, probe, skip_deblocking_for
from pipeio.errors import InputError

BACKENDS = ("mediapipe", "openpose")
# BlazePose looks at 224-256 px views of a frame: frames are brought down to this longer
# side first (by FFmpeg, while converting), and keypoints scaled back to the video's pixels.
MEDIAPIPE_MAX_SIDE = 640
START_FRAMES = 5  # mediapipe without a hint: frames searched for people on each half
MIN_REGION_PX = 32  # a participant_box smaller than this (in BlazePose's frames) is refused


def default_qc_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name.removesuffix(".npz") + ".qc.json")


def _mediapipe(video: Path, info: VideoInfo, frames: np.ndarray, hint: ParticipantHint,
               progress: bool, max_side: int | None
               ) -> tuple[np.ndarray, dict[str, Any], np.ndarray, np.ndarray]:
    """Keypoints, QC stats, and who else is in the first frames (`_others_at_start`)."""
    from microdualnet.pose.mediapipe_backend import BlazePoseTracker

    out = np.zeros((len(frames), 25, 3), np.float32)
    scale = 1.0 if not max_side else min(1.0, max_side / max(info.width, info.height))
    size = (info.width, info.height) if scale == 1 else (
        int(round(info.width * scale)) // 2 * 2, int(round(info.height * scale)) // 2 * 2)
    sx, sy = size[0] / info.width, size[1] / info.height
    skip = skip_deblocking_for(1 / scale)
    with FrameStream(video, start=int(frames[0]) if len(frames) else 0, info=info,
                     skip_deblocking=skip) as stream, \
            tqdm(total=len(frames), desc=f"pose {video.stem}", unit="frame",
                 disable=not progress, mininterval=1.0) as bar:
        decoded = (f for _, f in stream.frames(frames, None if scale == 1 else size))
        first = [f for _, f in zip(range(START_FRAMES), decoded, strict=False)]
        region, rule, found = _participant_region(first, hint, size)
        with BlazePoseTracker(region) as tracker:
            for i, frame in enumerate(itertools.chain(first, decoded)):
                out[i] = tracker(frame)
                bar.update()
    seen = out[..., 2] > 0
    out[..., 0] = np.where(seen, out[..., 0] / sx, 0)
    out[..., 1] = np.where(seen, out[..., 1] / sy, 0)
    looked, others = _others_at_start(first, out, size, (sx, sy))
    warning = None
    if hint == NO_HINT and found > 1:
        warning = (f"{found} people found at the start and the sheet gives no "
                   "participant_side or participant_box: the person nearest the centre was "
                   "followed, which may be the interviewer")
    stats = {"participant_rule": rule, "people_at_start": found,
             "participant_warning": warning,
             "frames_from_person_crop": tracker.stats.crop_frames,
             "tile_searches": tracker.stats.tile_searches,
             "pose_frame_size": list(size), "decoded_without_deblocking": skip}
    return out, stats, looked, others


def _others_at_start(first: list[np.ndarray], track: np.ndarray, size: tuple[int, int],
                     scale: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Which rows were looked at for other people, and their boxes (video px, `pad_boxes`).

    Why: BlazePose follows one person and, with a hint, never looks outside the hinted
    region, so the people besides the participant are searched for on the whole frame (its
    halves) in the first frames only, as the default rule does; rows where the participant
    was not found there stay unlooked (who is the participant is then unknown).
    """
    from microdualnet.pose.mediapipe_backend import people_per_frame

    halves = [ParticipantHint(side).region(*size) for side in SIDES]
    looked = np.zeros(len(track), bool)
    rows: list[list[tuple[float, float, float, float]]] = [[] for _ in track]
    for i, people in enumerate(people_per_frame(first, halves)):
        seen = track[i][track[i, :, 2] > 0, :2]
        if len(seen) < 2:
            continue
        (px0, py0), (px1, py1) = seen.min(0), seen.max(0)
        looked[i] = True
        for x0, y0, x1, y1 in people:
            box = (x0 / scale[0], y0 / scale[1], x1 / scale[0], y1 / scale[1])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if not (px0 <= cx <= px1 and py0 <= cy <= py1):  # not the participant
                rows[i].append(box)
    return looked, pad_boxes(rows)


def _participant_region(first: list[np.ndarray], hint: ParticipantHint, size: tuple[int, int]
                        ) -> tuple[tuple[int, int, int, int] | None, str, int]:
    """Where BlazePose looks (None: the whole frame), the rule that said so, and how many
    people the default rule found in the first frames (-1: not looked)."""
    if hint != NO_HINT:
        region = hint.region(*size)
        if min(region[2] - region[0], region[3] - region[1]) < MIN_REGION_PX:
            raise InputError(f"{hint.rule}: {region[2] - region[0]}x{region[3] - region[1]} "
                             f"px of the {size[0]}x{size[1]} frames BlazePose sees; the region "
                             f"needs at least {MIN_REGION_PX} px each way")
        return region, hint.rule, -1
    from microdualnet.pose.mediapipe_backend import people_at_start

    halves = [ParticipantHint(side).region(*size) for side in SIDES]
    people = people_at_start(first, halves)
    if len(people) < 2:
        return None, hint.rule, len(people)
    width, centre = size[0], np.array(size) / 2
    centres = sorted((b[0] + b[2]) / 2 for b in people)
    nearest = min(people, key=lambda b: float(np.hypot((b[0] + b[2]) / 2 - centre[0],
                                                       (b[1] + b[3]) / 2 - centre[1])))
    k = centres.index((nearest[0] + nearest[2]) / 2)
    # The strip between the midpoints to the neighbours: a fixed half would also hold the
    # other person whenever both sit on one side of the centre.
    x0 = int((centres[k - 1] + centres[k]) / 2) if k > 0 else 0
    x1 = int(np.ceil((centres[k] + centres[k + 1]) / 2)) if k + 1 < len(centres) else width
    return ((x0, 0, x1, size[1]),
            f"{hint.rule} (of {len(people)} found at the start: followed on x "
            f"{x0 / width:.2f}-{x1 / width:.2f} of the frame width)", len(people))


def extract_pose(backend: str, video: str | Path, out: str | Path, *,
                 openpose_dir: str | Path | None = None, only_frames: np.ndarray | None = None,
                 qc_path: str | Path | None = None, progress: bool = True,
                 hint: ParticipantHint = NO_HINT,
                 max_side: int | None = MEDIAPIPE_MAX_SIDE,
                 min_upright: float = 0.0) -> dict[str, Any]:
    """Write the pose file and its QC summary; return the summary.

    `only_frames` limits the work to those video frames (the ones inference samples);
    `max_side`: mediapipe sees frames brought down to this longer side (None: full size);
    `hint` says where the participant sits when others are in view (`pose.participant`);
    `min_upright`: a body upright in less than this share of frames is an `InputError`
    (`pose.qc.upright_problem`).
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown pose backend {backend!r}; expected one of {BACKENDS}")
    video = Path(video)
    info = probe(video)
    if only_frames is not None:
        only_frames = np.unique(np.asarray(only_frames, np.int64))
        if len(only_frames) and (only_frames[0] < 0 or only_frames[-1] >= info.frames):
            raise InputError(f"frames to process lie outside the video's {info.frames} frames")
    if backend == "openpose":
        if openpose_dir is None:
            raise InputError("the openpose backend needs --openpose-dir")
        from microdualnet.pose.openpose_backend import read_openpose

        frames, kp, track, others = read_openpose(openpose_dir, info.frames, info.width,
                                                  info.height, only_frames, hint, progress)
        looked = np.ones(len(frames), bool)
        extra = {"openpose_dir": str(openpose_dir), **track.to_json(),
                 "participant_warning": several_people_warning(
                     track.rule, track.frames_several_people, len(frames)),
                 "track_warning": track_warning(track, len(frames)),
                 # Digests, not names, for `analysis pose-quality` to find JSON of another
                 # participant (names of videos may identify a child).
                 "video_stem_sha256": openpose_io.name_digest(video.stem),
                 "participant_keypoints_sha256": hashlib.sha256(
                     np.ascontiguousarray(kp, "<f4").tobytes()).hexdigest()}
    else:
        frames = np.arange(info.frames) if only_frames is None else only_frames
        kp, extra, looked, others = _mediapipe(video, info, frames, hint, progress, max_side)
    problem = upright_problem(kp, min_upright)
    if problem:
        raise InputError(f"video {video}: {problem}")
    pose = PoseData(kp, frames.astype(np.int64), info.fps, info.width, info.height, backend,
                    info.frames, others_looked=looked, others_boxes=others)
    save_pose(out, pose)
    summary = qc_summary(pose, video, {"participant_id": Path(out).name.removesuffix(".npz"),
                                       "only_sampled_frames": only_frames is not None,
                                       "interlaced": info.interlaced, **extra})
    write_qc(qc_path or default_qc_path(out), summary)
    return summary


def write_exclusion(backend: str, video: str | Path, out: str | Path, reason: str, *,
                    qc_path: str | Path | None = None) -> dict[str, Any]:
    """Write the exclusion record (pose file without frames + QC JSON); return the QC."""
    save_pose(out, excluded_pose(backend, reason))
    summary = exclusion_summary(video, backend, Path(out).name.removesuffix(".npz"), reason)
    write_qc(qc_path or default_qc_path(out), summary)
    return summary
