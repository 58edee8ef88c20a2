"""The workflow's settings are written in several places that must not drift apart: the
shipped `config.yaml` (what a user sees), the schema (what is checked, and the defaults of
the keys a config leaves out), the typed classes and commands the jobs run, and the docs.

Fast: no Snakemake run, no torch; files are read and classes asked for their defaults.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any, get_args, get_type_hints

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from analysis.aggregate import BASELINES, CREDITS, Decision, add_decision_args, decision_from
from analysis.agreement.stage import _coders
from analysis.config import PRESETS, StatsConfig, load_stats_config
from analysis.inputs import coder_name_problem
from microdualnet.cli import build_parser
from microdualnet.synthetic import GROUPS
from microdualnet.synthetic.cohort import CohortConfig
from microdualnet.synthetic.options import ClipSetOptions
from microdualnet.training.config import ModelSection
from pipeio import InputError
from pipeio.schemacheck import check_schema, load_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "workflow/schemas/config.schema.yaml")
CONFIG_TEXT = (ROOT / "config.yaml").read_text(encoding="utf-8")
CONFIG = yaml.safe_load(CONFIG_TEXT)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Keys whose shipped value is not the schema's default on purpose (the reason).
SHIPPED_NOT_DEFAULT = {
    "inference.threads": "config.yaml runs the demo's small videos (two one-core jobs at once "
                         "on 2 cores); a study's HD videos want a loader process "
                         "(docs/workflow.md says both)",
}
# stats keys whose shipped value is not StatsConfig's default on purpose (the reason).
STATS_SHIPPED_NOT_DEFAULT = {
    "groups": "the demo cohort's groups, checked strictly; unset, `analysis stats` takes a "
              "new data set's groups with a warning (docs/statistics.md)",
    "exclude_incomplete": "the shipped config excludes a participant whose video cannot be "
                          "read (on_participant_error auto; docs/workflow.md 'as shipped')",
}
# `section.key` spans in the docs that name no workflow setting on purpose (the reason).
DOC_NAMES_NOT_SETTINGS = {
    "model.entities": "the module microdualnet/model/entities.py (docs/model.md)",
}
# `section.key: value` spans in the docs whose value is no setting's value (the reason).
DOC_VALUES_NOT_SETTINGS = {
    "model.gpus: N": "N stands for a number of GPUs",
    "stats.min_engagers: Input should be greater than or equal to 3 (got 2)":
        "quotes the error a value below the floor gives",
}
FILE_NAME = re.compile(r"\.(json|safetensors|tsv|md|yaml|parquet|npz|png|pdf)$")


def _leaves(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Dotted key -> schema of every setting: the properties of objects the schema lists
    key by key (`stats` and `agreement.coders` are settings themselves)."""
    out = {}
    for key, sub in schema.get("properties", {}).items():
        if "properties" in sub:
            out.update(_leaves(sub, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = sub
    return out


def _config_keys(config: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted keys of `config`, going into the sections the schema lists key by key."""
    out = set()
    for key, value in config.items():
        sub = schema.get("properties", {}).get(key, {})
        if "properties" in sub and isinstance(value, dict):
            out |= _config_keys(value, sub, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out


SETTINGS = _leaves(SCHEMA)


def _shipped(key: str) -> Any:
    node: Any = CONFIG
    for part in key.split("."):
        node = node[part]
    return node


def _stats_comments() -> dict[str, Any]:
    """The stats keys config.yaml shows commented out (`  # key: value  # note`): key ->
    the value written there."""
    section = CONFIG_TEXT[CONFIG_TEXT.index("\nstats:"):]
    out = {}
    for match in re.finditer(r"^  # ([a-z_]+): (.+?)(?:\s+#.*)?$", section, re.MULTILINE):
        out[match[1]] = yaml.safe_load(match[2])
    return out


def test_every_setting_in_the_schema_is_in_config_yaml_and_back():
    shipped = _config_keys(CONFIG, SCHEMA)
    assert sorted(set(SETTINGS) - shipped) == [], "in the schema, missing from config.yaml"
    assert sorted(shipped - set(SETTINGS)) == [], "in config.yaml, not in the schema"


def test_config_yaml_passes_the_schema_and_the_stats_check():
    check_schema(CONFIG, SCHEMA, "config.yaml")
    jsonschema.validators.validator_for(SCHEMA).check_schema(SCHEMA)
    load_stats_config(CONFIG)


@pytest.mark.parametrize("key", sorted(k for k, s in SETTINGS.items()
                                        if "default" in s and k != "stats"))
def test_each_schema_default_is_the_shipped_value(key):
    """A key left out of a config gets the schema's default: the value config.yaml shows.
    (The stats keys' defaults are StatsConfig's, below.)"""
    if key in SHIPPED_NOT_DEFAULT:
        assert _shipped(key) != SETTINGS[key]["default"], "no longer differs: drop the entry"
    else:
        assert _shipped(key) == SETTINGS[key]["default"]


def test_every_setting_has_a_default_and_a_description():
    bare = [k for k, s in SETTINGS.items()
            if "default" not in s or not s.get("description")]
    assert bare == []


def test_config_yaml_shows_every_stats_key_given_or_commented_with_the_presets_value():
    """config.yaml's stats section: the keys a preset decides commented out with the default
    preset's value, every other StatsConfig key given (its value the class's default unless
    listed above with the reason)."""
    given, commented = CONFIG["stats"], _stats_comments()
    preset_keys = set(PRESETS["recommended"])
    assert set(commented) == preset_keys
    assert set(given) == set(StatsConfig.model_fields) - preset_keys
    assert commented == PRESETS[given["preset"]]
    defaults = StatsConfig().model_dump()
    differ = {k for k, v in given.items() if defaults[k] != v}
    assert differ == set(STATS_SHIPPED_NOT_DEFAULT)


def test_the_schema_and_docs_statistics_list_every_stats_key_with_its_default():
    fields = list(StatsConfig.model_fields)
    described = re.findall(r"[a-z_]+", SCHEMA["properties"]["stats"]["description"]
                           .split("(", 1)[1].split(")", 1)[0])
    assert described == fields
    text = (ROOT / "docs/statistics.md").read_text(encoding="utf-8")
    table = text[text.index("| key | default | meaning |"):]
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", table, re.MULTILINE)
    assert [key for key, _ in rows[:len(fields)]] == fields
    defaults = StatsConfig().model_dump()
    for key, cell in rows[:len(fields)]:
        if key in PRESETS["recommended"]:
            assert cell.startswith("*preset*"), key
        else:
            assert yaml.safe_load(cell.split("`")[1]) == defaults[key], key


def _parse_defaults(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_the_typed_classes_and_commands_default_to_the_schemas_defaults():
    """What a job or a user running the command by hand gets when it says nothing is what a
    config that leaves the key out gets."""
    default = {k: s["default"] for k, s in SETTINGS.items() if "default" in s}
    decision = Decision()
    parser = argparse.ArgumentParser()
    add_decision_args(parser)
    assert decision_from(parser.parse_args([])) == decision
    assert (decision.mode, decision.threshold, decision.baseline, decision.credit) == tuple(
        default[f"inference.{k}"] for k in ("decision", "threshold", "baseline", "credit"))
    infer = _parse_defaults(["infer", "--model", "m", "--video", "v", "--pose", "p",
                             "--out", "o"])
    for key in ("window_s", "hop_s", "batch_size", "device", "max_repeated_frames"):
        assert getattr(infer, key) == default[f"inference.{key}"], key
    pose = _parse_defaults(["pose", "--backend", "openpose", "--video", "v", "--out", "o"])
    assert (pose.window_s, pose.hop_s) == (infer.window_s, infer.hop_s)
    assert pose.min_upright_fraction == default["pose.min_upright_fraction"]
    cohort = CohortConfig()
    assert cohort.groups == dict.fromkeys(GROUPS, default["demo.per_group"])
    for key in ("seconds", "fps", "width", "height", "seed"):
        assert getattr(cohort, key) == default[f"demo.{key}"], key
    clips = ClipSetOptions()
    assert clips.train_per_class == default["model.clips_per_class"]
    assert clips.background_factor == default["model.background_factor"]


def test_the_schemas_choices_are_the_commands_choices():
    def choices(argv: list[str], dest: str) -> set[str]:
        sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
        action = next(a for a in sub.choices[argv[0]]._actions if a.dest == dest)
        return set(action.choices)

    enum = {k: set(s["enum"]) for k, s in SETTINGS.items() if "enum" in s}
    assert enum["inference.decision"] == set(get_args(get_type_hints(Decision)["mode"]))
    assert enum["inference.baseline"] == set(BASELINES)
    assert enum["inference.credit"] == set(CREDITS)
    assert enum["inference.device"] == choices(["infer"], "device")
    assert enum["pose.backend"] == choices(["pose"], "backend")
    assert enum["on_participant_error"] - {"auto"} == choices(["pose"], "on_error") \
        == choices(["infer"], "on_error")


def _schema_takes(key: str, value: Any) -> bool:
    """Whether the schema takes config.yaml with setting `key` (dotted) set to `value`."""
    section, _, name = key.rpartition(".")
    config = {**CONFIG, section: {**CONFIG[section], name: value}} if section else \
        {**CONFIG, name: value}
    return _takes(check_schema, config, SCHEMA, "config")


def _takes(check: Any, *args: Any) -> bool:
    """Whether `check(*args)` accepts them (raises none of the ways a bad value is refused)."""
    try:
        check(*args)
    except (InputError, ValidationError, ValueError):
        return False
    return True


PROBES = [-1, 0, 1e-9, 0.05, 0.5, 1, 1.5, 2, 3, 20, 21, 99, 100, 10_000, True, math.inf]
CHECKED_BY_THE_JOB = {
    "inference.threshold": lambda v: Decision(threshold=v),
    "model.background_factor": lambda v: ClipSetOptions(background_factor=v),
    "model.clips_per_class": lambda v: ClipSetOptions(train_per_class=v, val_per_class=-(-v // 5),
                                                      test_per_class=-(-v // 5)),
}


@pytest.mark.parametrize("key", sorted(CHECKED_BY_THE_JOB))
def test_a_value_the_schema_takes_is_one_the_job_takes(key):
    """Else the run starts and the job fails, after hours of the jobs before it."""
    for value in PROBES:
        if _schema_takes(key, value):
            assert _takes(CHECKED_BY_THE_JOB[key], value), (key, value)


@pytest.mark.parametrize("devices", [[-1], [""], ["0,1"], [0, 0], [True], [0, " 0"]])
def test_a_gpu_pool_pipeio_gpu_would_misread_is_refused_up_front(devices):
    """`[-1]` would hide every GPU (jobs on the CPU without a word); an empty or comma-holding
    entry fails every GPU job or is read as two devices; a device twice (` 0` is 0) doubles its
    share."""
    assert not _schema_takes("gpu.devices", devices)
    assert _schema_takes("gpu.devices", [0, "GPU-5f3c"])


@pytest.mark.parametrize("key", sorted(k for k, s in SETTINGS.items()
                                        if s.get("type") == "string" and "enum" not in s))
def test_an_empty_path_is_refused_up_front(key):
    """Every such setting is a path the rules write `f"{path}/..."` with: an empty one would
    put the run's files under `/`."""
    assert not _schema_takes(key, "")


@pytest.mark.parametrize("name", ["model", "a=b", " "])
def test_a_coder_name_the_agreement_command_refuses_is_refused_by_name(name):
    assert coder_name_problem(name)
    assert coder_name_problem("anna") is None


@pytest.mark.parametrize("name", ["anna", "Model", "model_2"])
def test_a_coder_name_the_agreement_command_takes_is_taken(name):
    """The command compares names as written: `Model` is a coder, not the model."""
    assert _coders([f"{name}=x.tsv"]) == {name: [Path("x.tsv")]}
    assert coder_name_problem(name) is None


def _doc_spans() -> list[tuple[str, int, str]]:
    """(file, line, text) of every backticked span that starts with a top-level setting."""
    tops = "|".join(SCHEMA["properties"])
    pattern = re.compile(rf"`((?:{tops})(?:\.[A-Za-z_]\w*)*(?::[^`]*)?)`")
    out = []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            out += [(path.name, number, m[1]) for m in pattern.finditer(line)]
    return out


def _doc_key(span: str) -> tuple[str, str | None]:
    """The key and the value written after it (None: none, as in a section's `stats:`)."""
    key, _, value = span.partition(":")
    return key, (value.strip() or None)


def test_every_setting_the_docs_name_exists():
    """`section.key` in the docs: a setting of the schema, a stats key, or (docs on training)
    a key of the training config's model section; file names and the allowlist aside."""
    train_model = {f"model.{k}" for k in ModelSection.model_fields}
    stats = {f"stats.{k}" for k in StatsConfig.model_fields}
    unknown = []
    for name, number, span in _doc_spans():
        key, _ = _doc_key(span)
        if "." not in key or FILE_NAME.search(key) or key in DOC_NAMES_NOT_SETTINGS:
            continue
        if key not in SETTINGS and key not in stats and key not in train_model:
            unknown.append(f"{name}:{number}: {span}")
    assert unknown == []


def test_every_setting_value_the_docs_write_is_valid():
    """`section.key: value` (or `key: value` of a top-level setting) in the docs passes the
    schema, or StatsConfig for a stats key."""
    bad = []
    for name, number, span in _doc_spans():
        key, value = _doc_key(span)
        if value is None or span in DOC_VALUES_NOT_SETTINGS or key not in SETTINGS and \
                not key.startswith("stats."):
            continue
        parsed = yaml.safe_load(value)
        if key.startswith("stats."):
            ok = _takes(load_stats_config, {key.split(".", 1)[1]: parsed})
        else:
            ok = _schema_takes(key, parsed)
        if not ok:
            bad.append(f"{name}:{number}: {span}")
    assert bad == []


def test_every_default_the_docs_state_is_the_schemas():
    """`section.key` ... (default X, or `section.key` (X) for a number: the docs' ways of
    giving a default next to the key."""
    pattern = re.compile(r"`([a-z_]+\.[a-z_]+)`"
                         r"(?:[^`.;]{0,30}?[(,] ?default ([^;,)\s]+)| \((\d[\d.]*)\))")
    stats = StatsConfig().model_dump()
    stated, wrong = 0, []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for key, after_default, in_brackets in pattern.findall(line):
                section, _, name = key.partition(".")
                if key in SETTINGS and "default" in SETTINGS[key]:
                    expected = SETTINGS[key]["default"]
                elif section == "stats" and name in stats:
                    expected = stats[name]
                else:
                    continue
                stated += 1
                value = after_default or in_brackets
                if yaml.safe_load(value.strip("`")) != expected:
                    wrong.append(f"{path.name}:{number}: {key} default {value}")
    assert wrong == []
    assert stated >= 5  # the pattern still finds the docs' defaults
