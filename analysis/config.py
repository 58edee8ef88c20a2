"""The statistics configuration: one typed, validated object for every analysis choice.

The pipeline's `config.yaml` carries it under a `stats:` key. Every choice that changes a
number in Table V lives here, so the methods paragraph (`analysis.methods`) can be generated
from it and a reader can see all of them in one place.

A preset (`recommended`, the default, or `paper`) fills in the analysis choices that differ
between a calibrated analysis and the paper's; any of those keys given explicitly wins over
the preset, and `StatsConfig.overrides()` lists the ones that differ from it, so the methods
paragraph, Table V's caption and the provenance can say what ran.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeio import InputError
from pipeio.yamlfile import load_yaml_file

Part = Literal["engagement", "intensity"]
Preset = Literal["recommended", "paper"]

#: The analysis choices a preset decides (docs/statistics.md, "Presets", gives the reasons
#: and, for `paper`, the sentence of the paper behind each value).
PRESETS: dict[str, dict[str, Any]] = {
    "recommended": {
        "top_k": 10, "fdr_family": "all", "robust_se": "HC3",
        "intensity_test": "permutation", "plot_p": "adjusted",
        "plot_parts": ["engagement", "intensity"],
    },
    "paper": {
        "top_k": 10, "fdr_family": "part", "robust_se": "HC0", "intensity_test": "wald",
        "plot_p": "raw", "plot_parts": ["intensity"],
    },
}

#: Fewest engagers per group for a Wald test of an intensity contrast, whatever
#: min_engagers says: with fewer, the sandwich rests on a handful of residuals and the z can
#: be absurd (with no group difference, 2 + 2 engagers give HC0 p < 0.001 in 14% of
#: comparisons). False positive rate of the HC0 Wald z at alpha 0.05
#: (bench/stats_wald_floor.py: mean intensity 5%, Beta precision 20): 0.31 at 2, 0.17 at 5,
#: 0.12 at 8, 0.11 at 10, 0.07 at 20 engagers per group. A floor against nonsense, not a
#: calibration.
WALD_MIN_ENGAGERS = 10
#: Schema floors of min_participants and min_engagers (docs/statistics.md gives the reasons).
MIN_PARTICIPANTS_FLOOR = 5
MIN_ENGAGERS_FLOOR = 3


class StatsConfig(BaseModel):
    """Settings of the hurdle analysis (paper section IV-E); a preset fills the choices the
    user leaves out (`recommended` by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Preset = Field(
        default="recommended",
        description="Values for top_k, fdr_family, robust_se, intensity_test, plot_p and "
        "plot_parts when they are not given: 'recommended' (calibrated tests; default) or "
        "'paper' (the paper's analysis as far as its text allows). Keys given explicitly "
        "override the preset. See docs/statistics.md.",
    )
    groups: list[str] | None = Field(
        default=None,
        description="Diagnostic groups in display order; labels in the files outside them are "
        "an error. null = the sheet's groups, sorted, with a warning naming each and its n.",
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
        "participants (ties: alphabetical). Ignored when `actions` is given. Preset: 10.",
    )
    actions: list[str] | None = Field(
        default=None, description="Explicit list of actions to analyse (overrides top_k)."
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level.")
    fdr_family: Literal["all", "part"] = Field(
        default="all",
        description="Benjamini-Hochberg family: 'all' = actions x contrasts x parts together "
        "(recommended preset); 'part' = engagement and intensity corrected separately (paper "
        "preset: the only family whose p_adj reproduce the paper's Table V, m = 30 per part).",
    )
    robust_se: Literal["HC0", "HC1", "HC3", "stata"] = Field(
        default="HC3",
        description="Sandwich variant for the intensity part: HC3 (leverage-corrected; "
        "recommended preset), HC0 (Papke-Wooldridge's sandwich; paper preset), "
        "HC1 = HC0*n/(n-p), stata = HC0*n/(n-1) as Stata's fracreg. See docs/statistics.md.",
    )
    intensity_test: Literal["permutation", "wald"] = Field(
        default="permutation",
        description="Test of the intensity contrasts: 'permutation' = robust score statistic "
        "referred to its permutation distribution (keeps the 5% level in small, skewed "
        "groups; recommended preset), 'wald' = Wald z with the robust_se sandwich (paper "
        "preset; needs WALD_MIN_ENGAGERS = 10 engagers per group). Effects and CIs are Wald "
        "either way. See docs/statistics.md.",
    )
    permutations: int = Field(
        default=9999, ge=99,
        description="Label permutations per intensity contrast (intensity_test: permutation); "
        "p = (1 + permuted statistics at least as large) / (1 + permutations whose "
        "statistic is defined); when the two groups have at most this many distinct "
        "labellings, every one is used instead (the exact p); a labelling that makes the "
        "design singular is left out.",
    )
    permutation_seed: int = Field(
        default=0, ge=0,
        description="Seed of the permutation test; each test has its own stream keyed by "
        "action and contrast, so a p-value does not depend on the other actions analysed.",
    )
    min_participants: int = Field(
        default=10, ge=MIN_PARTICIPANTS_FLOOR,
        description="A group with fewer participants is not compared (either part); at "
        f"least {MIN_PARTICIPANTS_FLOOR}.",
    )
    min_engagers: int = Field(
        default=5, ge=MIN_ENGAGERS_FLOOR,
        description="A group with fewer engagers is not compared in the intensity part; at "
        f"least {MIN_ENGAGERS_FLOOR}. With intensity_test wald the floor is "
        f"{WALD_MIN_ENGAGERS} whatever this says.",
    )
    exclude_incomplete: bool = Field(
        default=False,
        description="If true, participants missing from the sheet or the table, or with a "
        "missing covariate, are excluded and logged instead of stopping with an error.",
    )
    plot_p: Literal["adjusted", "raw"] = Field(
        default="adjusted",
        description="Which p-values decide the stars on the plots (recommended preset: "
        "adjusted; paper preset: raw, as the paper's Fig. 3).",
    )
    plot_parts: list[Part] = Field(
        default_factory=lambda: ["engagement", "intensity"],
        description="Which parts' significant contrasts get brackets on the plots "
        "(recommended preset: both; paper preset: intensity, as the paper's Fig. 3).",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        """Fill the preset's values for the keys not given (a key set to null is not given)."""
        if not isinstance(data, Mapping):
            return data
        preset = data.get("preset") or "recommended"
        values = PRESETS.get(preset) if isinstance(preset, str) else None
        if values is None:
            return data  # the `preset` field reports the bad value
        out = dict(data)
        out["preset"] = preset
        for key, value in values.items():
            if out.get(key) is None:
                out[key] = copy.deepcopy(value)
        return out

    @field_validator("top_k", "permutations", "permutation_seed", "min_participants",
                     "min_engagers", mode="before")
    @classmethod
    def _no_truth_values(cls, value: Any) -> Any:
        """YAML reads yes/on/true as True, which pydantic would take as the count 1 (`top_k:
        yes` analysing one action)."""
        if isinstance(value, bool):
            raise ValueError("expected a whole number, not true/false")
        return value

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

    @field_validator("actions")
    @classmethod
    def _some_actions(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:  # would analyse nothing and still "succeed"
            raise ValueError("an empty list analyses no action; list the actions, or give "
                             "null to analyse the top_k most frequent")
        return value

    @field_validator("groups")
    @classmethod
    def _two_groups(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) < 2:
            raise ValueError("at least two groups are needed for a comparison")
        return value

    @field_validator("plot_parts")
    @classmethod
    def _parts_in_model_order(cls, value: list[Part]) -> list[Part]:
        """A set of parts in a fixed order: [intensity, engagement] brackets what the preset's
        [engagement, intensity] does and must not be reported as overriding it."""
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"duplicate entries {dupes}")
        return [p for p in ("engagement", "intensity") if p in value]

    @field_validator("covariates")
    @classmethod
    def _no_reserved(cls, value: list[str]) -> list[str]:
        reserved = {"participant_id", "group", "action", "percent_time", "valid_s"}
        clash = sorted(reserved & set(value))
        if clash:
            raise ValueError(f"{clash} cannot be covariates (reserved column names)")
        return value

    @field_validator("contrasts")
    @classmethod
    def _contrasts_use_known_groups(cls, contrasts: list[tuple[str, str]] | None,
                                    info: ValidationInfo) -> list[tuple[str, str]] | None:
        """A field validator (after `groups`), so an error names the key `contrasts`."""
        groups = info.data.get("groups")
        seen: dict[frozenset[str], tuple[str, str]] = {}
        for a, b in contrasts or []:
            if a == b:
                raise ValueError(f"contrast [{a}, {b}] compares a group with itself")
            pair = frozenset((a, b))
            if pair in seen:  # one test counted twice would widen the FDR family
                raise ValueError(f"contrast [{a}, {b}] repeats {list(seen[pair])}; list each "
                                 "pair of groups once")
            seen[pair] = (a, b)
            if groups is not None:
                unknown = [g for g in (a, b) if g not in groups]
                if unknown:
                    raise ValueError(
                        f"contrast [{a}, {b}] names group(s) {unknown} not in groups "
                        f"{groups}"
                    )
        return contrasts

    def overrides(self) -> dict[str, dict[str, Any]]:
        """Preset keys whose value differs from the preset's: {key: {preset, used}}.

        A value equal to the preset's is not an override, so a config written out in full
        (as the workflow does) reads back with the same overrides.
        """
        out = {}
        for key, value in PRESETS[self.preset].items():
            used = getattr(self, key)
            if used != value:
                out[key] = {"preset": value, "used": used}
        return out

    def as_stats_section(self) -> dict[str, Any]:
        """The settings as a `stats:` section that reads back to this config, with the preset's
        keys that follow the preset left null: changing `preset` in the written file then
        changes them too, as in config.yaml (written in full, each would override the new
        preset)."""
        out = self.model_dump(mode="json")
        overridden = self.overrides()
        for key in PRESETS[self.preset]:
            if key not in overridden:
                out[key] = None
        return out

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
    if any(p["type"] == "string_type" and isinstance(p.get("input"), (bool, int, float))
           for p in err.errors()):  # a group coded 1, 2, 3 in the sheet, unquoted in YAML
        lines.append("YAML reads unquoted digits as numbers and yes/no as true/false: quote "
                     "labels, e.g. groups: ['1', '2', '3']")
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
        data = load_yaml_file(path, "config file") or {}
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
