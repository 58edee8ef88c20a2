"""OpenPose JSON: one file per frame, `<stem>_<12-digit frame>_keypoints.json`, BODY_25 pose.

The writer stores each float32 value as the decimal of its exact float64 value, so reading
back gives bit-identical arrays. The reader clips confidences to 0-1: OpenPose's are heatmap
peaks and can exceed 1 (e.g. 1.41), while the pose contract's are probabilities.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import reprlib
from pathlib import Path

import numpy as np

from microdualnet.body25 import NUM_JOINTS, check_keypoints
from pipeio.errors import InputError

_FRAME_RE = re.compile(r"_(\d{12})_keypoints\.json$")


def frame_filename(stem: str, frame: int) -> str:
    return f"{stem}_{frame:012d}_keypoints.json"


def frame_json(people: np.ndarray) -> str:
    """JSON text of one frame; `people` is `[P, 25, 3]` (P may be 0)."""
    entries = []
    for person in np.asarray(people, np.float32):
        # float32 -> float64 is exact and repr() round-trips float64, hence float32 too.
        flat = ",".join(map(repr, person.reshape(-1).astype(np.float64).tolist()))
        entries.append(
            '{"person_id":[-1],"pose_keypoints_2d":[' + flat + '],"face_keypoints_2d":[],'
            '"hand_left_keypoints_2d":[],"hand_right_keypoints_2d":[]}'
        )
    return '{"version":1.3,"people":[' + ",".join(entries) + "]}"


def write_sequence(folder: str | Path, stem: str, keypoints: np.ndarray,
                   order_rng: np.random.Generator | None = None) -> None:
    """Write one JSON per frame: keypoints `[T, 25, 3]` (one person) or `[T, P, 25, 3]`; a
    person with no joint found in a frame is left out of it. `order_rng` shuffles the people
    of each frame, as OpenPose lists them in no particular order."""
    kp = check_keypoints(keypoints, f"keypoints for {stem}")
    people_kp = kp[:, None] if kp.ndim == 3 else kp
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(people_kp):
        people = frame[np.any(frame[..., 2] > 0, axis=-1)]
        if order_rng is not None and len(people) > 1:
            people = people[order_rng.permutation(len(people))]
        with open(folder / frame_filename(stem, i), "w", encoding="ascii") as fh:
            fh.write(frame_json(people if len(people) else np.zeros((0, NUM_JOINTS, 3))))


def read_frame(path: str | Path) -> np.ndarray:
    """All people of one OpenPose JSON file as `[P, 25, 3]` float32."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InputError(f"{path}: not a readable OpenPose JSON file ({err})") from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise InputError(f"{path}: expected an object with a 'people' list")
    out = np.zeros((len(people), NUM_JOINTS, 3), np.float32)
    for k, person in enumerate(people):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not isinstance(flat, list) or len(flat) != NUM_JOINTS * 3:
            got = len(flat) if isinstance(flat, list) else type(flat).__name__
            raise InputError(
                f"{path}: person {k} 'pose_keypoints_2d' must hold 75 numbers (BODY_25 x, y, c),"
                f" got {got}{_other_model(person, flat)}"
            )
        values = np.array([_number(v) for v in flat]).reshape(NUM_JOINTS, 3)
        # A value past float32's range would be stored as infinity.
        usable = np.abs(values) <= np.finfo(np.float32).max
        if not usable.all():
            joint = int(np.flatnonzero(~usable.all(1))[0])
            raise InputError(f"{path}: person {k} joint {joint} is not three numbers "
                             f"({reprlib.repr(flat[3 * joint:3 * joint + 3])})")
        values[:, 2] = np.clip(values[:, 2], 0.0, 1.0)
        out[k] = values
    return out


# Lengths of other body models' poses, with what writes them.
OTHER_MODELS = {54: "as OpenPose writes for COCO's 18 joints (--model_pose COCO)",
                45: "as OpenPose writes for MPI's 15 joints (--model_pose MPI)",
                405: "as OpenPose writes for BODY_135's 135 joints (--model_pose BODY_135)",
                51: "COCO's 17 joints, as other pose tools write them in OpenPose's format"}


def _other_model(person: object, flat: object) -> str:
    """Why a person's pose is not BODY_25, when it is the output of another OpenPose run."""
    if isinstance(person, dict) and flat is None and "pose_keypoints" in person:
        return ("; 'pose_keypoints' instead: JSON of an older OpenPose (COCO's 18 joints "
                "by default): run a recent one with its default BODY_25 model")
    if isinstance(flat, list) and len(flat) in OTHER_MODELS:
        return f", {OTHER_MODELS[len(flat)]}: run OpenPose with its default BODY_25 model"
    return ""


def _number(value: object) -> float:
    """A JSON value as a float (numbers written as text too); NaN for anything else."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # overflow: an integer past float's range
        return math.nan


def file_stem(path: str | Path) -> str:
    """The name an OpenPose file carries before `_<frame>_keypoints.json`: its video's."""
    name = Path(path).name
    m = _FRAME_RE.search(name)
    if m is None:
        raise InputError(f"{path}: not named '<name>_<12-digit frame>_keypoints.json'")
    return name[:m.start()]


def name_digest(name: str) -> str:
    """SHA-256 of a file name (an OpenPose stem, a video's stem), so that QC records can
    compare names across participants without holding them (a video named after a child)."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def people_digest(people: list[np.ndarray]) -> str | None:
    """SHA-256 of the people of each frame read, in frame order: a folder copied under
    another participant gives the same digest. None when nobody is in any frame, as the JSON
    of any two recordings without a person is the same."""
    if not any(len(p) for p in people):
        return None
    digest = hashlib.sha256()
    for frame in people:
        digest.update(len(frame).to_bytes(4, "little"))
        digest.update(np.ascontiguousarray(frame, "<f4").tobytes())
    return digest.hexdigest()


def frame_files(folder: str | Path) -> list[tuple[int, Path]]:
    """(frame number, path) of every OpenPose JSON file in a folder, in frame order; all
    named after one video (OpenPose names every file after the video it ran on)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"OpenPose folder {folder} does not exist")
    found = []
    for path in folder.iterdir():  # hidden files (macOS `._*` copies) are not OpenPose's
        m = None if path.name.startswith(".") else _FRAME_RE.search(path.name)
        if m:
            found.append((int(m.group(1)), path))
    if not found:
        raise InputError(f"{folder}: no '*_<12-digit frame>_keypoints.json' files")
    found.sort()
    for (a, path_a), (b, path_b) in zip(found, found[1:], strict=False):
        if a == b:
            raise InputError(f"{folder}: two files for frame {a} ({path_a.name}, "
                             f"{path_b.name}): the JSON of two videos in one folder?")
    stems = sorted({file_stem(path) for _, path in found})
    if len(stems) > 1:
        raise InputError(f"{folder}: its files are named after {len(stems)} videos ({stems[0]!r}"
                         f", {stems[1]!r}{', ...' if len(stems) > 2 else ''}): the JSON of "
                         "several videos in one folder?")
    return found


def read_sequence(folder: str | Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frame numbers `[T]` and each frame's people `[P, 25, 3]`, for a folder of one video."""
    files = frame_files(folder)
    return np.array([i for i, _ in files]), [read_frame(p) for _, p in files]
