"""Model folders: `model.safetensors` (weights only) + `model.json` (config and preprocessing).

Loading never unpickles: weights come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from microdualnet.contract import FORMAT, META_FILE, OLD_FORMATS, View, parse_view, read_meta
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

# Config keys a model.json of each format may lack: added after folders of that format were
# written, each defaulting to what those folders did (mac_level only shapes the training
# loss; format 1 predates the pre-LN and pose-embedding switches, both off then).
LATER_CONFIG_KEYS: dict[str, frozenset[str]] = {
    FORMAT: frozenset({"mac_level"}),
    OLD_FORMATS[0]: frozenset({"mac_level", "norm_first", "pose_embedding"}),
}
# safetensors' dtype names (`safe_open(...).get_slice(key).get_dtype()`) as torch dtypes.
_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
                       "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
                       "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                       "BOOL": torch.bool}
# A weight's shape and dtype, as the built model has it or as a weights file's header says.
Spec = tuple[tuple[int, ...], torch.dtype | str]


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
        raise _damaged(weights, err) from None
    # Weights from a diverged run load without complaint and make every score NaN, which
    # the metrics would count as the first class predicted for every clip.
    broken = next((key for key, value in state.items()
                   if value.is_floating_point() and not bool(torch.isfinite(value).all())), None)
    if broken is not None:
        raise InputError(f"{weights}: weight {broken!r} holds NaN or infinite values (a "
                         "diverged training run, or a damaged file)")
    model = MicroDualNet(cfg)
    if torch.device(device).type != "cpu":
        model.to(device)
    model.load_state_dict(state)
    return LoadedModel(model.eval(), meta)


def check_checkpoint(folder: str | Path) -> None:
    """Every check of `load_checkpoint` but the NaN one, without reading the weights: a job
    that would fail on its model fails before it decodes any video (its later load reuses
    the layout built here, `_layout`)."""
    _checked_files(folder, None)


def _checked_files(folder: str | Path, expected: ModelConfig | None
                   ) -> tuple[dict[str, Any], ModelConfig, Path]:
    """model.json, its config (equal to `expected` when given) and the weights file, whose
    tensors' names, shapes and dtypes (from its header) fit the model the config builds.

    Nothing is allocated before the file is known to fit (`_layout`): a model.json whose
    sizes disagree with the weights (a width edited to 10**9) is refused naming the first
    tensor that differs instead of exhausting memory."""
    meta = read_meta(folder)
    cfg = _model_config(meta, Path(folder) / META_FILE)
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
    try:
        with safe_open(str(weights), framework="pt") as fh:
            saved = {key: (tuple(fh.get_slice(key).get_shape()),
                           _torch_dtype(fh.get_slice(key).get_dtype()))
                     for key in fh.keys()}  # noqa: SIM118
    except SafetensorError as err:
        raise _damaged(weights, err) from None
    _check_built(*_layout(cfg), meta, folder, saved, weights)
    return meta, cfg, weights


@lru_cache(maxsize=1)  # one model per job
def _layout(cfg: ModelConfig) -> tuple[tuple[str, ...], Mapping[str, Spec]]:
    """The entities and every weight's shape and dtype of the model `cfg` builds.

    The model is built on the meta device, so nothing is allocated before the file is known
    to fit it; the layout depends on the config alone, so `infer`'s up-front check and its
    later load share one build."""
    with torch.device("meta"):
        model = MicroDualNet(cfg)
    return (tuple(e.name for e in model.entities), MappingProxyType(
        {key: (tuple(value.shape), value.dtype) for key, value in model.state_dict().items()}))


def _damaged(weights: Path, err: SafetensorError) -> InputError:
    """The error for a weights file safetensors cannot read."""
    return InputError(f"weights file {weights} is damaged or incomplete (copy or download it "
                      f"again): {err}")


def _torch_dtype(name: str) -> torch.dtype | str:
    """A safetensors dtype name as torch's dtype; a name torch lacks as itself."""
    return _SAFETENSORS_DTYPES.get(name, name)


def _model_config(meta: dict[str, Any], path: Path) -> ModelConfig:
    """model.json's config with every key its format has: a missing one would take the paper
    preset's default, and many keys (norm_first, shift_div, thresholds) change the outputs
    without changing any weight's shape, so the weights would still load."""
    later = LATER_CONFIG_KEYS.get(meta["format"], frozenset())
    missing = [f.name for f in fields(ModelConfig)
               if f.name not in meta["config"] and f.name not in later]
    if missing:
        raise InputError(f"{path}: key 'config.{missing[0]}' is missing ({len(missing)} "
                         "missing); the file must hold the config the model was trained with")
    try:
        return config_from_dict(meta["config"])
    except InputError as err:  # names the key, not yet the file
        raise InputError(f"{path}: {err}") from None


def _check_built(entities: tuple[str, ...], own: Mapping[str, Spec], meta: dict[str, Any],
                 folder: str | Path, saved: dict[str, Spec], where: Path) -> None:
    """The built model's entities are model.json's, and its weights the file's, by name,
    shape and dtype (`load_state_dict` would cast integer or half-precision values silently)."""
    built = list(entities)
    if "entities" in meta and meta["entities"] != built:
        # The windows files name their routing columns after model.json's list.
        raise InputError(f"{Path(folder) / META_FILE}: key 'entities' is {meta['entities']}, "
                         f"but its config builds entities {built}")
    missing = sorted(set(own) - set(saved))
    if missing:
        raise InputError(f"{where}: weight {missing[0]!r} missing ({len(missing)} missing)")
    unexpected = sorted(set(saved) - set(own))
    if unexpected:
        raise InputError(f"{where}: unexpected weight {unexpected[0]!r} "
                         f"({len(unexpected)} unexpected)")
    for key, (shape, dtype) in saved.items():
        if shape != own[key][0]:
            raise InputError(f"{where}: weight {key!r} has shape {shape}, the model "
                             f"{Path(folder) / META_FILE} describes has {own[key][0]}")
        if dtype != own[key][1]:
            raise InputError(f"{where}: weight {key!r} is stored as "
                             f"{str(dtype).removeprefix('torch.')}, the model expects "
                             f"{str(own[key][1]).removeprefix('torch.')}")
