"""A contact sheet: one row of frames per synthetic class with the detector keypoints overlaid."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from microdualnet.body25 import EDGES
from microdualnet.synthetic.actions import BACKGROUND_ID, Event, resolve
from microdualnet.synthetic.scene import record
from pipeio.atomic import atomic_path

LABEL_W = 190


def overlay_keypoints(img: np.ndarray, kp: np.ndarray, min_conf: float = 0.05) -> np.ndarray:
    """Draw BODY_25 bones and joints whose confidence exceeds `min_conf`."""
    out = img.copy()
    ok = kp[:, 2] > min_conf
    for a, b in EDGES:
        if ok[a] and ok[b]:
            cv2.line(out, tuple(np.round(kp[a, :2]).astype(int)),
                     tuple(np.round(kp[b, :2]).astype(int)), (255, 255, 0), 1, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(out, tuple(np.round(kp[j, :2]).astype(int)), 2, (255, 40, 40), -1, cv2.LINE_AA)
    return out


def contact_sheet(frames_per_row: int = 6, width: int = 200, height: int = 150,
                  seconds: float = 2.4, fps: float = 25.0, seed: int = 0) -> np.ndarray:
    """RGB image: a labelled row per class (background last), frames evenly spread in time."""
    rows = []
    for k, spec in enumerate(resolve(None, include_background=True)):
        rng = np.random.default_rng([seed, 30, k])
        n = int(round(seconds * fps))
        events = [] if spec.action_id == BACKGROUND_ID else [
            Event(spec.action_id, 0.2, seconds + 1.0, side=str(rng.choice(["R", "L"])))]
        rec = record(events, n, fps, width, height, rng)
        frames = list(rec.frames())
        picks = np.linspace(0, n - 1, frames_per_row).round().astype(int)
        tiles = [overlay_keypoints(frames[i], rec.keypoints[i]) for i in picks]
        label = np.full((height, LABEL_W, 3), 255, np.uint8)
        words = spec.name.split()
        lines = [" ".join(words[i:i + 2]) for i in range(0, len(words), 2)]
        for i, text in enumerate([f"{spec.action_id}", *lines, f"({spec.kind})"]):
            cv2.putText(label, text, (8, 30 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                        (20, 20, 20), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, *tiles], 1))
    return np.concatenate(rows, 0)


def write_contact_sheet(out: str | Path, **kwargs: float | int) -> Path:
    """Write the contact sheet as PNG or JPEG, by the suffix (atomically)."""
    img = contact_sheet(**kwargs)  # type: ignore[arg-type]
    with atomic_path(out) as tmp:
        params = [cv2.IMWRITE_JPEG_QUALITY, 85] if tmp.suffix.lower() in {".jpg", ".jpeg"} else []
        if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write {out}")
    return Path(out)
