"""Analysis presets: `recommended` (default) and `paper`; explicit keys win and are recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.__main__ import main
from analysis.config import PRESETS, StatsConfig, load_stats_config
from analysis.tables import latex_escape, table_v_caption
from pipeio import InputError


def test_paper_preset_values() -> None:
    cfg = load_stats_config({"stats": {"preset": "paper"}})
    assert (cfg.intensity_test, cfg.robust_se, cfg.fdr_family) == ("wald", "HC0", "part")
    assert (cfg.top_k, cfg.plot_p, cfg.plot_parts) == (10, "raw", ["intensity"])
    assert cfg.overrides() == {}


def test_every_preset_sets_the_same_keys_and_each_is_a_field() -> None:
    keys = {frozenset(values) for values in PRESETS.values()}
    assert len(keys) == 1 and set(next(iter(keys))) <= set(StatsConfig.model_fields)


def test_explicit_keys_override_the_preset_and_are_listed() -> None:
    cfg = load_stats_config({"stats": {"preset": "paper", "fdr_family": "all",
                                       "robust_se": "HC0", "plot_parts": None}})
    assert cfg.fdr_family == "all" and cfg.intensity_test == "wald"
    assert cfg.plot_parts == ["intensity"]  # null: the preset's value
    # robust_se given but equal to the preset's value: not an override
    assert cfg.overrides() == {"fdr_family": {"preset": "part", "used": "all"}}


def test_plot_parts_in_another_order_is_no_override() -> None:
    """The parts are a set: the preset's parts listed the other way round bracket the same
    tests, and a caption saying 'overridden: plot_parts' would report a change that is not."""
    cfg = load_stats_config({"stats": {"plot_parts": ["intensity", "engagement"]}})
    assert cfg.plot_parts == ["engagement", "intensity"] and cfg.overrides() == {}
    assert "overridden" not in table_v_caption(cfg)
    with pytest.raises(InputError, match=r"^invalid statistics config: stats\.plot_parts: "
                       r"Value error, duplicate entries \['intensity'\]"):
        load_stats_config({"stats": {"preset": "paper", "plot_parts": ["intensity"] * 2}})


def test_a_config_written_out_in_full_reads_back_with_the_same_overrides() -> None:
    cfg = StatsConfig(preset="paper", intensity_test="permutation")
    again = load_stats_config({"stats": cfg.model_dump(mode="json")})
    assert again == cfg and again.overrides() == cfg.overrides()


def test_a_written_stats_section_follows_a_changed_preset() -> None:
    """The workflow writes the run's settings (stats/stats_config.yaml) for reruns by hand: a
    statistician who changes `preset` there gets that preset, not the old preset's values
    as overrides; the keys set explicitly stay."""
    cfg = load_stats_config({"stats": {"robust_se": "HC1", "fdr_family": "all"}})
    section = cfg.as_stats_section()
    assert load_stats_config({"stats": section}) == cfg
    assert {k for k in PRESETS["recommended"] if section[k] is not None} == {"robust_se"}
    paper = load_stats_config({"stats": {**section, "preset": "paper"}})
    assert paper.overrides() == {"robust_se": {"preset": "HC0", "used": "HC1"}}
    assert paper.intensity_test == "wald" and paper.fdr_family == "part"


def test_unknown_preset_names_the_key() -> None:
    with pytest.raises(InputError, match=r"stats\.preset: .*'recommended' or 'paper'.*papr"):
        load_stats_config({"stats": {"preset": "papr"}})


def test_caption_and_methods_say_which_preset_ran(cohort, write_cohort, tmp_path: Path) -> None:
    table, sheet = cohort(n_actions=2, seed=3)
    tpath, spath = write_cohort(table, sheet)
    config = tmp_path / "config.yaml"
    config.write_text("stats:\n  preset: paper\n  fdr_family: all\n")
    out = tmp_path / "stats"
    assert main(["stats", "--percent-time", str(tpath), "--participants", str(spath),
                 "--config", str(config), "--out", str(out)]) == 0
    expected = "analysis preset 'paper', overridden: fdr_family all instead of part"
    assert expected in (out / "table_v.md").read_text()
    assert latex_escape(expected) in (out / "table_v.tex").read_text()
    methods = (out / "methods.md").read_text()
    assert "fewer than 10 engagers" in methods  # the Wald floor
    assert methods.endswith(
        "preset 'paper' (a reconstruction of the Micro-DualNet paper's analysis; the paper does "
        "not name the intensity test, the sandwich estimator or the multiple-comparison "
        "procedure, so the Wald test, HC0 and Benjamini-Hochberg per part are this pipeline's "
        "reading of it), overridden: fdr_family all instead of part.\n")
    # The paragraph must not claim the paper specifies the choices it had to infer.
    assert "specifies" not in methods
    prov = json.loads((out / "provenance.json").read_text())["params"]
    assert prov["preset"] == "paper"
    assert prov["overrides"] == {"fdr_family": {"preset": "part", "used": "all"}}
    assert "analysis preset 'recommended'." in table_v_caption(StatsConfig())
