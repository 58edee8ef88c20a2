"""Typed, validated options of the synthetic-world writers (the CLI's edge)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from microdualnet.synthetic.actions import resolve
from pipeio.errors import InputError

Positive = Annotated[int, Field(gt=0)]
NonNegative = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class VideoOptions(BaseModel):
    """Frame rate and size shared by clip sets and cohorts."""

    model_config = ConfigDict(extra="forbid")

    # At least 1: a cohort's shortest event is round(fps) frames (1 s), none below 1 frame.
    fps: Annotated[float, Field(ge=1, le=120)] = 25.0
    width: Annotated[int, Field(ge=32, le=1920)] = 160
    height: Annotated[int, Field(ge=32, le=1080)] = 120
    seed: NonNegative = 0
    workers: Positive = 2

    @field_validator("width", "height")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError("must be even (H.264 needs even frame sizes)")
        return v


class ClipSetOptions(VideoOptions):
    """Options of `synth clips`: a labelled clip set in the MA-52 layout."""

    classes: list[str] | None = None  # None: every synthetic class
    background: bool = True
    # Background ("no action") clips per split as a multiple of the per-class count. Rest is
    # most of a real conversation (about 65% of the synthetic cohort's time), so a model
    # that sees more of it, across more people and viewpoints, mistakes less of it for an
    # action (docs/training.md). The extra clips come after the balanced ones, which are the
    # same at any factor; 1 gives a class-balanced set.
    background_factor: Annotated[int, Field(ge=1, le=20)] = 3
    train_per_class: NonNegative = 100
    val_per_class: NonNegative = 20
    test_per_class: NonNegative = 20
    # Bounded as a cohort's video: an infinite or enormous clip cannot be drawn.
    min_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    max_seconds: Annotated[float, Field(gt=0, le=3600)] = 3.0
    subjects: dict[str, Positive] = Field(
        default_factory=lambda: {"train": 200, "val": 50, "test": 50})

    @field_validator("classes")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("must name at least one class")
            try:
                resolve(v)
            except KeyError as err:
                raise ValueError(err.args[0]) from err
        return v

    @model_validator(mode="after")
    def _ranges(self) -> ClipSetOptions:
        if self.min_seconds > self.max_seconds:
            raise ValueError("min_seconds must not exceed max_seconds")
        if self.train_per_class + self.val_per_class + self.test_per_class == 0:
            raise ValueError("train_per_class, val_per_class and test_per_class are all 0")
        return self


def first_problem(err: ValidationError) -> tuple[str, str]:
    """The first failure's dotted location ('' for the whole model) and its message, with
    the value given when it is short enough for one line."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    got = repr(first.get("input"))
    return loc, msg + (f" (got {got})" if loc and len(got) < 80 else "")


def validated(model: type[BaseModel], values: dict[str, Any], prefix: str = "--") -> Any:
    """Build `model` from `values`, turning a validation failure into a one-line InputError."""
    try:
        return model(**values)
    except ValidationError as err:
        loc, problem = first_problem(err)
        name = prefix + loc.replace("_", "-") if prefix == "--" and loc else loc
        where = f"invalid option {name}: " if loc else "invalid options: "
        raise InputError(where + problem) from None
