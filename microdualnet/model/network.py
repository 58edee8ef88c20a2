"""Micro-DualNet (paper section III): TSM backbone -> SEM -> ST/TS paths -> routing -> MLP."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from microdualnet.bodyparts import CENTRE_REGION, ENTITY_SETS, FRAME, Entity
from microdualnet.model.aggregation import TemporalAggregator
from microdualnet.model.backbone import TSMBackbone
from microdualnet.model.config import AGGREGATIONS, ModelConfig
from microdualnet.model.entities import box_geometry, keypoint_boxes, region_boxes
from microdualnet.model.inputs import check_batch, check_keypoints, check_video
from microdualnet.model.paths import STPath, TSPath
from microdualnet.model.routing import EntityRouter
from microdualnet.model.sem import PoseEntityEncoder, SpatialEntityModule


@dataclass
class ModelOutput:
    """What training and inference need from one forward pass."""

    logits: Tensor  # [B, C]
    # [B, T, K, 2]: [alpha_ST, alpha_TS] per entity and frame; 0 where no path exists
    # (Table IV aggregations). K = len(model.entities): 1 without SEM, 0 for the TSM baseline.
    routing: Tensor
    boxes: Tensor  # [B, T, K, 4]: entity boxes x0, y0, x1, y1 in input pixels
    confidence: Tensor  # [B, T, K]: c_i^t, the MAC weights (Eq. 17)
    path_st: Tensor | None  # [B, T, K, D] raw ST output (Eq. 10), None for TS-only
    path_ts: Tensor | None  # [B, T, K, D] raw TS output (Eq. 12), None for ST-only


class MicroDualNet(nn.Module):
    """The full network; `cfg` picks the preset and the ablation variant."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.entities = model_entities(cfg)
        k, d = len(self.entities), cfg.dim
        levels = tuple(e.level for e in self.entities)
        head_in = d if cfg.uses_entities else 0
        if cfg.uses_cnn:
            self.backbone = TSMBackbone(cfg)
            self.sem = (SpatialEntityModule(self.backbone.out_channels, d, k, cfg.roi_size)
                        if cfg.uses_entities else None)  # None: the TSM baseline
            if cfg.global_proj_dim:
                self.global_proj = nn.Linear(self.backbone.out_channels, cfg.global_proj_dim)
            head_in += cfg.global_proj_dim or self.backbone.out_channels
            if cfg.pose_embedding:
                self.pose = PoseEntityEncoder(self.entities, d, cfg.keypoint_threshold,
                                              entity_embedding=False)
        else:
            self.pose = PoseEntityEncoder(self.entities, d, cfg.keypoint_threshold)
        self.st = STPath(cfg, levels) if cfg.paths in ("dual", "st") else None
        self.ts = TSPath(cfg, levels) if cfg.paths in ("dual", "ts") else None
        self.aggregate = TemporalAggregator(cfg) if cfg.paths in AGGREGATIONS else None
        self.router = (EntityRouter(d, k, cfg.routing_temperature, cfg.routing_dropout)
                       if cfg.fusion == "routing" else None)
        self.classifier = nn.Sequential(  # C of Eq. 21, a 2-layer MLP
            nn.Linear(head_in, cfg.classifier_hidden), nn.GELU(),
            nn.Dropout(cfg.classifier_dropout), nn.Linear(cfg.classifier_hidden, cfg.num_classes))

    def forward(self, video: Tensor | None, keypoints: Tensor | None = None) -> ModelOutput:
        """`video [B, T, 3, H, W]` (ImageNet-normalised; None for pose-only) and
        `keypoints [B, T, 25, 3]` (BODY_25, input pixels; optional for fixed/centre regions)."""
        cfg = self.cfg
        if cfg.uses_cnn:
            check_video(video, cfg)
        if cfg.uses_keypoints or keypoints is not None:
            check_keypoints(keypoints, cfg)
        check_batch(video, keypoints)
        ref = video if video is not None else keypoints
        boxes, conf = self._boxes(keypoints, ref)
        global_feat, x = None, None
        if cfg.uses_cnn:
            fmap, global_feat = self.backbone(video)
            if self.sem is not None:
                x = self.sem(fmap, boxes, cfg.input_size)
            if cfg.pose_embedding:
                x = x + self.pose(keypoints, cfg.input_size)
        else:
            x = self.pose(keypoints, cfg.input_size)
        x_st = x_ts = None
        if x is None:  # the TSM baseline: f_final = f_CNN
            feats, alpha = None, boxes.new_zeros((*boxes.shape[:3], 2))
        elif self.aggregate is not None:  # Table IV: pooled per entity, then over entities
            feats = self.aggregate(x).mean(dim=1)
            alpha = x.new_zeros((*x.shape[:3], 2))
        else:
            geometry = box_geometry(boxes, cfg.input_size)
            x_st = self.st(x, geometry) if self.st is not None else None
            x_ts = self.ts(x, geometry) if self.ts is not None else None
            fused, alpha = self._fuse(x_st, x_ts)
            feats = fused.mean(dim=(1, 2))  # f_entity, Eq. 19
        if global_feat is not None:  # f_final = [f_CNN; f_entity], Eq. 20
            if cfg.global_proj_dim:
                global_feat = self.global_proj(global_feat)
            feats = global_feat if feats is None else torch.cat([global_feat, feats], dim=-1)
        return ModelOutput(self.classifier(feats), alpha, boxes, conf, x_st, x_ts)

    def _boxes(self, keypoints: Tensor | None, ref: Tensor) -> tuple[Tensor, Tensor]:
        """Entity boxes and confidences from keypoints (Eq. 1) or fixed regions (confidence 1)."""
        cfg = self.cfg
        lead = (ref.shape[0], ref.shape[1])
        if not self.entities:  # the TSM baseline
            return ref.new_zeros((*lead, 0, 4)), ref.new_zeros((*lead, 0))
        if cfg.uses_keypoints:
            return keypoint_boxes(keypoints.float(), self.entities, cfg.input_size,
                                  cfg.keypoint_threshold, cfg.box_padding)
        regions = ([CENTRE_REGION] * len(self.entities) if cfg.entity_source == "centre"
                   else [e.region for e in self.entities])  # fixed regions, or the frame
        boxes = region_boxes(regions, cfg.input_size, lead, ref.device)
        return boxes, torch.ones(boxes.shape[:3], device=ref.device)

    def _fuse(self, x_st: Tensor | None, x_ts: Tensor | None) -> tuple[Tensor, Tensor]:
        """Routing (Eq. 13-15), a plain average, or the single path; weights always returned."""
        if x_st is not None and x_ts is not None:
            if self.router is not None:
                return self.router(x_st, x_ts)
            alpha = x_st.new_full((*x_st.shape[:3], 2), 0.5)
            return (x_st + x_ts) / 2, alpha
        only = x_st if x_st is not None else x_ts
        alpha = only.new_zeros((*only.shape[:3], 2))
        alpha[..., 0 if x_st is not None else 1] = 1.0
        return only, alpha

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per top-level module, plus the total."""
        counts = {name: sum(p.numel() for p in m.parameters())
                  for name, m in self.named_children()}
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts


def model_entities(cfg: ModelConfig) -> tuple[Entity, ...]:
    """The entity tokens: the K body entities, the whole frame (no SEM), or none (the TSM
    baseline has no entity branch)."""
    if not cfg.uses_entities:
        return ()
    if cfg.entity_source == "frame":
        return (FRAME,)
    return ENTITY_SETS[cfg.num_entities]
