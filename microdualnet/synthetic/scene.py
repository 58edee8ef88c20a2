"""A recording: one person in one room performing a timeline of events, frame by frame; and
a room where a second person (the interviewer) sits beside the participant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from microdualnet.synthetic.actions import Event, apply_events, idle_motion
from microdualnet.synthetic.appearance import Appearance, sample_appearance, sample_camera
from microdualnet.synthetic.body import Camera, PoseTrack, Skeleton3D, forward_kinematics
from microdualnet.synthetic.detector import DetectorModel, detect
from microdualnet.synthetic.render import FigureRenderer, Projected, project_skeleton


@dataclass
class Recording:
    """Everything known about one synthetic video: truth, keypoints and a frame renderer."""

    events: list[Event]
    fps: float
    n_frames: int
    width: int
    height: int
    camera: Camera
    appearance: Appearance
    skeleton: Skeleton3D
    projected: list[Projected]
    keypoints: np.ndarray  # [T, 25, 3] as a detector reports them
    renderer: FigureRenderer

    @property
    def clean_uv(self) -> np.ndarray:
        """Exact projected joints `[T, 25, 2]` (what the renderer draws)."""
        return np.stack([p.uv for p in self.projected])

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 frames, rendered lazily (a long video never sits in memory)."""
        for p in self.projected:
            yield self.renderer.frame(p)


@dataclass
class Room:
    """The participant's recording with other people in the same frames (drawn behind)."""

    participant: Recording
    others: list[Recording]

    def frames(self) -> Iterator[np.ndarray]:
        """The participant's room and noise, every other person, then the participant."""
        for t, p in enumerate(self.participant.projected):
            behind = [(o.renderer, o.projected[t]) for o in self.others]
            yield self.participant.renderer.frame(p, behind=behind)

    def people_keypoints(self) -> np.ndarray:
        """`[T, P, 25, 3]` detector keypoints, the participant first."""
        return np.stack([self.participant.keypoints, *(o.keypoints for o in self.others)], 1)


def record(events: list[Event], n_frames: int, fps: float, width: int, height: int,
           rng: np.random.Generator, appearance: Appearance | None = None,
           camera: Camera | None = None, detector: DetectorModel | None = None) -> Recording:
    """Perform `events` over `n_frames` with idle life everywhere, and set up rendering."""
    app = appearance or sample_appearance(rng)
    cam = camera or sample_camera(rng, width, height)
    t = np.arange(n_frames) / fps
    track = PoseTrack(n_frames, app.proportions)
    idle_motion(track, t, rng)
    apply_events(track, t, events)
    skel = forward_kinematics(track)
    projected = project_skeleton(skel, cam)
    uv = np.stack([p.uv for p in projected])
    depth = np.stack([p.depth for p in projected])
    head_depth = np.array([p.head_depth for p in projected])
    kp = detect(uv, depth, head_depth, cam.scale, width, height, rng, detector)
    renderer = FigureRenderer(app, width, height, rng)
    return Recording(events, fps, n_frames, width, height, cam, app, skel, projected, kp, renderer)
