"""Typed Micro-DualNet configuration: architecture, preprocessing, loss weights, presets, variants.

Where the paper contradicts itself, the field says so and defaults to the value of its
implementation details (section IV-B); docs/model.md lists each case.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from pipeio.errors import InputError

EntitySource = Literal["keypoints", "fixed", "centre", "pose", "frame"]
# What follows SEM: the dual ST/TS paths or one of them; Table IV's temporal-aggregation
# alternatives (Temporal-T alone, an LSTM, average or max pooling over frames, each entity on
# its own); or nothing (the TSM baseline of Table II: backbone and classifier only).
Paths = Literal["dual", "st", "ts", "temporal", "lstm", "avg", "max", "none"]
PATH_KINDS: tuple[str, ...] = ("dual", "st", "ts")
AGGREGATIONS: tuple[str, ...] = ("temporal", "lstm", "avg", "max")
Fusion = Literal["routing", "average"]
MacLevel = Literal["video", "frame"]
ENTITY_SOURCES: tuple[str, ...] = ("keypoints", "fixed", "centre", "pose", "frame")

RESNET_DEPTHS: tuple[int, ...] = (10, 18, 34, 50, 101)
IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)
# The largest value of each size, far above any model's (the presets' are 8-16 frames,
# 224 px, D=256): a hand-edited or damaged model.json with a width of 10**9 is refused by
# name instead of building a network, or sampling clips, that exhausts memory or never ends.
SIZE_LIMITS: dict[str, int] = {
    "num_classes": 100_000, "num_frames": 1024, "frame_stride": 10_000, "input_size": 4096,
    "dim": 16_384, "num_layers": 64, "num_heads": 1024, "ffn_dim": 65_536, "roi_size": 64,
    "shift_div": 1024, "backbone_width": 1024, "classifier_hidden": 65_536,
    "global_proj_dim": 65_536,
}


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
    # keypoints: Eq. 1 boxes; fixed / centre: fixed regions / the central box for every
    # entity; pose: no CNN, the entity's joints only; frame: no entities (Table II rows
    # without SEM): one token per frame, the whole frame through the same ROIAlign + E.
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
    # Table IV "entity temporal granularity": video = Eq. 16 (each frame against the
    # entity's other frames of the clip); frame = each frame's pair on its own (docs/model.md).
    mac_level: MacLevel = "video"

    def __post_init__(self) -> None:
        _check(self)

    @property
    def uses_cnn(self) -> bool:
        """False for the pose-only variant, which never runs the backbone."""
        return self.entity_source != "pose"

    @property
    def uses_entities(self) -> bool:
        """False for the TSM baseline (`paths='none'`), which has no entity branch."""
        return self.paths != "none"

    @property
    def uses_keypoints(self) -> bool:
        """Whether forward() needs keypoints (boxes, pose features or MAC confidence)."""
        return self.uses_entities and (self.entity_source in ("keypoints", "pose")
                                       or self.pose_embedding)


def _check(cfg: ModelConfig) -> None:
    """Reject inconsistent settings with a message naming the field."""

    def bad(name: str, why: str) -> InputError:
        return InputError(f"model config {name}={getattr(cfg, name)!r}: {why}")

    if cfg.backbone_depth not in RESNET_DEPTHS:
        raise bad("backbone_depth", f"expected one of {RESNET_DEPTHS}")
    if cfg.num_entities not in (4, 5, 6):
        raise bad("num_entities", "expected 4, 5 or 6")
    if cfg.entity_source not in ENTITY_SOURCES:
        raise bad("entity_source", f"expected one of {', '.join(ENTITY_SOURCES)}")
    kinds = PATH_KINDS + AGGREGATIONS + ("none",)
    if cfg.paths not in kinds:
        raise bad("paths", f"expected one of {', '.join(kinds)}")
    if cfg.fusion not in ("routing", "average"):
        raise bad("fusion", "expected routing or average")
    if cfg.mac_level not in ("video", "frame"):
        raise bad("mac_level", "expected video or frame")
    proj = cfg.global_proj_dim
    if proj is not None and (isinstance(proj, bool) or not isinstance(proj, int) or proj < 1):
        raise bad("global_proj_dim", "expected a whole number of at least 1, or null for the "
                                     "raw CNN feature")
    for name, most in SIZE_LIMITS.items():
        value = getattr(cfg, name)
        if value is None:  # global_proj_dim: the raw CNN feature
            continue
        if value < 1:
            raise bad(name, "must be at least 1")
        if value > most:
            raise bad(name, f"must be at most {most}")
    if cfg.dim % cfg.num_heads:
        raise bad("dim", f"must be divisible by num_heads={cfg.num_heads}")
    if cfg.paths != "dual" and cfg.fusion == "routing":
        raise bad("fusion", f"routing blends two paths; use fusion='average' with "
                            f"paths={cfg.paths!r}")
    if cfg.paths != "dual" and cfg.mac_weight:
        raise bad("mac_weight", f"MAC compares two paths; set it to 0 with paths={cfg.paths!r}")
    if cfg.paths == "none" and not cfg.uses_cnn:
        raise bad("paths", "the TSM baseline ('none') classifies the CNN feature; it cannot "
                           "be combined with entity_source='pose'")
    if cfg.pose_embedding and (cfg.entity_source == "frame" or cfg.paths == "none"):
        raise bad("pose_embedding", "embeds each entity's joints; set it to false without "
                                    "entities (entity_source='frame' or paths='none')")
    for name in ("pose_embedding", "norm_first", "mac_confidence_weighting"):
        if not isinstance(getattr(cfg, name), bool):
            raise bad(name, "expected true or false")
    for name in ("routing_temperature", "mac_temperature"):
        if not 0 < getattr(cfg, name) < math.inf:
            raise bad(name, "must be a positive finite number")
    # Negated comparisons, so that NaN is refused too.
    for name in ("dropout", "routing_dropout", "classifier_dropout"):
        if not 0 <= getattr(cfg, name) < 1:
            raise bad(name, "a dropout probability must be at least 0 and below 1")
    if not 0 <= cfg.keypoint_threshold <= 1:
        raise bad("keypoint_threshold", "a confidence threshold must be between 0 and 1")
    for name in ("mac_weight", "box_padding"):
        if not 0 <= getattr(cfg, name) < math.inf:
            raise bad(name, "must be a finite number, 0 or more")
    every = cfg.shift_every  # 0 would mean the official rule, 2.5 or -1 odd block choices
    if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                              or every < 1):
        raise bad("shift_every", "expected a whole number of at least 1, or null for the "
                                 "official TSM rule")


# Section IV-B for MA-52: ResNet-101 TSM, 224 px, 8 frames at stride 8, K=6, D=256, 3 layers
# (each of Spatial-T and Temporal-T, in each path), 8 heads, FFN 1024, 52 classes.
_PAPER_MA52: dict[str, Any] = {}

PRESETS: dict[str, dict[str, Any]] = {
    "paper-ma52": _PAPER_MA52,
    # Section IV-B for iMiGUE: 16 frames at stride 4, K=5 (no lower body), 32 classes.
    "paper-imigue": {**_PAPER_MA52, "num_classes": 32, "num_entities": 5, "num_frames": 16,
                     "frame_stride": 4},
    "paper": _PAPER_MA52,  # the name before the data-set presets: paper-ma52
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

_ONE_PATH = {"fusion": "average", "mac_weight": 0.0}  # routing and MAC need two paths

# Ablation switches (Tables I-IV). A variant spec joins names with "+" ("ts-only+no-sem");
# two names that set one field to different values are an error. `frames-N` (any N >= 1)
# samples N frames over the same window (docs/model.md, "Variants").
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    # Table I (input modality)
    "pose-only": {"entity_source": "pose"},
    "rgb-only": {"entity_source": "fixed", "pose_embedding": False},
    # Table II (components)
    "tsm-baseline": {"paths": "none", "pose_embedding": False, **_ONE_PATH},
    "no-sem": {"entity_source": "frame", "pose_embedding": False},
    "st-only": {"paths": "st", **_ONE_PATH},
    "ts-only": {"paths": "ts", **_ONE_PATH},
    "no-mac": {"mac_weight": 0.0},
    "no-routing": {"fusion": "average"},
    # Table III (entity extraction)
    "centre-crop": {"entity_source": "centre", "pose_embedding": False},
    "no-confidence": {"mac_confidence_weighting": False},
    "four-entities": {"num_entities": 4},
    "five-entities": {"num_entities": 5},
    # Table IV (temporal modelling)
    "avg-pool": {"paths": "avg", **_ONE_PATH},
    "max-pool": {"paths": "max", **_ONE_PATH},
    "lstm": {"paths": "lstm", **_ONE_PATH},
    "temporal-t-only": {"paths": "temporal", **_ONE_PATH},
    "frame-mac": {"mac_level": "frame"},
}
_FRAMES_VARIANT = re.compile(r"frames-([1-9][0-9]*)")
VARIANT_JOIN = "+"


def known_variants() -> list[str]:
    """The names a variant spec may join, for messages."""
    return [*sorted(VARIANTS), "frames-N"]


@dataclass(frozen=True)
class VariantSpec:
    """A parsed variant spec: its names, the fields they set, and frames-N if given."""

    names: tuple[str, ...]
    switches: dict[str, Any]
    frames: int | None

    @property
    def canonical(self) -> str:
        return VARIANT_JOIN.join(self.names)


def parse_variant(spec: str) -> VariantSpec:
    """Check a variant spec ("name" or "name+name+..."); an unknown name or two names that
    disagree on a field is an `InputError` on one line."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"empty model variant {spec!r}; known: {', '.join(known_variants())}")
    names = tuple(part.strip() for part in spec.split(VARIANT_JOIN))
    switches: dict[str, Any] = {}
    setter: dict[str, str] = {}
    frames, frames_name = None, None
    for name in names:
        where = "" if name == spec.strip() else f" in {spec!r}"
        found = _FRAMES_VARIANT.fullmatch(name)
        if found:
            if frames is not None and int(found[1]) != frames:
                raise InputError(f"model variant {spec!r}: {frames_name!r} and {name!r} "
                                 "both set the frame count")
            frames, frames_name = int(found[1]), name
            continue
        if name not in VARIANTS:
            raise InputError(f"unknown variant {name!r}{where}; known: "
                             f"{', '.join(known_variants())}")
        for key, value in VARIANTS[name].items():
            if key in switches and switches[key] != value:
                raise InputError(f"model variant {spec!r}: {setter[key]!r} sets {key}="
                                 f"{switches[key]!r}, {name!r} sets {key}={value!r}")
            switches[key], setter[key] = value, name
    return VariantSpec(names, switches, frames)


def frames_over_window(frames: int, num_frames: int, frame_stride: int) -> dict[str, int]:
    """`frames` frames over the window of `num_frames` x `frame_stride` source frames (the
    Table IV frame-sampling rows): the stride that keeps that window, rounded, at least 1."""
    window = num_frames * frame_stride
    return {"num_frames": frames, "frame_stride": max(1, (window + frames // 2) // frames)}


def make_config(preset: str = "paper", variant: str = "full", **overrides: Any) -> ModelConfig:
    """Preset, then variant, then explicit overrides (e.g. num_classes, num_entities=5).

    A `frames-N` part of the variant applies last: N frames over the window that the
    preset and overrides sample (so a Table IV row differs from the others in that alone).
    """
    if preset not in PRESETS:
        raise InputError(f"unknown model preset {preset!r}; expected one of {sorted(PRESETS)}")
    parsed = parse_variant(variant)
    values = {**PRESETS[preset], **parsed.switches, **overrides}
    if parsed.frames is not None:
        default = {f.name: f.default for f in fields(ModelConfig)}
        values.update(frames_over_window(
            parsed.frames, values.get("num_frames", default["num_frames"]),
            values.get("frame_stride", default["frame_stride"])))
    return config_from_dict(values)


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
    for f in fields(ModelConfig):
        if f.name in values and not (values[f.name] is None and "None" in str(f.type)):
            _check_type(f.name, values[f.name], f.default)
    return ModelConfig(**values)


def _check_type(name: str, value: Any, default: Any) -> None:
    """A value of the kind the field's default is (YAML "8" for 8 would fail much later)."""
    if default is None or isinstance(default, str):
        ok = default is None or isinstance(value, str)
        kind = "text"
    elif isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, kind = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    elif isinstance(default, tuple):
        ok = (isinstance(value, tuple) and len(value) == len(default)
              and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))
        kind = f"a list of {len(default)} numbers"
    else:
        return
    if not ok:
        raise InputError(f"model config {name}={value!r}: expected {kind}")


def config_differences(a: ModelConfig, b: ModelConfig) -> list[str]:
    """Names of the fields whose values differ."""
    return [f.name for f in fields(ModelConfig) if getattr(a, f.name) != getattr(b, f.name)]
