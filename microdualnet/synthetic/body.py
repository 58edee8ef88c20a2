"""The synthetic seated figure: pose parameters, forward kinematics and camera projection.

Body space is 3-D, in centimetres of a seated child: origin at MidHip, x towards the image's
right (the subject's left, since the subject faces the camera), y up, z towards the camera.
A pose is a set of per-frame tracks (angles and hand/ankle targets); arms and legs are posed
by two-link inverse kinematics, so hand and foot actions are defined by where the hand or
ankle goes, as a person would move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from microdualnet.body25 import INDEX, NUM_JOINTS

SIDES = {"R": -1.0, "L": 1.0}  # x sign of the subject's right and left side


@dataclass(frozen=True)
class Proportions:
    """Segment lengths (cm) of one synthetic identity."""

    torso: float = 40.0
    shoulder_half: float = 14.0
    hip_half: float = 9.5
    neck: float = 13.0
    head_rx: float = 9.0
    head_ry: float = 11.0
    upper_arm: float = 22.0
    forearm: float = 20.0
    thigh: float = 31.0
    shin: float = 30.0
    foot: float = 15.0
    limb_width: float = 7.0

    def scaled(self, rng: np.random.Generator, spread: float = 0.08) -> Proportions:
        """A random variant: every length scaled by its own factor within +-spread."""
        values = {k: v * float(rng.uniform(1 - spread, 1 + spread)) for k, v in vars(self).items()}
        return Proportions(**values)


def rest_hand(side: str) -> np.ndarray:
    """Hand rest position: on the thigh."""
    return np.array([SIDES[side] * 10.0, 7.0, 18.0])


def rest_ankle(side: str, p: Proportions) -> np.ndarray:
    """Ankle rest position: below the knee, feet on the floor in front of the chair."""
    return np.array([SIDES[side] * 12.0, -p.shin + 1.0, p.thigh * 0.92])


@dataclass
class PoseTrack:
    """Per-frame pose parameters; actions add to these in place.

    Angles in radians: head yaw (+ turns to the image's right), pitch (+ looks down), roll
    (+ tilts towards the image's right); torso pitch + leans forward. Targets in body cm.
    """

    n: int
    p: Proportions
    head_yaw: np.ndarray = field(init=False)
    head_pitch: np.ndarray = field(init=False)
    head_roll: np.ndarray = field(init=False)
    torso_roll: np.ndarray = field(init=False)
    torso_pitch: np.ndarray = field(init=False)
    torso_dx: np.ndarray = field(init=False)
    shrug: np.ndarray = field(init=False)
    hand: dict[str, np.ndarray] = field(init=False)
    ankle: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        for name in ("head_yaw", "head_pitch", "head_roll", "torso_roll", "torso_pitch",
                     "torso_dx", "shrug"):
            setattr(self, name, np.zeros(self.n))
        self.hand = {s: np.tile(rest_hand(s), (self.n, 1)) for s in SIDES}
        self.ankle = {s: np.tile(rest_ankle(s, self.p), (self.n, 1)) for s in SIDES}


def rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                     np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                     np.stack([z, z, o], -1)], -2)


def two_link_ik(root: np.ndarray, target: np.ndarray, a: float, b: float,
                pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle joint and reached end of a two-segment limb (lengths a, b) aiming at `target`.

    The middle joint bends towards `pole`; an unreachable target is approached along the
    same direction. Arrays are `[T, 3]`.
    """
    d_vec = target - root
    d = np.linalg.norm(d_vec, axis=-1, keepdims=True)
    along = d_vec / np.maximum(d, 1e-6)
    d = np.clip(d, abs(a - b) + 1e-3, a + b - 1e-3)
    end = root + along * d
    x = (a * a - b * b + d * d) / (2 * d)
    h = np.sqrt(np.maximum(a * a - x * x, 0.0))
    perp = pole - along * np.sum(pole * along, axis=-1, keepdims=True)
    perp /= np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), 1e-6)
    return root + along * x + perp * h, end


@dataclass
class Skeleton3D:
    """Body-space joints `[T, 25, 3]` plus the head centre and rotation needed for drawing."""

    joints: np.ndarray
    head_center: np.ndarray
    head_rot: np.ndarray


def forward_kinematics(track: PoseTrack) -> Skeleton3D:
    """Turn pose tracks into BODY_25 joints in body space."""
    p, n = track.p, track.n
    j = np.zeros((n, NUM_JOINTS, 3))
    torso_rot = rot_z(track.torso_roll) @ rot_x(track.torso_pitch)
    mid_hip = np.zeros((n, 3))
    mid_hip[:, 0] = track.torso_dx
    neck = mid_hip + torso_rot @ np.array([0.0, p.torso, 0.0])
    j[:, INDEX["MidHip"]] = mid_hip
    j[:, INDEX["Neck"]] = neck
    for side, sx in SIDES.items():
        shoulder = neck + torso_rot @ np.array([sx * p.shoulder_half, -2.0, 0.0])
        shoulder[:, 1] += track.shrug
        hip = mid_hip + np.array([sx * p.hip_half, 0.0, 0.0])
        elbow, wrist = two_link_ik(shoulder, track.hand[side], p.upper_arm, p.forearm,
                                   np.array([sx * 0.7, -1.0, -0.4]))
        knee, ankle = two_link_ik(hip, track.ankle[side], p.thigh, p.shin,
                                  np.array([sx * 0.15, 1.0, 0.6]))
        j[:, INDEX[side + "Shoulder"]] = shoulder
        j[:, INDEX[side + "Elbow"]] = elbow
        j[:, INDEX[side + "Wrist"]] = wrist
        j[:, INDEX[side + "Hip"]] = hip
        j[:, INDEX[side + "Knee"]] = knee
        j[:, INDEX[side + "Ankle"]] = ankle
        j[:, INDEX[side + "BigToe"]] = ankle + np.array([-sx * 2.5, -4.0, p.foot * 0.85])
        j[:, INDEX[side + "SmallToe"]] = ankle + np.array([sx * 2.5, -4.0, p.foot * 0.7])
        j[:, INDEX[side + "Heel"]] = ankle + np.array([0.0, -5.0, -3.5])
    head_rot = torso_rot @ rot_y(track.head_yaw) @ rot_x(track.head_pitch) @ rot_z(
        -track.head_roll)
    head_center = neck + torso_rot @ np.array([0.0, p.neck, 0.0])
    face = {
        "Nose": (0.0, -1.5, p.head_rx * 1.05),
        "REye": (-3.3, 2.0, p.head_rx * 0.85),
        "LEye": (3.3, 2.0, p.head_rx * 0.85),
        "REar": (-p.head_rx * 1.0, 0.5, -1.0),
        "LEar": (p.head_rx * 1.0, 0.5, -1.0),
    }
    for name, offset in face.items():
        j[:, INDEX[name]] = head_center + head_rot @ np.array(offset)
    return Skeleton3D(j, head_center, head_rot)


@dataclass(frozen=True)
class Camera:
    """Weak-perspective camera: yaw/pitch/roll in radians, scale in px per cm, centre in px."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    cx: float
    cy: float

    def rotation(self) -> np.ndarray:
        return (rot_z(np.array(self.roll)) @ rot_x(np.array(self.pitch))
                @ rot_y(np.array(self.yaw)))

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image coordinates `[..., 2]` (px, y down) and depth `[...]` (larger = nearer)."""
        cam = pts @ self.rotation().T
        uv = np.stack([self.cx + self.scale * cam[..., 0], self.cy - self.scale * cam[..., 1]], -1)
        return uv, cam[..., 2]
