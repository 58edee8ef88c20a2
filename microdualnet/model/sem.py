"""Spatial Entity Module: entity features from CNN maps (Eq. 2) or, pose-only, from joints."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from microdualnet.model.entities import Entity


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
        frame = torch.arange(b * t, device=boxes.device, dtype=boxes.dtype)
        rois = torch.cat([frame.repeat_interleave(k)[:, None], boxes.reshape(-1, 4)], dim=1)
        crops = roi_align(fmap, rois.to(fmap.dtype), self.roi_size,
                          spatial_scale=fmap.shape[-1] / image_size, sampling_ratio=2,
                          aligned=True)  # [B*T*K, C, r, r]
        crops = crops.reshape(b * t, -1, self.roi_size, self.roi_size)
        x = self.refine(crops).mean(dim=(2, 3)).view(b, t, k, -1)
        return x + self.entity_embedding


class PoseEntityEncoder(nn.Module):
    """Pose-only variant: each entity embeds its own joints' (x, y, confidence) with an MLP.

    Coordinates are mapped to [-1, 1] over the image; joints at or below the confidence
    threshold are zeroed so undetected points carry no position.
    """

    def __init__(self, entities: tuple[Entity, ...], dim: int, threshold: float) -> None:
        super().__init__()
        self.joints = [list(e.joints) for e in entities]
        self.threshold = threshold
        self.encoders = nn.ModuleList(
            nn.Sequential(nn.Linear(3 * len(j), dim), nn.LayerNorm(dim), nn.GELU(),
                          nn.Linear(dim, dim))
            for j in self.joints
        )
        self.entity_embedding = nn.Parameter(torch.zeros(len(entities), dim))
        nn.init.normal_(self.entity_embedding, std=0.02)

    def forward(self, keypoints: Tensor, image_size: int) -> Tensor:
        """`keypoints [B, T, 25, 3]` -> `[B, T, K, D]`."""
        xy = keypoints[..., :2] / image_size * 2 - 1
        conf = keypoints[..., 2:]
        feats = torch.where(conf > self.threshold, torch.cat([xy, conf], dim=-1), 0.0)
        out = [enc(feats[..., j, :].flatten(-2)) for enc, j in
               zip(self.encoders, self.joints, strict=True)]
        return torch.stack(out, dim=2) + self.entity_embedding
