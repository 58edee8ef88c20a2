"""Model folders: `model.safetensors` (weights only) + `model.json` (config and preprocessing).

Loading never unpickles: weights come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from microdualnet.contract import FORMAT, META_FILE, View, parse_view, read_meta
from microdualnet.model.config import (
    ModelConfig,
    config_differences,
    config_from_dict,
    config_to_dict,
)
from microdualnet.model.network import MicroDualNet
from pipeio.atomic import atomic_path, atomic_write_text
from pipeio.errors import InputError
from pipeio.modelfiles import WEIGHTS_FILE, check_weights_file


@dataclass
class LoadedModel:
    """A rebuilt model (eval mode) and its model.json contents."""

    model: MicroDualNet
    meta: dict[str, Any]

    @property
    def config(self) -> ModelConfig:
        return self.model.cfg


def save_checkpoint(model: MicroDualNet, folder: str | Path, *, fps: float, view: View,
                    class_names: Sequence[str] | None = None,
                    body_map: Sequence[int] | None = None,
                    metrics: dict[str, Any] | None = None) -> Path:
    """Write both files atomically into `folder` (created if needed) and return it.

    `fps` is the frame rate of the training clips and `view` how their frames became model
    input: with the model's config they are the contract inference applies
    (`microdualnet.contract`). `class_names` default to `class_0..`; `body_map[i]` is the
    body category of class i (MA-52) if the labels have one; `metrics` are the training
    results to record.
    """
    cfg = model.cfg
    names = list(class_names) if class_names is not None else [
        f"class_{i}" for i in range(cfg.num_classes)]
    if len(names) != cfg.num_classes:
        raise InputError(f"class_names has {len(names)} entries, the model has num_classes="
                         f"{cfg.num_classes}")
    if not (math.isfinite(fps) and fps > 0):  # json.dumps would write Infinity
        raise InputError(f"fps must be positive, got {fps}")
    if body_map is not None and len(body_map) != cfg.num_classes:
        raise InputError(f"body_map has {len(body_map)} entries, expected {cfg.num_classes}")
    folder = Path(folder)
    parse_view(view.to_json(), folder / META_FILE)
    meta = {
        "format": FORMAT,
        "config": config_to_dict(cfg),
        "class_names": names,
        "body_map": list(body_map) if body_map is not None else None,
        "entities": [e.name for e in model.entities],
        "normalisation": {"mean": list(cfg.pixel_mean), "std": list(cfg.pixel_std),
                          "scale": "RGB 0-255"},
        "input_size": cfg.input_size,
        "fps": float(fps),
        "frames": cfg.num_frames,
        "frame_stride": cfg.frame_stride,
        "view": view.to_json(),
        "metrics": metrics or {},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    atomic_write_text(folder / META_FILE, json.dumps(meta, indent=2) + "\n")
    return folder


def load_checkpoint(folder: str | Path, expected: ModelConfig | None = None,
                    device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model from `folder`; with `expected`, any config difference is an error
    naming the key. A weight missing, unexpected or of the wrong shape is an error naming it."""
    meta, cfg, weights = _checked_files(folder, expected)
    try:
        state = load_file(str(weights), device=str(device))
    except SafetensorError as err:
        raise InputError(f"weights file {weights} is damaged or incomplete (copy or download "
                         f"it again): {err}") from None
    model = MicroDualNet(cfg)
    _check_built(model, meta, folder, {k: tuple(v.shape) for k, v in state.items()}, weights)
    if torch.device(device).type != "cpu":
        model.to(device)
    model.load_state_dict(state)
    return LoadedModel(model.eval(), meta)


def check_checkpoint(folder: str | Path) -> None:
    """Every check of `load_checkpoint` without reading the weights (the model is built on the
    meta device): a job that would fail on its model fails before it decodes any video."""
    meta, cfg, weights = _checked_files(folder, None)
    try:
        with safe_open(str(weights), framework="pt") as fh:
            shapes = {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}  # noqa: SIM118
    except SafetensorError as err:
        raise InputError(f"weights file {weights} is damaged or incomplete (copy or download "
                         f"it again): {err}") from None
    with torch.device("meta"):
        model = MicroDualNet(cfg)
    _check_built(model, meta, folder, shapes, weights)


def _checked_files(folder: str | Path, expected: ModelConfig | None
                   ) -> tuple[dict[str, Any], ModelConfig, Path]:
    """model.json, its config (equal to `expected` when given) and the checked weights file."""
    meta = read_meta(folder)
    cfg = config_from_dict(meta["config"])
    if expected is not None:
        diff = config_differences(cfg, expected)
        if diff:
            key = diff[0]
            raise InputError(f"checkpoint {folder}: config key {key!r} is "
                             f"{getattr(cfg, key)!r}, the requested model has "
                             f"{getattr(expected, key)!r} (differing keys: {diff})")
    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file():
        raise InputError(f"model folder {folder}: missing {WEIGHTS_FILE}")
    check_weights_file(weights)
    return meta, cfg, weights


def _check_built(model: MicroDualNet, meta: dict[str, Any], folder: str | Path,
                 saved: dict[str, tuple[int, ...]], where: Path) -> None:
    """The built model's entities are model.json's, and its weights the file's, by name and
    shape."""
    built = [e.name for e in model.entities]
    if "entities" in meta and meta["entities"] != built:
        # The windows files name their routing columns after model.json's list.
        raise InputError(f"{Path(folder) / META_FILE}: key 'entities' is {meta['entities']}, "
                         f"but its config builds entities {built}")
    own = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    missing = sorted(set(own) - set(saved))
    if missing:
        raise InputError(f"{where}: weight {missing[0]!r} missing ({len(missing)} missing)")
    unexpected = sorted(set(saved) - set(own))
    if unexpected:
        raise InputError(f"{where}: unexpected weight {unexpected[0]!r} "
                         f"({len(unexpected)} unexpected)")
    for key, shape in saved.items():
        if shape != own[key]:
            raise InputError(f"{where}: weight {key!r} has shape {shape}, the model expects "
                             f"{own[key]}")
