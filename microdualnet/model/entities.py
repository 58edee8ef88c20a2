"""Per-frame entity boxes (paper Eq. 1) over the body entities of `microdualnet.bodyparts`."""

from __future__ import annotations

import torch
from torch import Tensor

from microdualnet.body25 import INDEX
from microdualnet.bodyparts import MIN_VISIBLE, Entity


def joint_mask(entities: tuple[Entity, ...], device: torch.device | None = None) -> Tensor:
    """`[K, 25]` boolean membership of each joint in each entity (J_i of Eq. 1)."""
    mask = torch.zeros(len(entities), len(INDEX), dtype=torch.bool, device=device)
    for i, e in enumerate(entities):
        mask[i, list(e.joints)] = True
    return mask


def region_boxes(regions: list[tuple[float, float, float, float]], size: int,
                 lead: tuple[int, int], device: torch.device | None = None) -> Tensor:
    """Fixed fractional regions as pixel boxes broadcast to `[*lead, K, 4]`."""
    boxes = torch.tensor(regions, dtype=torch.float32, device=device) * size
    return boxes.expand(*lead, -1, -1).clone()


@torch.no_grad()
def keypoint_boxes(keypoints: Tensor, entities: tuple[Entity, ...], size: int,
                   threshold: float = 0.3, padding: float = 0.1) -> tuple[Tensor, Tensor]:
    """Eq. 1 boxes `[B, T, K, 4]` (x0, y0, x1, y1 pixels) and confidences `[B, T, K]`.

    A box is the min enclosing rectangle of the entity's joints with confidence > threshold,
    grown on each side by `padding` times its longer side (so a two-joint forearm still gets
    an area), clipped to the image. With fewer than 2 such joints the previous frame's box
    is kept; frames before the first valid box take that first box, and an entity never
    seen in the clip takes its fixed region. The confidence c_i^t (Eq. 17) is the mean
    confidence of the entity's joints, counting joints at or below threshold as 0, and 0
    when the box is not measured in that frame.
    """
    mask = joint_mask(entities, keypoints.device)  # [K, J]
    xy, conf = keypoints[..., :2], keypoints[..., 2]
    visible = (conf > threshold).unsqueeze(-2) & mask  # [B, T, K, J]
    valid = visible.sum(-1) >= MIN_VISIBLE  # [B, T, K]
    inf = torch.tensor(float("inf"), device=keypoints.device)
    pts = xy.unsqueeze(-3)  # [B, T, 1, J, 2]
    vis = visible.unsqueeze(-1)
    lo = torch.where(vis, pts, inf).amin(-2)
    hi = torch.where(vis, pts, -inf).amax(-2)
    pad = padding * (hi - lo).amax(-1, keepdim=True)
    raw = torch.cat([lo - pad, hi + pad], dim=-1).clamp(0, size)  # [B, T, K, 4]

    fallback = region_boxes([e.region for e in entities], size, keypoints.shape[:2],
                            keypoints.device)
    boxes = _carry(raw, valid, fallback)
    joint_conf = torch.where(visible, conf.unsqueeze(-2), 0.0).sum(-1) / mask.sum(-1)
    return boxes, torch.where(valid, joint_conf, 0.0)


def _carry(raw: Tensor, valid: Tensor, fallback: Tensor) -> Tensor:
    """Carry the last valid box forward in time, back-fill leading frames, else fallback."""
    t_len = raw.shape[1]
    out = torch.full_like(raw, float("nan"))
    prev = out[:, 0]
    for t in range(t_len):
        prev = torch.where(valid[:, t, :, None], raw[:, t], prev)
        out[:, t] = prev
    nxt = out[:, -1]
    for t in range(t_len - 1, -1, -1):
        nxt = torch.where(out[:, t].isnan(), nxt, out[:, t])
        out[:, t] = nxt
    return torch.where(out.isnan(), fallback, out)


def box_geometry(boxes: Tensor, size: int) -> Tensor:
    """`[B, T, K, 4]` relative layout for SPE: centre offset from the frame's mean entity
    centre, and width/height, all as fractions of the image side."""
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    extent = boxes[..., 2:] - boxes[..., :2]
    return torch.cat([centre - centre.mean(dim=-2, keepdim=True), extent], dim=-1) / size
