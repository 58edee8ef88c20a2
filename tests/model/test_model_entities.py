from __future__ import annotations

import torch

from microdualnet.body25 import INDEX
from microdualnet.bodyparts import ENTITY_SETS, LEFT_HAND, TORSO
from microdualnet.model.entities import box_geometry, keypoint_boxes

SIZE = 200


def clip(frames: int) -> torch.Tensor:
    return torch.zeros(1, frames, 25, 3)


def put(kp: torch.Tensor, t: int, joint: str, x: float, y: float, c: float = 0.9) -> None:
    kp[0, t, INDEX[joint]] = torch.tensor([x, y, c])


def test_entity_sets_cover_body25() -> None:
    k6 = ENTITY_SETS[6]
    assert [e.name for e in k6] == ["head", "face", "left_hand", "right_hand", "torso",
                                    "lower_body"]
    assert [e.name for e in ENTITY_SETS[5]] == [e.name for e in k6[:5]]
    assert len(ENTITY_SETS[4]) == 4
    assert set().union(*(e.joints for e in k6)) == set(range(25))
    assert INDEX["LWrist"] in LEFT_HAND.joints


def test_box_padding_is_ten_percent_of_longer_side() -> None:
    kp = clip(1)
    put(kp, 0, "LElbow", 100, 40)
    put(kp, 0, "LWrist", 120, 80)  # 20 wide, 40 high -> pad 4 px each side
    boxes, conf = keypoint_boxes(kp, (LEFT_HAND,), SIZE)
    assert torch.allclose(boxes[0, 0, 0], torch.tensor([96.0, 36.0, 124.0, 84.0]))
    assert torch.isclose(conf[0, 0, 0], torch.tensor(0.9))


def test_box_is_clipped_to_image() -> None:
    kp = clip(1)
    put(kp, 0, "LElbow", 0, 150)
    put(kp, 0, "LWrist", 10, 200)
    boxes, _ = keypoint_boxes(kp, (LEFT_HAND,), SIZE)
    assert boxes[0, 0, 0].tolist() == [0.0, 145.0, 15.0, 200.0]


def test_carry_forward_backfill_and_threshold() -> None:
    kp = clip(4)
    put(kp, 1, "LElbow", 10, 10)
    put(kp, 1, "LWrist", 30, 50)
    put(kp, 2, "LElbow", 60, 60)
    put(kp, 2, "LWrist", 80, 80, c=0.3)  # exactly at threshold: not visible (c > 0.3)
    put(kp, 3, "LElbow", 100, 100)
    put(kp, 3, "LWrist", 120, 140)
    boxes, conf = keypoint_boxes(kp, (LEFT_HAND,), SIZE)
    b = boxes[0, :, 0]
    first = torch.tensor([6.0, 6.0, 34.0, 54.0])
    assert torch.allclose(b[0], first)  # frame 0: back-filled from the first valid frame
    assert torch.allclose(b[1], first)
    assert torch.allclose(b[2], first)  # one visible joint: carried forward
    assert torch.allclose(b[3], torch.tensor([96.0, 96.0, 124.0, 144.0]))
    assert conf[0, :, 0].tolist() == [0.0, torch.tensor(0.9).item(), 0.0,
                                      torch.tensor(0.9).item()]


def test_never_visible_entity_takes_fixed_region() -> None:
    kp = clip(3)
    put(kp, 0, "Neck", 50, 50)  # only one torso joint
    boxes, conf = keypoint_boxes(kp, (TORSO,), SIZE)
    expected = torch.tensor(TORSO.region) * SIZE
    assert torch.allclose(boxes[0, :, 0], expected.expand(3, 4))
    assert conf.sum() == 0


def test_confidence_counts_hidden_joints_as_zero() -> None:
    kp = clip(1)
    for name, c in (("Neck", 1.0), ("RShoulder", 0.5), ("LShoulder", 0.2)):
        put(kp, 0, name, 50, 60, c)
    put(kp, 0, "RShoulder", 40, 70, 0.5)
    _, conf = keypoint_boxes(kp, (TORSO,), SIZE)
    assert torch.isclose(conf[0, 0, 0], torch.tensor(1.5 / 6))


def test_box_geometry_is_relative() -> None:
    boxes = torch.tensor([[[[0.0, 0, 20, 20], [40, 0, 60, 40]]]])
    g = box_geometry(boxes, 100)
    assert torch.allclose(g[0, 0, 0], torch.tensor([-0.2, -0.05, 0.2, 0.2]))
    # Centre (50, 20) less the mean centre (30, 15); width 20 and height 40, not x1/y1.
    assert torch.allclose(g[0, 0, 1], torch.tensor([0.2, 0.05, 0.2, 0.4]))
    assert torch.allclose(g[..., :2].sum(-2), torch.zeros(2))
