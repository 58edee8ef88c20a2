"""A model folder's `model.json`: the whole contract between training and inference.

Training records everything inference must repeat: the frame rate of the training clips
(measured from the clips), how many frames the model sees and how far apart, the input size,
the view (full frame, or a square around the person with its margin and the resolution the
frames had before the crop) and the pixel normalisation. `read_contract` checks every key
and hands inference and the pose stage one typed object; nothing is assumed by default.
Torch-free, so the pose stage and the statistics side can read it.

Format 2 added `fps` and `view`. A format-1 folder (no frame rate) is refused with the way
out: `--model-fps` with its training clips' rate, and the view it recorded among its
training metrics.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

# The pixel statistics the loaders apply (ImageNet's, RGB 0-255), as the model config has them.
from microdualnet.model.config import IMAGENET_MEAN, IMAGENET_STD, SIZE_LIMITS
from microdualnet.windowplan import SamplingRule
from pipeio.errors import InputError
from pipeio.modelfiles import META_FILE
from pipeio.values import is_finite_number

FORMAT = "microdualnet-model/2"
OLD_FORMATS = ("microdualnet-model/1",)
PERSON_MIN_JOINT_CONFIDENCE = 0.3


@dataclass(frozen=True)
class View:
    """How a frame becomes model input.

    `full`: the shorter side brought to the input size, then the centre square. `person`:
    frames first brought to `source_short_side` (shorter side, never enlarged), then a square
    around the window's joints with confidence > `min_joint_confidence`, `margin` times
    their extent, resized to the input size.
    """

    kind: Literal["full", "person"]
    margin: float = 1.5
    min_joint_confidence: float = PERSON_MIN_JOINT_CONFIDENCE
    source_short_side: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind == "full":
            return {"kind": "full"}
        return {"kind": "person", "margin": self.margin,
                "min_joint_confidence": self.min_joint_confidence,
                "source_short_side": self.source_short_side}


@dataclass(frozen=True)
class ModelContract:
    """The checked contents of one model.json."""

    folder: Path
    fps: float
    frames: int
    frame_stride: int
    input_size: int
    view: View
    class_names: tuple[str, ...]
    entities: tuple[str, ...]
    config: dict[str, Any]
    meta: dict[str, Any]  # the file as read, for the keys only training reports use

    @property
    def sampling_rule(self) -> SamplingRule:
        """T frames `frame_stride / fps` seconds apart, at any recording's frame rate."""
        return SamplingRule(self.frames, self.frame_stride / self.fps)


def read_meta(folder: str | Path) -> dict[str, Any]:
    """model.json of a model folder as a dict, checked for its format tag."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise InputError(f"model folder {folder}: missing {META_FILE}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # ValueError: also an integer of 5000 digits
        raise InputError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") not in (FORMAT, *OLD_FORMATS):
        found = meta.get("format") if isinstance(meta, dict) else None
        raise InputError(f"{path}: key 'format' is {found!r}, expected {FORMAT!r}")
    if not isinstance(meta.get("config"), dict):
        raise InputError(f"{path}: key 'config' is missing or not an object")
    return meta


def read_contract(folder: str | Path, fps: float | None = None) -> ModelContract:
    """The contract of a model folder. `fps` (the `--model-fps` option) supplies the
    training clips' rate of a format-1 folder; for a newer one it must equal the recorded
    rate."""
    folder = Path(folder)
    path = folder / META_FILE
    meta = read_meta(folder)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise InputError(f"--model-fps must be a positive number, got {fps}")
    if meta["format"] in OLD_FORMATS:
        meta = _upgrade(meta, path, fps)
    recorded = _number(meta, "fps", path, float)
    # Equal as rates are written: 29.97 names 30000/1001 (1.0e-6 apart), 25.1 is not 25.
    if fps is not None and abs(fps - recorded) > 1e-4 * recorded:
        raise InputError(f"{path}: key 'fps' records training clips at {recorded:.6g} fps; "
                         f"--model-fps {fps:.6g} contradicts it (leave the option out)")
    cfg = meta["config"]
    contract = ModelContract(
        folder=folder, fps=recorded,
        frames=_number(meta, "frames", path, int, SIZE_LIMITS["num_frames"]),
        frame_stride=_number(meta, "frame_stride", path, int, SIZE_LIMITS["frame_stride"]),
        input_size=_number(meta, "input_size", path, int, SIZE_LIMITS["input_size"]),
        view=parse_view(meta.get("view"), path),
        class_names=tuple(_strings(meta, "class_names", path)),
        entities=tuple(_strings(meta, "entities", path)),
        config=cfg, meta=meta)
    for key, config_key in (("frames", "num_frames"), ("frame_stride", "frame_stride"),
                            ("input_size", "input_size")):
        if key in meta and config_key in cfg and cfg[config_key] != meta[key]:
            raise InputError(f"{path}: key {key!r} is {meta[key]!r}, but config.{config_key} "
                             f"is {cfg[config_key]!r}")  # !r: "8" (hand-edited) is not 8
    if len(contract.class_names) != cfg.get("num_classes", len(contract.class_names)):
        raise InputError(f"{path}: key 'class_names' has {len(contract.class_names)} names, "
                         f"config.num_classes is {cfg['num_classes']!r}")
    norm = meta.get("normalisation")
    if not (isinstance(norm, dict) and _triple(norm.get("mean"), IMAGENET_MEAN)
            and _triple(norm.get("std"), IMAGENET_STD)):
        raise InputError(f"{path}: key 'normalisation' is {norm}; the loaders apply ImageNet "
                         f"mean {IMAGENET_MEAN} and std {IMAGENET_STD} only")
    return contract


def _triple(value: Any, expected: tuple[float, ...]) -> bool:
    """`value` is a list of three numbers close to `expected`."""
    return (isinstance(value, list) and len(value) == 3
            and all(is_finite_number(v) for v in value)
            and bool(np.allclose(value, expected)))


def _upgrade(meta: dict[str, Any], path: Path, fps: float | None) -> dict[str, Any]:
    """A format-1 model.json in format 2's keys, or the error saying what is missing."""
    if fps is None:
        raise InputError(f"{path}: key 'fps' is missing (a model folder from an older "
                         f"version, format {meta['format']}); pass --model-fps with the frame "
                         "rate of its training clips, or retrain the model")
    old = (meta.get("metrics") or {}).get("view")
    if not isinstance(old, dict) or old.get("crop") not in ("centre", "person"):
        raise InputError(f"{path}: key 'metrics.view' is missing (a format-1 model folder "
                         "that does not say how frames were cropped); retrain the model")
    view: dict[str, Any] = {"kind": "full"}
    if old["crop"] == "person":  # format 1 trained from frames cached at twice the input
        view = {"kind": "person", "margin": old.get("margin", 1.5),
                "min_joint_confidence": old.get("min_joint_confidence", 0.3),
                "source_short_side": 2 * _number(meta, "input_size", path, int,
                                                 SIZE_LIMITS["input_size"])}
    return {**meta, "fps": fps, "view": view}


def _number(meta: dict[str, Any], key: str, path: Path, kind: type,
            most: float = math.inf) -> Any:
    """A positive number of `kind`, at most `most` (frames of 10**7 would be decoded)."""
    value = meta.get(key)
    if not (is_finite_number(value) and 0 < value <= most) or (kind is int
                                                              and value != int(value)):
        limit = "" if most == math.inf else f" up to {most}"
        raise InputError(f"{path}: key {key!r} must be a positive "
                         f"{'integer' if kind is int else 'number'}{limit}, got {value!r}")
    return kind(value)


def _strings(meta: dict[str, Any], key: str, path: Path) -> list[str]:
    value = meta.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{path}: key {key!r} must be a list of names, got {value!r}")
    twice = sorted({v for v in value if value.count(v) > 1})
    if twice:  # they name the windows file's columns
        raise InputError(f"{path}: key {key!r} names {twice} more than once")
    return value


def parse_view(value: Any, path: Path) -> View:
    """The view a model.json records, checked (`save_checkpoint` checks one before writing
    it, so that no run writes a folder `read_contract` would refuse)."""
    if not isinstance(value, dict) or value.get("kind") not in ("full", "person"):
        raise InputError(f"{path}: key 'view' must be {{'kind': 'full'}} or a person view, "
                         f"got {value!r}")
    if value["kind"] == "full":
        return View("full")
    margin, conf = value.get("margin"), value.get("min_joint_confidence")
    short = value.get("source_short_side")
    if not is_finite_number(margin) or margin < 1:
        raise InputError(f"{path}: key 'view.margin' must be a finite number >= 1, "
                         f"got {margin!r}")
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0 <= conf < 1:
        raise InputError(f"{path}: key 'view.min_joint_confidence' must be within [0, 1), "
                         f"got {conf!r}")
    if not isinstance(short, int) or short < 8:
        raise InputError(f"{path}: key 'view.source_short_side' must be an integer >= 8, "
                         f"got {short!r}")
    return View("person", float(margin), float(conf), short)
