"""The mapping file: which coded behaviour is which model class, and who is the participant.

A YAML file (docs/agreement.md has an example). Only `behaviours` is required::

    behaviours:              # coded behaviour -> model class; null: coded, not compared
      nodding: nodding
      head nod: nodding
      looking away: null
    participant_subject: child      # BORIS subject of the participant ("" = no subject)
    other_subjects: [interviewer]   # BORIS subjects (ELAN tier PARTICIPANTs) left out
    participant_id_from: file       # file | observation | media
    participant_id_pattern: "(sub-[0-9]+)"
    elan_behaviour_from: tier       # tier (tier name) | value (annotation value)
    elan_tiers: []                  # ELAN tiers to read (empty: all)
    unknown: error                  # error | warn, for behaviours not listed
    point_duration_s: null          # length given to a BORIS POINT event (null: refused)

A behaviour that is neither listed nor mapped to null is never dropped silently: with
`unknown: error` the file is refused, with `warn` a warning names each one. Nor is a key
given twice (PyYAML would keep the last, so `nodding: null` further down undoes
`nodding: nodding`): it is refused by line.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeio import InputError
from pipeio.yamlfile import load_yaml_file

log = logging.getLogger(__name__)


class CodingMap(BaseModel):
    """The parsed mapping file (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    behaviours: dict[str, str | None]
    participant_subject: str = ""
    other_subjects: list[str] = Field(default_factory=list)
    participant_id_from: Literal["file", "observation", "media"] = "file"
    participant_id_pattern: str | None = None
    elan_behaviour_from: Literal["tier", "value"] = "tier"
    elan_tiers: list[str] = Field(default_factory=list)
    unknown: Literal["error", "warn"] = "error"
    point_duration_s: Annotated[float, Field(gt=0)] | None = None

    @field_validator("behaviours")
    @classmethod
    def _some(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        blank = [k for k, a in v.items() if a is not None and not a.strip()]
        if blank:  # a blank target reads like null but was probably meant to name a class
            raise ValueError(f"{blank[0]!r} maps onto an empty class name; name a model "
                             "class, or null to leave it out")
        if not any(v.values()):
            raise ValueError("maps no behaviour onto a model class")
        return v

    @field_validator("participant_id_pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as err:
                raise ValueError(f"not a regular expression ({err})") from None
        return v

    def participant_id(self, text: str, where: str) -> str:
        """The participant id in `text` (a file stem, observation id or media stem)."""
        if self.participant_id_pattern is None:
            return text
        found = re.search(self.participant_id_pattern, text)
        if found is None:
            raise InputError(f"{where}: {text!r} does not match participant_id_pattern "
                             f"{self.participant_id_pattern!r}")
        return found.group(1) if found.groups() else found.group(0)

    def known(self, behaviours: set[str], where: str) -> set[str]:
        """The behaviours the mapping lists; the others refused or warned about by name."""
        unknown = sorted(behaviours - set(self.behaviours))
        if unknown and self.unknown == "error":
            raise InputError(f"{where}: behaviour(s) {unknown} are not in the mapping file; "
                             "map each to a model class, or to null to leave it out")
        if unknown:
            log.warning("%s: behaviour(s) %s are not in the mapping file and are left out",
                        where, unknown)
        return behaviours - set(unknown)


def _refuse_yaml_scalars(behaviours: object, path: Path) -> None:
    """A behaviour code or class YAML read as a number or a truth value (`1`, `yes`, `off`)
    would never match the coded text; say so, and how to write it."""
    if not isinstance(behaviours, dict):
        return
    for name, target in behaviours.items():
        for role, value in (("behaviour", name), ("class", target)):
            if isinstance(value, (bool, int, float)):
                raise InputError(
                    f"mapping file {path}: behaviours: the {role} {value!r} is not text (YAML "
                    "reads unquoted digits as numbers and yes/no/on/off as true/false); put it "
                    "in quotes, e.g. '1': nodding")


def load_mapping(path: str | Path, classes: list[str] | None = None) -> CodingMap:
    """Read and check a mapping file; with `classes`, every target must be one of them."""
    path = Path(path)
    raw = load_yaml_file(path, "mapping file")
    if not isinstance(raw, dict):
        raise InputError(f"mapping file {path}: expected a mapping with a `behaviours:` key")
    _refuse_yaml_scalars(raw.get("behaviours"), path)
    try:
        mapping = CodingMap.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise InputError(f"mapping file {path}: {key}: {first['msg']}") from None
    if classes is not None:
        stray = sorted({a for a in mapping.behaviours.values() if a} - set(classes))
        if stray:
            raise InputError(f"mapping file {path}: target(s) {stray} are not model classes "
                             f"({classes})")
    return mapping
