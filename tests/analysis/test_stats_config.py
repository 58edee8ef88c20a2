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


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stats: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_stats_config(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_stats_config(tmp_path / "nope.yaml")


def test_config_is_immutable() -> None:
    cfg = StatsConfig()
    with pytest.raises(ValueError):
        cfg.alpha = 0.1  # type: ignore[misc]
