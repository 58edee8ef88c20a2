"""The statistics configuration: one typed, validated object for every analysis choice.

The pipeline's `config.yaml` carries it under a `stats:` key. Every choice that changes a
number in Table V lives here, so the methods paragraph (`analysis.methods`) can be generated
from it and a reader can see all of them in one place.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeio import InputError

Part = Literal["engagement", "intensity"]


class StatsConfig(BaseModel):
    """Settings of the hurdle analysis (paper section IV-E); defaults follow the paper."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[str] | None = Field(
        default=None,
        description="Diagnostic groups in display order; null = the sheet's groups, sorted.",
    )
    contrasts: list[tuple[str, str]] | None = Field(
        default=None,
        description="Pairs [A, B] to compare (effect = odds ratio A vs B); null = all pairs "
        "in group order.",
    )
    covariates: list[str] = Field(
        default_factory=list,
        description="Adjustment columns (participant sheet or percent-time table); numeric "
        "columns enter linearly, text columns as indicator variables.",
    )
    top_k: int = Field(
        default=10, ge=1,
        description="Analyse the k actions with the highest mean percent time across "
        "participants (ties: alphabetical). Ignored when `actions` is given.",
    )
    actions: list[str] | None = Field(
        default=None, description="Explicit list of actions to analyse (overrides top_k)."
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level.")
    fdr_family: Literal["all", "part"] = Field(
        default="all",
        description="Benjamini-Hochberg family: 'all' = actions x contrasts x parts together; "
        "'part' = engagement and intensity corrected separately.",
    )
    robust_se: Literal["HC0", "HC1", "HC3", "stata"] = Field(
        default="HC3",
        description="Sandwich variant for the intensity part: HC3 (leverage-corrected, "
        "default), HC0, HC1 = HC0*n/(n-p), stata = HC0*n/(n-1) as Stata's fracreg. "
        "See docs/statistics.md.",
    )
    intensity_test: Literal["permutation", "wald"] = Field(
        default="permutation",
        description="Test of the intensity contrasts: 'permutation' = robust score statistic "
        "referred to its permutation distribution (keeps the 5% level in small, skewed "
        "groups; default), 'wald' = Wald z with the robust_se sandwich, as in the paper. "
        "Effects and CIs are Wald either way. See docs/statistics.md.",
    )
    permutations: int = Field(
        default=9999, ge=99,
        description="Label permutations per intensity contrast (intensity_test: permutation); "
        "p-values are multiples of 1/(permutations + 1).",
    )
    permutation_seed: int = Field(
        default=0, ge=0,
        description="Seed of the permutation test; each test has its own stream keyed by "
        "action and contrast, so a p-value does not depend on the other actions analysed.",
    )
    min_participants: int = Field(
        default=10, ge=1,
        description="A group with fewer participants is not compared (either part).",
    )
    min_engagers: int = Field(
        default=5, ge=2,
        description="A group with fewer engagers is not compared in the intensity part.",
    )
    exclude_incomplete: bool = Field(
        default=False,
        description="If true, participants missing from the sheet or the table, or with a "
        "missing covariate, are excluded and logged instead of stopping with an error.",
    )
    plot_p: Literal["adjusted", "raw"] = Field(
        default="adjusted", description="Which p-values decide the stars on the plots."
    )
    plot_parts: list[Part] = Field(
        default_factory=lambda: ["engagement", "intensity"],
        description="Which parts' significant contrasts get brackets on the plots.",
    )

    @field_validator("groups", "covariates", "actions")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            dupes = sorted({v for v in value if value.count(v) > 1})
            if dupes:
                raise ValueError(f"duplicate entries {dupes}")
            if any(not str(v).strip() for v in value):
                raise ValueError("entries must be non-empty strings")
        return value

    @field_validator("groups")
    @classmethod
    def _two_groups(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) < 2:
            raise ValueError("at least two groups are needed for a comparison")
        return value

    @field_validator("covariates")
    @classmethod
    def _no_reserved(cls, value: list[str]) -> list[str]:
        reserved = {"participant_id", "group", "action", "percent_time", "valid_s"}
        clash = sorted(reserved & set(value))
        if clash:
            raise ValueError(f"{clash} cannot be covariates (reserved column names)")
        return value

    @model_validator(mode="after")
    def _contrasts_use_known_groups(self) -> StatsConfig:
        for a, b in self.contrasts or []:
            if a == b:
                raise ValueError(f"contrast [{a}, {b}] compares a group with itself")
            if self.groups is not None:
                unknown = [g for g in (a, b) if g not in self.groups]
                if unknown:
                    raise ValueError(
                        f"contrast [{a}, {b}] names group(s) {unknown} not in groups "
                        f"{self.groups}"
                    )
        return self

    def resolved_contrasts(self, groups: list[str]) -> list[tuple[str, str]]:
        """The contrasts to test: the configured ones, or every pair in group order."""
        if self.contrasts is not None:
            return [tuple(c) for c in self.contrasts]
        return list(itertools.combinations(groups, 2))


def _format_validation_error(err: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the config key (e.g. `stats.alpha`)."""
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in (prefix, *problem["loc"]) if p != "")
        got = problem.get("input")
        shown = "" if isinstance(got, Mapping) else f" (got {got!r})"
        lines.append(f"{key}: {problem['msg']}{shown}")
    return "invalid statistics config: " + "; ".join(lines)


def load_stats_config(source: str | Path | Mapping[str, Any] | None = None) -> StatsConfig:
    """Build a StatsConfig from a YAML file, a dict, or nothing (all defaults).

    A file or dict that holds the whole pipeline config is accepted: only its `stats:`
    section is read. Otherwise the mapping itself is taken as the stats section.
    Errors are raised as `InputError` naming the offending key.
    """
    if source is None:
        data: Any = {}
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise InputError("statistics config must be a mapping of keys to values")
    prefix = ""
    if "stats" in data:
        data, prefix = data["stats"] or {}, "stats"
        if not isinstance(data, Mapping):
            raise InputError("config key stats: must be a mapping of keys to values")
    try:
        return StatsConfig.model_validate(dict(data))
    except ValidationError as err:
        raise InputError(_format_validation_error(err, prefix)) from None
