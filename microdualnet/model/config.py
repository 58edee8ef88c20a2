"""Typed Micro-DualNet configuration: architecture, preprocessing, loss weights, presets, variants.

Where the paper contradicts itself, the field says so and defaults to the value of its
implementation details (section IV-B); docs/model.md lists each case.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Literal

from pipeio.errors import InputError

EntitySource = Literal["keypoints", "fixed", "centre", "pose"]
Paths = Literal["dual", "st", "ts"]
Fusion = Literal["routing", "average"]

RESNET_DEPTHS: tuple[int, ...] = (10, 18, 34, 50, 101)
IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network and to preprocess its input."""

    num_classes: int = 52
    # Backbone: torchvision ResNet with residual temporal shift (TSM).
    backbone_depth: int = 101
    backbone_width: int = 64  # channels of the first stage; 64 is the torchvision ResNet
    shift_div: int = 8  # 1/shift_div of the channels shift each way
    shift_every: int | None = None  # shift every n-th block; None = official TSM rule
    # Input contract (also what the data pipeline must produce).
    input_size: int = 224
    num_frames: int = 8  # impl. details: 8 for MA-52 (Table IV's best is 16)
    frame_stride: int = 8
    pixel_mean: tuple[float, float, float] = IMAGENET_MEAN  # RGB on the 0-255 scale
    pixel_std: tuple[float, float, float] = IMAGENET_STD
    # Spatial Entity Module (Eq. 1-2).
    num_entities: int = 6  # 6 (MA-52), 5 (iMiGUE, no lower body) or 4
    entity_source: EntitySource = "keypoints"
    keypoint_threshold: float = 0.3  # theta of Eq. 1
    box_padding: float = 0.1
    roi_size: int = 3
    dim: int = 256  # D
    # Not in the paper: also add an embedding of each entity's body-relative joints to its
    # ROI feature (the pose-only variant's encoder). For small, low-resolution figures where
    # a head is a few pixels and the ROI sees little; on for the demo preset (docs/model.md).
    pose_embedding: bool = False
    # Transformers (Eq. 3-12).
    paths: Paths = "dual"
    num_layers: int = 3
    num_heads: int = 8
    ffn_dim: int = 1024
    dropout: float = 0.1
    # Post-LN as Eq. 4-5 (False) or pre-LN (True). Not in the paper: the demo preset uses
    # pre-LN because the post-LN TS path trains poorly from scratch (docs/model.md).
    norm_first: bool = False
    # Entity-level routing (Eq. 13-15).
    fusion: Fusion = "routing"
    routing_temperature: float = 1.0  # impl. details; Eq. 14's text says 0.7
    routing_dropout: float = 0.1
    # Classifier (Eq. 20): the global CNN feature is projected to this size before the
    # concatenation, so that the input is 256+256 = 512 as in "512->256->C"; None feeds
    # the raw C-channel feature (2048+256 for ResNet-101), as Eq. 20 reads literally.
    global_proj_dim: int | None = 256
    classifier_hidden: int = 256
    classifier_dropout: float = 0.5
    # Losses (Eq. 16-17, 21).
    mac_weight: float = 0.1  # lambda; 0 disables MAC
    mac_temperature: float = 0.07
    mac_confidence_weighting: bool = True

    def __post_init__(self) -> None:
        _check(self)

    @property
    def uses_cnn(self) -> bool:
        """False for the pose-only variant, which never runs the backbone."""
        return self.entity_source != "pose"

    @property
    def uses_keypoints(self) -> bool:
        """Whether forward() needs keypoints (boxes, pose features or MAC confidence)."""
        return self.entity_source in ("keypoints", "pose") or self.pose_embedding


def _check(cfg: ModelConfig) -> None:
    """Reject inconsistent settings with a message naming the field."""

    def bad(name: str, why: str) -> InputError:
        return InputError(f"model config {name}={getattr(cfg, name)!r}: {why}")

    if cfg.backbone_depth not in RESNET_DEPTHS:
        raise bad("backbone_depth", f"expected one of {RESNET_DEPTHS}")
    if cfg.num_entities not in (4, 5, 6):
        raise bad("num_entities", "expected 4, 5 or 6")
    if cfg.entity_source not in ("keypoints", "fixed", "centre", "pose"):
        raise bad("entity_source", "expected keypoints, fixed, centre or pose")
    if cfg.paths not in ("dual", "st", "ts"):
        raise bad("paths", "expected dual, st or ts")
    if cfg.fusion not in ("routing", "average"):
        raise bad("fusion", "expected routing or average")
    if cfg.dim % cfg.num_heads:
        raise bad("dim", f"must be divisible by num_heads={cfg.num_heads}")
    if cfg.paths != "dual" and cfg.fusion == "routing":
        raise bad("fusion", "routing blends two paths; use fusion='average' with one path")
    if cfg.paths != "dual" and cfg.mac_weight:
        raise bad("mac_weight", "MAC compares two paths; set it to 0 with one path")
    for name in ("num_classes", "num_frames", "frame_stride", "input_size", "dim",
                 "num_layers", "num_heads", "ffn_dim", "roi_size", "shift_div",
                 "backbone_width", "classifier_hidden"):
        if getattr(cfg, name) < 1:
            raise bad(name, "must be at least 1")
    for name in ("pose_embedding", "norm_first", "mac_confidence_weighting"):
        if not isinstance(getattr(cfg, name), bool):
            raise bad(name, "expected true or false")
    for name in ("routing_temperature", "mac_temperature"):
        if getattr(cfg, name) <= 0:
            raise bad(name, "must be positive")


PRESETS: dict[str, dict[str, Any]] = {
    # Section IV-B: ResNet-101 TSM, 224 px, D=256, 3 layers, 8 heads, FFN 1024.
    "paper": {},
    # Small enough to train on a 2-core CPU in minutes on 8-frame 112 px synthetic clips.
    "demo": {
        "backbone_depth": 10,
        "backbone_width": 16,
        "input_size": 112,
        "frame_stride": 1,
        "dim": 64,
        "num_layers": 1,
        "num_heads": 4,
        "ffn_dim": 128,
        "roi_size": 2,
        "pose_embedding": True,
        "norm_first": True,
        "global_proj_dim": 64,
        "classifier_hidden": 64,
        "classifier_dropout": 0.2,
    },
}

# Ablations of Tables II-III as config switches.
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "pose-only": {"entity_source": "pose"},
    "rgb-only": {"entity_source": "fixed", "pose_embedding": False},
    "centre-crop": {"entity_source": "centre", "pose_embedding": False},
    "st-only": {"paths": "st", "fusion": "average", "mac_weight": 0.0},
    "ts-only": {"paths": "ts", "fusion": "average", "mac_weight": 0.0},
    "no-mac": {"mac_weight": 0.0},
    "no-routing": {"fusion": "average"},
    "no-confidence": {"mac_confidence_weighting": False},
    "four-entities": {"num_entities": 4},
}


def make_config(preset: str = "paper", variant: str = "full", **overrides: Any) -> ModelConfig:
    """Preset, then variant, then explicit overrides (e.g. num_classes, num_entities=5)."""
    if preset not in PRESETS:
        raise InputError(f"unknown model preset {preset!r}; expected one of {sorted(PRESETS)}")
    if variant not in VARIANTS:
        raise InputError(f"unknown model variant {variant!r}; expected one of {sorted(VARIANTS)}")
    return config_from_dict({**PRESETS[preset], **VARIANTS[variant], **overrides})


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    """JSON-ready dict (tuples become lists)."""
    out = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Strict inverse of `config_to_dict`: an unknown key is an error naming it."""
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"model config: unknown key {unknown[0]!r} (known: {sorted(known)})")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return ModelConfig(**values)


def config_differences(a: ModelConfig, b: ModelConfig) -> list[str]:
    """Names of the fields whose values differ."""
    return [f.name for f in fields(ModelConfig) if getattr(a, f.name) != getattr(b, f.name)]
