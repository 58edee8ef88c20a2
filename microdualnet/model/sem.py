"""Spatial Entity Module: entity features from CNN maps (Eq. 2) or, pose-only, from joints."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from microdualnet.body25 import INDEX, NUM_JOINTS
from microdualnet.bodyparts import Entity

FEATURES_PER_JOINT = 7  # see joint_features


class SpatialEntityModule(nn.Module):
    """x_{i,t} = E_i(ROIAlign(F_t, B_{i,t})) + p_i (Eq. 2).

    E_i is a depthwise-separable conv (3x3 depthwise, 1x1 pointwise to D) with its own
    weights per entity; all K run as one grouped conv so the cost stays one kernel call.
    """

    def __init__(self, in_channels: int, dim: int, num_entities: int, roi_size: int) -> None:
        super().__init__()
        k, c = num_entities, in_channels
        self.num_entities, self.roi_size = k, roi_size
        self.refine = nn.Sequential(
            nn.Conv2d(k * c, k * c, 3, padding=1, groups=k * c, bias=False),
            nn.BatchNorm2d(k * c),
            nn.ReLU(inplace=True),
            nn.Conv2d(k * c, k * dim, 1, groups=k, bias=False),
            nn.BatchNorm2d(k * dim),
            nn.ReLU(inplace=True),
        )
        self.entity_embedding = nn.Parameter(torch.zeros(k, dim))  # p_i
        nn.init.normal_(self.entity_embedding, std=0.02)

    def forward(self, fmap: Tensor, boxes: Tensor, image_size: int) -> Tensor:
        """`fmap [B*T, C, h, w]`, `boxes [B, T, K, 4]` in input pixels -> `[B, T, K, D]`."""
        b, t, k = boxes.shape[:3]
        crops = roi_align(fmap, boxes.reshape(b * t, k, 4), self.roi_size,
                          fmap.shape[-1] / image_size)  # [B*T, K, C, r, r]
        crops = crops.reshape(b * t, -1, self.roi_size, self.roi_size)
        x = self.refine(crops).mean(dim=(2, 3)).view(b, t, k, -1)
        return x + self.entity_embedding


def roi_align(fmap: Tensor, boxes: Tensor, size: int, scale: float, samples: int = 2) -> Tensor:
    """ROIAlign (He et al., Mask R-CNN) of K boxes per map: `fmap [N, C, H, W]`, `boxes
    [N, K, 4]` (x1, y1, x2, y2 in input pixels, times `scale` on the map) -> `[N, K, C, size,
    size]`.

    Each output bin averages samples x samples bilinear samples at pixel-centre ("aligned")
    coordinates; a sample more than one pixel outside the map counts as zero, one nearer is
    read at the edge. These are the semantics of `torchvision.ops.roi_align(..., aligned=True,
    sampling_ratio=2)` (a test compares them), written with `grid_sample` so the model needs
    nothing beyond torch: importing torchvision's operator costs each inference process 2.4 s
    (it loads torch._dynamo).
    """
    n, _, h, w = fmap.shape
    m = size * samples  # sample points per box side
    steps = (torch.arange(m, device=boxes.device, dtype=boxes.dtype) + 0.5) / m
    start, end = boxes[..., :2] * scale - 0.5, boxes[..., 2:] * scale - 0.5  # [N, K, 2]
    x = start[..., :1] + steps * (end[..., :1] - start[..., :1])  # [N, K, m]
    y = start[..., 1:] + steps * (end[..., 1:] - start[..., 1:])
    inside = (((y >= -1) & (y <= h))[..., :, None]
              & ((x >= -1) & (x <= w))[..., None, :])  # [N, K, m (y), m (x)]
    # align_corners=True maps -1..1 onto pixel centres 0..W-1; "border" clamps into the map.
    gx = (x * (2 / max(w - 1, 1)) - 1)[..., None, :].expand(-1, -1, m, -1)
    gy = (y * (2 / max(h - 1, 1)) - 1)[..., :, None].expand(-1, -1, -1, m)
    grid = torch.stack([gx, gy], dim=-1).reshape(n, -1, m, 2).to(fmap.dtype)
    out = F.grid_sample(fmap, grid, mode="bilinear", padding_mode="border",
                        align_corners=True)  # [N, C, K*m, m]
    out = out.unflatten(2, (-1, m)) * inside[:, None].to(out.dtype)  # [N, C, K, m, m]
    out = out.unflatten(4, (size, samples)).unflatten(3, (size, samples)).mean(dim=(4, 6))
    return out.transpose(1, 2)  # [N, K, C, size, size]


def body_frame(keypoints: Tensor, threshold: float, image_size: int) -> tuple[Tensor, Tensor]:
    """Per-clip origin `[B, 2]` and scale `[B, 1]` (pixels) of the body in the window.

    Origin: the neck averaged over the frames where it is confident (else the mean of all
    confident joints, else the image centre). Scale: the mean neck-to-mid-hip length, else a
    quarter of the image. One frame per clip, not per frame, so a swaying torso still moves.
    """
    xy, seen = keypoints[..., :2], (keypoints[..., 2:] > threshold).to(keypoints.dtype)
    neck, mid_hip = INDEX["Neck"], INDEX["MidHip"]

    def masked_mean(values: Tensor, weight: Tensor, dims: tuple[int, ...]) -> Tensor:
        return (values * weight).sum(dims) / weight.sum(dims).clamp(min=1)

    centre_all = masked_mean(xy, seen, (1, 2))
    centre_all = torch.where(seen.sum((1, 2)) > 0, centre_all, image_size / 2)
    w_neck = seen[:, :, neck]
    origin = torch.where(w_neck.sum(1) > 0, masked_mean(xy[:, :, neck], w_neck, (1,)), centre_all)
    w_torso = w_neck * seen[:, :, mid_hip]
    torso = (xy[:, :, neck] - xy[:, :, mid_hip]).norm(dim=-1, keepdim=True)
    scale = torch.where(w_torso.sum(1) > 0, masked_mean(torso, w_torso, (1,)),
                        torch.full_like(w_torso[:, 0], image_size / 4))
    return origin, scale.clamp(min=image_size / 64)


def joint_features(keypoints: Tensor, threshold: float, image_size: int,
                   motion_gain: float = 5.0) -> Tensor:
    """`[B, T, 25, 7]` per joint: its mean position over the window relative to the body
    frame (2), this frame's deviation from that mean (2) and the window's RMS deviation (2),
    both times `motion_gain`, and confidence; zero for joints at or below the threshold.

    Body-relative coordinates make a held head tilt or foot position look the same wherever
    the person sits and however large they appear; the window mean gives every frame the
    posture with the detector's jitter averaged out, and the RMS deviation the strength of a
    rhythm, which a few pixels of shaking would otherwise not show against posture.
    """
    xy, conf = keypoints[..., :2], keypoints[..., 2:]
    seen = conf > threshold
    origin, scale = body_frame(keypoints, threshold, image_size)
    rel = (xy - origin[:, None, None]) / scale[:, None, None]
    w = seen.to(rel.dtype)
    count = w.sum(1, keepdim=True).clamp(min=1)
    mean = (rel * w).sum(1, keepdim=True) / count
    dev = (rel - mean) * w * motion_gain
    rms = ((dev**2).sum(1, keepdim=True) / count).sqrt().expand_as(dev)
    feats = torch.cat([mean.expand_as(rel), dev, rms, conf], dim=-1)
    return torch.where(seen, feats, 0.0)


class PoseEntityEncoder(nn.Module):
    """Each entity embeds its own joints' body-relative features (`joint_features`) with an MLP.

    Used alone by the pose-only variant and, with `entity_embedding=False`, added to the ROI
    features of the full model when `pose_embedding` is on.
    """

    def __init__(self, entities: tuple[Entity, ...], dim: int, threshold: float,
                 entity_embedding: bool = True) -> None:
        super().__init__()
        self.joints = [list(e.joints) for e in entities]
        self.threshold = threshold
        # Input BatchNorm (as ST-GCN's data_bn): features whose spread is a few hundredths
        # of a torso (a held head tilt) get the same footing as whole-body positions.
        self.input_norm = nn.BatchNorm1d(NUM_JOINTS * FEATURES_PER_JOINT)
        self.encoders = nn.ModuleList(
            nn.Sequential(nn.Linear(FEATURES_PER_JOINT * len(j), dim), nn.LayerNorm(dim),
                          nn.GELU(), nn.Linear(dim, dim))
            for j in self.joints
        )
        self.entity_embedding = None
        if entity_embedding:
            self.entity_embedding = nn.Parameter(torch.zeros(len(entities), dim))
            nn.init.normal_(self.entity_embedding, std=0.02)

    def forward(self, keypoints: Tensor, image_size: int) -> Tensor:
        """`keypoints [B, T, 25, 3]` -> `[B, T, K, D]`."""
        feats = joint_features(keypoints.float(), self.threshold, image_size)
        feats = self.input_norm(feats.flatten(-2).flatten(0, 1)).view(feats.shape)
        out = torch.stack([enc(feats[..., j, :].flatten(-2)) for enc, j in
                           zip(self.encoders, self.joints, strict=True)], dim=2)
        return out if self.entity_embedding is None else out + self.entity_embedding
