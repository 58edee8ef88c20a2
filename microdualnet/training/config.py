"""The training config file (YAML): typed, validated, every key documented in docs/training.md.

Sampling (frames, stride, input size) lives in the model section's overrides because the
model folder must record it for inference; everything else about a run is here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeio.errors import InputError
from pipeio.yamlfile import load_yaml_file, yaml_problem

# `~/data` names the home folder's data, as in a shell (`--set data.root=~/data` reaches us
# unexpanded: the shell expands `~` only at a word's start).
HomePath = Annotated[Path, AfterValidator(Path.expanduser)]
# A number in exponent notation without a dot, which YAML 1.1 (PyYAML) leaves as text.
_EXPONENT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    format: Literal["ma52", "imigue"] = "ma52"
    root: HomePath = Field(description="dataset folder (relative paths: from the working directory)")
    train_split: str = "train"
    val_split: str = "val"
    test_split: str | None = "test"  # MA-52's public test labels are dummies: set null
    workers: int = Field(2, ge=0)
    cache: bool = False  # decode each clip once and keep it in memory (small sets only)
    max_bad_clips: int = Field(0, ge=0)  # more unreadable clips than this stops the run
    view: Literal["full", "person"] = "full"  # what the model sees; recorded in model.json
    margin: float = Field(1.5, ge=1)  # person view: square side / extent of the joints
    shift: float = Field(0.1, ge=0, le=0.5)  # person view: training centre jitter (of side)
    scale: tuple[float, float] = (1.0, 1.15)  # training size jitter (short side / square side)
    flip_p: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _scale_and_splits_ok(self) -> DataConfig:
        low = 1.0 if self.view == "full" else 0.5
        if not low <= self.scale[0] <= self.scale[1] <= 2:
            raise ValueError(f"scale must be [low, high] with {low} <= low <= high <= 2")
        for role in ("val_split", "test_split"):
            # scored on training clips, the best epoch and the test row would say nothing
            if getattr(self, role) == self.train_split:
                raise ValueError(f"{role} {self.train_split!r} is the training split; "
                                 "its scores would measure the clips the model learnt")
        return self


class ModelSection(_Section):
    # paper = paper-ma52 (docs/model.md, "Presets")
    preset: Literal["demo", "paper", "paper-ma52", "paper-imigue"] = "demo"
    variant: str = "full"  # a spec such as "ts-only+no-sem" (docs/model.md, "Variants")
    overrides: dict[str, Any] = Field(default_factory=dict)  # any ModelConfig field
    pretrained: HomePath | None = None  # local torchvision / TSM / mmaction2 backbone weights

    @field_validator("overrides")
    @classmethod
    def _exponent_numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        """PyYAML reads `5e-2` (no dot) as text; for a number field it is the number meant
        (pydantic reads the optim section's the same way), not 'expected a number'."""
        from microdualnet.model.config import ModelConfig

        floats = {f.name for f in dataclasses.fields(ModelConfig) if isinstance(f.default, float)}
        return {key: float(v) if key in floats and isinstance(v, str) and _EXPONENT.fullmatch(v)
                else v for key, v in value.items()}

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, value: str) -> str:
        from microdualnet.model.config import parse_variant

        try:
            return parse_variant(value).canonical
        except InputError as err:
            raise ValueError(str(err)) from None

    @model_validator(mode="after")
    def _overrides_build_a_model(self) -> ModelSection:
        """Out-of-range overrides (dropout 1.5) stop the run when the config is read, not
        after the data has loaded."""
        from microdualnet.model.config import make_config

        try:
            make_config(self.preset, self.variant, **self.overrides)
        except (InputError, TypeError) as err:
            raise ValueError(str(err)) from None
        return self


class OptimConfig(_Section):
    name: Literal["sgd", "adamw"] = "sgd"  # the paper: SGD with momentum
    epochs: int = Field(120, ge=1)
    batch_size: int = Field(12, ge=1)
    eval_batch_size: int = Field(32, ge=1)
    lr: float = Field(0.01, gt=0)
    warmup_epochs: float = Field(10, ge=0)
    warmup_start_lr: float = Field(0.001, ge=0)
    min_lr: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # SGD only
    weight_decay: float = Field(5e-4, ge=0)
    grad_clip: float | None = Field(20.0, gt=0)


class TrainConfig(_Section):
    name: str = "micro-dualnet"  # the method name in the Table-I row
    # numpy's generators take no negative seed: -1 failed at the first clip, a traceback
    seed: int = Field(0, ge=0, le=2**32 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True  # mixed precision, CUDA only
    threads: int | None = Field(None, ge=1)  # torch CPU threads (None: torch's default)
    progress: bool = True
    data: DataConfig
    model: ModelSection = ModelSection()
    optim: OptimConfig = OptimConfig()


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise InputError(f"--set {dotted}: {key!r} is not a section")
    node[keys[-1]] = value


def parse_config(data: dict[str, Any], where: str = "config") -> TrainConfig:
    """Validate a mapping; the first error names its key path."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":  # a misspelt key: say which keys there are
            msg = f"unknown key (known here: {', '.join(_known_keys(first['loc'][:-1]))})"
        raise InputError(f"{where}: key {loc}: {msg}") from err


def _known_keys(section: tuple) -> list[str]:
    """The keys of the config section at `section` (a pydantic error location)."""
    model: type[BaseModel] = TrainConfig
    for key in section:
        annotation = model.model_fields[str(key)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def load_config(path: str | Path, sets: list[str] = ()) -> TrainConfig:
    """Read a YAML config and apply `key.path=value` overrides (values parsed as YAML)."""
    path = Path(path)
    data = load_yaml_file(path, "training config") or {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected key.path=value")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise InputError(f"--set {item!r}: the value is not valid YAML "
                             f"({yaml_problem(err)})") from err
        _set_path(data, key.strip(), parsed)
    return parse_config(data, str(path))


def config_to_yaml(cfg: TrainConfig) -> str:
    """The resolved config, as written next to the results."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
