"""What a dataset reader yields: one labelled clip and where its frames and pose live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClipRecord:
    """A labelled clip: frames [start_frame, end_frame) of `video` (end None = to the end).

    `pose_dir` holds the OpenPose JSON files `<pose_stem>_<12-digit frame>_keypoints.json`,
    numbered in the frames of the whole video.
    """

    name: str
    video: Path
    label: int  # class index (already mapped through the LabelMap)
    pose_dir: Path | None = None
    pose_stem: str = ""
    start_frame: int = 0
    end_frame: int | None = None


@dataclass(frozen=True)
class Problem:
    """A clip that cannot be used, with the file and the reason (logged and counted)."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"
