"""Local pretrained backbone weights: torchvision ImageNet ResNet, official TSM, mmaction2 TSM.

Nothing is downloaded. `.pth` files are read with `torch.load(weights_only=True)` (no
arbitrary unpickling), `.safetensors` with safetensors. Every source key is mapped to the
torchvision name, the shifted-conv wrapper (`.net`) ignored, then matched to the backbone.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from microdualnet.model.backbone import STAGES, TSMBackbone, resnet_depth
from microdualnet.model.resnet import BasicBlock, Bottleneck
from pipeio.errors import InputError
from pipeio.modelfiles import check_weights_file

SourceFormat = Literal["torchvision", "tsm", "mmaction2"]
# Classifier heads of each source: never loaded into the backbone, listed as ignored.
_HEADS = ("fc.", "new_fc.", "cls_head.")


@dataclass
class LoadReport:
    """What happened to each key; `missing` are backbone weights left at their init."""

    source_format: SourceFormat
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.source_format}: {len(self.loaded)} loaded, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {len(self.ignored)} ignored (heads)")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint file, unwrapped from a `state_dict`/`model` entry if nested."""
    path = Path(path)
    if path.is_dir():  # e.g. a model folder: name what it should be
        raise InputError(f"pretrained weights {path} is a folder; expected a weights file "
                         "(.pth or .safetensors)")
    if not path.is_file():
        raise InputError(f"pretrained weights {path}: no such file")
    if path.suffix == ".safetensors":
        check_weights_file(path)
        try:
            return load_file(str(path))
        except SafetensorError as err:
            raise InputError(f"pretrained weights {path} are damaged or incomplete: {err}"
                             ) from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's text would advise weights_only=False: never here
        raise InputError(f"pretrained weights {path}: not a checkpoint of tensors alone (not a "
                         "torch file, or one that pickles other objects, which this project "
                         "never unpickles); save its state_dict as .safetensors where it was "
                         "made") from None
    except Exception as err:  # a damaged file: say so in one line
        raise InputError(f"pretrained weights {path}: cannot read as a weights-only torch "
                         f"checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})") from err
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise InputError(f"pretrained weights {path}: expected a dict of tensors")
    return {k: v for k, v in data.items() if isinstance(v, Tensor)}


def detect_format(keys: list[str]) -> SourceFormat:
    """mmaction2 keys start with `backbone.`, official TSM ones contain `base_model.`."""
    if any(k.startswith("backbone.") for k in keys):
        return "mmaction2"
    if any("base_model." in k for k in keys):
        return "tsm"
    return "torchvision"


def canonical_key(key: str, fmt: SourceFormat) -> str:
    """The torchvision ResNet name of a source key (heads keep their head prefix)."""
    key = key.removeprefix("module.")
    if fmt == "tsm":
        key = key.removeprefix("base_model.")
    elif fmt == "mmaction2":
        key = key.removeprefix("backbone.")
        key = key.replace(".net.", ".")
        key = re.sub(r"conv(\d)\.conv\.", r"conv\1.", key)
        key = re.sub(r"conv(\d)\.bn\.", r"bn\1.", key)
        key = key.replace("downsample.conv.", "downsample.0.").replace("downsample.bn.",
                                                                         "downsample.1.")
    return key.replace(".net.", ".")


def blocks_per_stage(names: list[str]) -> tuple[int, ...]:
    """Residual blocks in each of layer1-4 as torchvision-style weight names show them."""
    found: dict[str, set[str]] = {stage: set() for stage in STAGES}
    for name in names:
        stage, block = (name.split(".") + [""])[:2]
        if stage in found and block.isdigit():
            found[stage].add(block)
    return tuple(len(found[stage]) for stage in STAGES)


def check_depth(backbone: TSMBackbone, names: list[str], where: str) -> None:
    """Refuse weights of a ResNet of another depth: ResNet-50 and -101 share every shape, so
    a ResNet-50 file would load into the paper's ResNet-101 and leave 17 of its blocks random."""
    theirs = blocks_per_stage(names)
    ours = blocks_per_stage(list(backbone.state_dict()))
    if theirs == ours or not any(theirs):
        return
    bottleneck = any(re.match(r"layer\d\.\d+\.conv3\.", name) for name in names)
    depth = resnet_depth(Bottleneck if bottleneck else BasicBlock, theirs)
    file_net = f"ResNet-{depth} ({theirs} blocks per stage)" if depth else \
        f"ResNet with {theirs} blocks per stage"
    own_depth = resnet_depth(type(backbone.layer1[0]), ours)
    advice = f"set model.overrides.backbone_depth: {depth}, or use" if depth else "use"
    raise InputError(f"pretrained weights {where}hold a {file_net}, the backbone is a "
                     f"ResNet-{own_depth} ({ours}): {advice} ResNet-{own_depth} weights")


def load_backbone_weights(backbone: TSMBackbone, source: str | Path | dict[str, Tensor],
                          fmt: SourceFormat | None = None) -> LoadReport:
    """Copy matching weights into `backbone`; a shape mismatch is an error naming the key."""
    state = source if isinstance(source, dict) else read_state_dict(source)
    fmt = fmt or detect_format(list(state))
    where = "" if isinstance(source, dict) else f"{source} "
    check_depth(backbone, [canonical_key(k, fmt) for k in state], where)
    own = backbone.state_dict()
    by_canonical = {k.replace(".net.", "."): k for k in own}
    report = LoadReport(fmt)
    update: dict[str, Tensor] = {}
    for key, value in state.items():
        name = canonical_key(key, fmt)
        if name.startswith(_HEADS):
            report.ignored.append(key)
        elif name not in by_canonical:
            report.unexpected.append(key)
        else:
            target = by_canonical[name]
            if value.shape != own[target].shape:
                raise InputError(f"pretrained key {key!r} has shape {tuple(value.shape)}, backbone "
                                 f"weight {target!r} expects {tuple(own[target].shape)} (wrong "
                                 f"depth or width?)")
            update[target] = value
            report.loaded.append(key)
    report.missing = sorted(k for k in set(own) - set(update)
                            if not k.endswith("num_batches_tracked"))
    if len(report.loaded) < len(report.missing):  # a file of another layout or network
        example = f" (e.g. {report.unexpected[0]!r})" if report.unexpected else ""
        raise InputError(f"pretrained weights {source if not isinstance(source, dict) else ''}"
                         f": only {len(report.loaded)} of {len(report.loaded) + len(report.missing)}"
                         f" backbone weights matched, {len(report.unexpected)} keys did not"
                         f"{example}; expected a {fmt} ResNet checkpoint of this depth")
    backbone.load_state_dict(update, strict=False)
    return report
