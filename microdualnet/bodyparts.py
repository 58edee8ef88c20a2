"""The body entities over BODY_25 (paper Sec. III-B): which joints make each body part.

The paper's joint-to-entity table is in its supplement, which we do not have; the sets below
are our reading of "head, face, left hand, right hand, torso, lower body" (docs/model.md).
Sides are the subject's own: the left hand is the subject's left (image right when facing
the camera). Torch-free, so the pose stage's QC can name entities without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from microdualnet.body25 import INDEX


@dataclass(frozen=True)
class Entity:
    """One anatomical grouping: its joints, hierarchy level (for SPE) and fixed region."""

    name: str
    joints: tuple[int, ...]
    level: int  # anatomical hierarchy head -> torso -> limbs, used by SPE (Eq. 3)
    region: tuple[float, float, float, float]  # x0, y0, x1, y1 as image fractions


def _j(*names: str) -> tuple[int, ...]:
    return tuple(INDEX[n] for n in names)


HEAD = Entity("head", _j("Nose", "Neck", "REye", "LEye", "REar", "LEar"), 0,
              (0.30, 0.00, 0.70, 0.35))
FACE = Entity("face", _j("Nose", "REye", "LEye", "REar", "LEar"), 0, (0.38, 0.05, 0.62, 0.30))
LEFT_HAND = Entity("left_hand", _j("LElbow", "LWrist"), 2, (0.55, 0.25, 1.00, 0.75))
RIGHT_HAND = Entity("right_hand", _j("RElbow", "RWrist"), 2, (0.00, 0.25, 0.45, 0.75))
TORSO = Entity("torso", _j("Neck", "RShoulder", "LShoulder", "MidHip", "RHip", "LHip"), 1,
               (0.25, 0.20, 0.75, 0.65))
LOWER_BODY = Entity(
    "lower_body",
    _j("MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
       "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"),
    2, (0.15, 0.55, 0.85, 1.00))

# K=6 for MA-52, K=5 for iMiGUE (seated, upper body), K=4 the Table III ablation.
ENTITY_SETS: dict[int, tuple[Entity, ...]] = {
    6: (HEAD, FACE, LEFT_HAND, RIGHT_HAND, TORSO, LOWER_BODY),
    5: (HEAD, FACE, LEFT_HAND, RIGHT_HAND, TORSO),
    4: (HEAD, LEFT_HAND, RIGHT_HAND, TORSO),
}
# The one token per frame of the models without SEM (`entity_source='frame'`, Table II).
FRAME = Entity("frame", (), 0, (0.0, 0.0, 1.0, 1.0))
CENTRE_REGION: tuple[float, float, float, float] = (0.25, 0.25, 0.75, 0.75)
MIN_VISIBLE = 2  # |V_i| >= 2 in Eq. 1
