"""Per-participant pose QC summary: how much of the video has a usable person, and how sure.

Entities are the model's K=6 joint groups (`microdualnet.bodyparts`), so a low value
here points at the entity whose boxes inference will have to carry forward or guess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from microdualnet.body25 import INDEX
from microdualnet.bodyparts import ENTITY_SETS
from microdualnet.pose.npz import PERSON_MIN_CONFIDENCE, PERSON_MIN_JOINTS, PoseData, has_person
from pipeio.atomic import atomic_write_text


def entity_confidence(keypoints: np.ndarray) -> dict[str, float | None]:
    """Mean joint confidence of each entity over the frames that have a person."""
    person = has_person(keypoints)
    out: dict[str, float | None] = {}
    for entity in ENTITY_SETS[6]:
        conf = keypoints[person][:, list(entity.joints), 2]
        out[entity.name] = round(float(conf.mean()), 4) if conf.size else None
    return out


# A body axis more than this far from the image's vertical is not upright.
UPRIGHT_MAX_DEG = 45.0


def body_axis_upright(keypoints: np.ndarray) -> tuple[int, int]:
    """(frames that show the body's axis, frames where it is within UPRIGHT_MAX_DEG of
    upright): `upright_axis`.

    Why: the model learned seated, upright people. A recording turned sideways (a phone held
    on its side, rotation metadata lost) still gives confident joints and valid windows,
    and the model then reads every window as some action.
    """
    shown, upright = upright_axis(keypoints)
    return int(shown.sum()), int(upright.sum())


def upright_axis(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of `[T, 25, 3]` people show the body's axis, and which have it upright. The axis
    is mid-hip to neck, pointing up the image; where the hips are not seen (a table), the
    shoulder line, which is then horizontal within UPRIGHT_MAX_DEG."""
    conf = keypoints[..., 2] > PERSON_MIN_CONFIDENCE
    xy = keypoints[..., :2]
    cos_max = np.cos(np.radians(UPRIGHT_MAX_DEG))
    torso = conf[:, INDEX["Neck"]] & conf[:, INDEX["MidHip"]]
    axis = xy[:, INDEX["Neck"]] - xy[:, INDEX["MidHip"]]
    torso_upright = -axis[:, 1] >= cos_max * np.linalg.norm(axis, axis=1)
    shoulders = ~torso & conf[:, INDEX["RShoulder"]] & conf[:, INDEX["LShoulder"]]
    line = xy[:, INDEX["LShoulder"]] - xy[:, INDEX["RShoulder"]]
    line_level = np.abs(line[:, 0]) >= cos_max * np.linalg.norm(line, axis=1)
    return torso | shoulders, (torso & torso_upright) | (shoulders & line_level)


def upright_problem(keypoints: np.ndarray, min_fraction: float) -> str | None:
    """The exclusion reason when the body is upright in less than `min_fraction` of the
    frames that show its axis; None when it is upright enough (or the check is off: 0)."""
    shown, upright = body_axis_upright(keypoints)
    if min_fraction <= 0 or shown == 0 or upright >= min_fraction * shown:
        return None
    return (f"the body axis is more than {UPRIGHT_MAX_DEG:.0f} degrees from upright in "
            f"{100 * (1 - upright / shown):.0f}% of the {shown} frames that show it (a "
            f"recording turned sideways?); at least {100 * min_fraction:.0f}% upright is "
            "needed (pose.min_upright_fraction)")


def qc_summary(pose: PoseData, video: str | Path, extra: dict[str, Any]) -> dict[str, Any]:
    """The QC record; `excluded` is set (with the reason) when no frame has a person, or
    none was processed: inference samples no frame of a video shorter than one window, and
    such a participant is not one without a person."""
    person = has_person(pose.keypoints)
    found = int(person.sum())
    processed = len(pose.frame_index)
    reason = None
    if processed == 0:
        reason = (f"no frame processed: the video ({pose.video_frames / pose.fps:.2f} s) is "
                  "shorter than one window, so inference samples none")
    elif found == 0:
        reason = "no person detected in any processed frame"
    shown, upright = body_axis_upright(pose.keypoints)
    return {
        "video": str(video),
        "backend": pose.backend,
        "video_frames": pose.video_frames,
        "fps": pose.fps,
        "width": pose.width,
        "height": pose.height,
        "frames_processed": processed,
        "frames_with_person": found,
        "fraction_with_person": round(found / processed, 4) if processed else 0.0,
        "person_rule": f">= {PERSON_MIN_JOINTS} joints with confidence > "
                       f"{PERSON_MIN_CONFIDENCE}",
        "mean_confidence_per_entity": entity_confidence(pose.keypoints),
        "frames_with_body_axis": shown,
        "upright_fraction": round(upright / shown, 4) if shown else None,
        **extra,
        "excluded": found == 0,
        "exclusion_reason": reason,
    }


def exclusion_summary(video: str | Path, backend: str, participant_id: str,
                      reason: str) -> dict[str, Any]:
    """The QC record of a participant whose pose could not be extracted at all."""
    return {
        "video": str(video),
        "backend": backend,
        "participant_id": participant_id,
        "frames_processed": 0,
        "frames_with_person": 0,
        "fraction_with_person": 0.0,
        "failed_stage": "pose",
        "excluded": True,
        "exclusion_reason": reason,
    }


def write_qc(path: str | Path, summary: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(summary, indent=2) + "\n")
