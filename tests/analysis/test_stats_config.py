"""The statistics config: defaults, the `stats:` section, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.config import StatsConfig, load_stats_config
from pipeio import InputError


def test_defaults_are_the_recommended_preset() -> None:
    cfg = load_stats_config(None)
    assert cfg.preset == "recommended" and cfg.overrides() == {}
    assert (cfg.top_k, cfg.alpha, cfg.fdr_family, cfg.plot_p) == (10, 0.05, "all", "adjusted")
    assert (cfg.robust_se, cfg.intensity_test, cfg.permutations) == ("HC3", "permutation", 9999)
    assert cfg.resolved_contrasts(["ASD", "PSY", "TDC"]) == [
        ("ASD", "PSY"), ("ASD", "TDC"), ("PSY", "TDC")]


def test_reads_only_the_stats_section_of_a_pipeline_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("participants: p.tsv\nmodel: {preset: demo}\n"
                    "stats:\n  groups: [TDC, ASD]\n  alpha: 0.01\n  covariates: [age]\n")
    cfg = load_stats_config(path)
    assert cfg.groups == ["TDC", "ASD"] and cfg.alpha == 0.01 and cfg.covariates == ["age"]
    assert cfg.resolved_contrasts(cfg.groups) == [("TDC", "ASD")]


def test_a_file_without_stats_key_is_the_stats_section(tmp_path: Path) -> None:
    path = tmp_path / "stats.yaml"
    path.write_text("actions: [nodding, shaking legs]\nrobust_se: stata\n")
    cfg = load_stats_config(path)
    assert cfg.actions == ["nodding", "shaking legs"] and cfg.robust_se == "stata"


@pytest.mark.parametrize(("data", "key"), [
    ({"stats": {"alpha": 2}}, "stats.alpha"),
    ({"stats": {"fdr_family": "bonferroni"}}, "stats.fdr_family"),
    ({"stats": {"top_k": 0}}, "stats.top_k"),
    ({"stats": {"alpah": 0.05}}, "stats.alpah"),
    ({"groups": ["ASD"]}, "groups"),
    ({"groups": ["ASD", "TDC"], "contrasts": [["ASD", "PSY"]]}, "contrasts: Value error, contrast"),
    ({"contrasts": [["ASD", "PSY"], ["PSY", "ASD"]]}, "contrasts: Value error, contrast"),
    ({"covariates": ["age", "age"]}, "covariates"),
    ({"covariates": ["group"]}, "covariates"),
    ({"plot_parts": ["engagement", "dose"]}, "plot_parts.1"),
    ({"stats": {"intensity_test": "t"}}, "stats.intensity_test"),
    ({"stats": {"permutations": 10}}, "stats.permutations"),
])
def test_errors_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(InputError) as err:
        load_stats_config(data)
    assert key in str(err.value)


@pytest.mark.parametrize("key", ["top_k", "permutation_seed"])
def test_a_yes_for_a_count_is_refused_not_read_as_1(tmp_path: Path, key: str) -> None:
    """YAML's `yes` is True, which pydantic takes for 1: `top_k: yes` analysed one action."""
    path = tmp_path / "config.yaml"
    path.write_text(f"stats:\n  {key}: yes\n")
    with pytest.raises(InputError, match=rf"^invalid statistics config: stats\.{key}: Value "
                       r"error, expected a whole number, not true/false \(got True\)$"):
        load_stats_config(path)


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stats: [unclosed\n")
    with pytest.raises(InputError, match=rf"^config file {bad} is not valid YAML \(line 2, "
                       r"column 1: expected ',' or '\]', but got '<stream end>'\)$") as err:
        load_stats_config(bad)
    assert "\n" not in str(err.value)  # PyYAML's own text spans lines
    # Latin-1 from an editor, and nesting past PyYAML's recursion: tracebacks before
    bad.write_bytes(b"stats:\n  groups: [ASD, PSY, TD\xc9]\n")
    with pytest.raises(InputError, match=rf"^config file {bad}: line 2, column 24: byte 0xc9 "
                       "is not UTF-8 text; save the file as UTF-8$"):
        load_stats_config(bad)
    bad.write_text("stats:\n  groups: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(InputError, match=rf"^config file {bad}: lists or mappings nested too "
                       "deeply to read"):
        load_stats_config(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_stats_config(tmp_path / "nope.yaml")
    bad.write_text("stats:\n  alpha: 0.01\n  covariates: [age]\n  alpha: 0.05\n")
    with pytest.raises(InputError, match=rf"^config file {bad}, line 4: 'alpha' is given twice "
                       r"\(also on line 2\)"):
        load_stats_config(bad)


def test_config_is_immutable() -> None:
    cfg = StatsConfig()
    with pytest.raises(ValueError):
        cfg.alpha = 0.1  # type: ignore[misc]


@pytest.mark.parametrize(("data", "message"), [
    ({"alpha": 0}, "alpha: Input should be greater than 0 (got 0)"),
    ({"alpha": 1}, "alpha: Input should be less than 1 (got 1)"),
    ({"min_participants": 4}, "min_participants: Input should be greater than or equal to 5 "
                              "(got 4)"),
    ({"min_engagers": 2}, "min_engagers: Input should be greater than or equal to 3 (got 2)"),
    ({"permutations": 98}, "permutations: Input should be greater than or equal to 99 "
                           "(got 98)"),
    ({"permutation_seed": -1}, "permutation_seed: Input should be greater than or equal to 0 "
                               "(got -1)"),
    ({"groups": ["ASD", " "]}, "groups: Value error, entries must be non-empty strings "
                               "(got ['ASD', ' '])"),
    ({"actions": ["nodding", "nodding"]}, "actions: Value error, duplicate entries "
                                          "['nodding'] (got ['nodding', 'nodding'])"),
    ({"covariates": ["valid_s"]}, "covariates: Value error, ['valid_s'] cannot be covariates "
                                  "(reserved column names) (got ['valid_s'])"),
    ({"contrasts": [["ASD", "ASD"]]}, "contrasts: Value error, contrast [ASD, ASD] compares "
                                      "a group with itself (got [['ASD', 'ASD']])"),
    # An empty list would analyse no action and still write an (empty) Table V.
    ({"actions": []}, "actions: Value error, an empty list analyses no action; list the "
                      "actions, or give null to analyse the top_k most frequent (got [])"),
    # Groups coded 1, 2 in the sheet are text there; unquoted in YAML they are numbers.
    ({"groups": ["1", 2]}, "groups.1: Input should be a valid string (got 2); YAML reads "
                           "unquoted digits as numbers and yes/no as true/false: quote labels, "
                           "e.g. groups: ['1', '2', '3']"),
    ({"covariates": ["age", True]}, "covariates.1: Input should be a valid string (got True); "
                                    "YAML reads unquoted digits"),
])
def test_each_bound_refuses_the_first_value_past_it(data: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        load_stats_config(data)
    assert str(err.value).startswith(f"invalid statistics config: {message}")
    assert ("YAML reads" in str(err.value)) == ("YAML reads" in message)


def test_each_bound_accepts_its_own_value() -> None:
    cfg = load_stats_config({"alpha": 0.999, "min_participants": 5, "min_engagers": 3,
                             "permutations": 99, "permutation_seed": 0, "top_k": 1})
    assert (cfg.alpha, cfg.min_participants, cfg.min_engagers) == (0.999, 5, 3)
    assert (cfg.permutations, cfg.permutation_seed, cfg.top_k) == (99, 0, 1)


def test_a_null_preset_or_stats_section_is_the_default() -> None:
    """A key set to null is not given (a YAML `preset:` with no value)."""
    assert load_stats_config({"stats": {"preset": None}}) == StatsConfig()
    assert load_stats_config({"stats": None}) == StatsConfig()


def test_every_problem_is_listed_with_its_key_and_value() -> None:
    with pytest.raises(InputError) as err:
        load_stats_config({"stats": {"top_k": 0, "alpha": 2}})
    assert str(err.value) == (
        "invalid statistics config: stats.top_k: Input should be greater than or equal to 1 "
        "(got 0); stats.alpha: Input should be less than 1 (got 2)")


def test_an_empty_file_is_all_defaults_and_a_non_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("")
    assert load_stats_config(path) == StatsConfig()
    path.write_text("- alpha\n")
    with pytest.raises(InputError, match="^statistics config must be a mapping of keys to "
                       "values$"):
        load_stats_config(path)
    path.write_text("stats: [alpha]\n")
    with pytest.raises(InputError, match="^config key stats: must be a mapping of keys to "
                       "values$"):
        load_stats_config(path)
