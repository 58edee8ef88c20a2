"""Per-participant pose QC summary: how much of the video has a usable person, and how sure.

Entities are the model's K=6 joint groups (`microdualnet.bodyparts`), so a low value
here points at the entity whose boxes inference will have to carry forward or guess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

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


def qc_summary(pose: PoseData, video: str | Path, extra: dict[str, Any]) -> dict[str, Any]:
    """The QC record; `excluded` is set (with the reason) when no frame has a person."""
    person = has_person(pose.keypoints)
    found = int(person.sum())
    processed = len(pose.frame_index)
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
        **extra,
        "excluded": found == 0,
        "exclusion_reason": "no person detected in any processed frame" if found == 0 else None,
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
