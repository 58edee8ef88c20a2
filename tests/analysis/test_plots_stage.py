"""The `stats` and `plots` stages' input guards, and which p-values the plots draw."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

import analysis.plots_stage as plots_stage
from analysis.__main__ import main
from analysis.config import load_stats_config
from analysis.hurdle import RESULT_COLUMNS
from analysis.plots_stage import run_plots
from analysis.stats_stage import run_stats
from pipeio import InputError, write_provenance

GROUPS = {"groups": ["ASD", "PSY", "TDC"]}


def hurdle_file(path: Path, actions: list[str], p: float = 0.01, p_adj: float = 0.2) -> Path:
    """One estimable intensity contrast ASD vs TDC per action, with the given p-values."""
    rows = [{**dict.fromkeys(RESULT_COLUMNS, 1.0), "action": a, "part": "intensity",
             "type": "%", "contrast": "ASD vs TDC", "group_a": "ASD", "group_b": "TDC",
             "se_type": "HC3", "test": "wald", "p": p, "p_adj": p_adj, "estimable": True,
             "reason": ""} for a in actions]
    pd.DataFrame(rows, columns=RESULT_COLUMNS).to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def small(cohort, write_cohort):
    table, sheet = cohort({"ASD": 6, "PSY": 5, "TDC": 6}, n_actions=2, seed=3)
    tpath, spath = write_cohort(table, sheet)
    return table, sheet, tpath, spath


def test_brackets_use_the_configured_p_column(small, tmp_path, monkeypatch):
    """p = .01 < alpha = .05 < p_adj = .2: a bracket with raw p-values, none with adjusted."""
    _, _, tpath, _ = small
    hurdle = hurdle_file(tmp_path / "hurdle.tsv", ["action 0"])
    drawn = []
    monkeypatch.setattr(plots_stage, "single_figure",
                        lambda table, action, groups, brackets: drawn.append(brackets)
                        or plt.figure())
    monkeypatch.setattr(plots_stage, "overview_figure", lambda *a: plt.figure())
    for plot_p in ("raw", "adjusted"):
        cfg = load_stats_config({**GROUPS, "plot_p": plot_p, "plot_parts": ["intensity"],
                                 "alpha": 0.05})
        run_plots(cfg, tpath, hurdle, tmp_path / plot_p)
    raw, adjusted = drawn
    assert [(b.group_a, b.group_b, b.label) for b in raw] == [("ASD", "TDC", "* %")]
    assert adjusted == []


def test_plots_refuse_an_action_absent_from_the_table(small, tmp_path):
    _, _, tpath, _ = small
    hurdle = hurdle_file(tmp_path / "hurdle.tsv", ["action 0", "waving"])
    with pytest.raises(InputError, match=r"hurdle results name action\(s\) \['waving'\] "
                       r"absent from .*percent_time\.tsv"):
        run_plots(load_stats_config(GROUPS), tpath, hurdle, tmp_path / "figs")
    assert not (tmp_path / "figs").exists()


def test_plots_refuse_actions_whose_file_names_clash(small, tmp_path):
    table, _, _, _ = small
    table = table.replace({"action": {"action 1": "Action_0"}})
    tpath = tmp_path / "pt.tsv"
    table.to_csv(tpath, sep="\t", index=False)
    hurdle = hurdle_file(tmp_path / "hurdle.tsv", ["action 0", "Action_0"])
    with pytest.raises(InputError, match=r"actions \['action 0', 'Action_0'\] give clashing "
                       r"file names \['action_0', 'action_0'\]"):
        run_plots(load_stats_config(GROUPS), tpath, hurdle, tmp_path / "figs")
    assert not (tmp_path / "figs").exists()


def test_plots_refuse_hurdle_results_without_their_columns(small, tmp_path):
    _, _, tpath, _ = small
    hurdle = tmp_path / "hurdle.tsv"
    hurdle.write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match=r"hurdle results .*hurdle\.tsv lacks column\(s\) "
                       r"\['action', 'part',"):
        run_plots(load_stats_config(GROUPS), tpath, hurdle, tmp_path / "figs")


def test_an_empty_hurdle_file_is_one_line_naming_it(small, tmp_path, capsys):
    _, _, tpath, _ = small
    hurdle = tmp_path / "hurdle.tsv"
    hurdle.write_text("")
    with pytest.raises(SystemExit) as stop:
        main(["plots", "--percent-time", str(tpath), "--hurdle", str(hurdle), "--out",
              str(tmp_path / "figs")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert err == f"error: hurdle results {hurdle} is empty\n"


def test_exclusions_leaving_nobody_say_so(small, tmp_path, caplog):
    table, _, tpath, _ = small
    hurdle = hurdle_file(tmp_path / "hurdle.tsv", ["action 0"])
    exclusions = tmp_path / "exclusions.tsv"
    pd.DataFrame({"participant_id": table["participant_id"].unique(), "reason": "x"}).to_csv(
        exclusions, sep="\t", index=False)
    with caplog.at_level(logging.WARNING), pytest.raises(
            InputError, match=rf"no participant of {tpath} is left after the exclusions in "
            rf"{exclusions}: nothing to plot"):
        run_plots(load_stats_config(), tpath, hurdle, tmp_path / "figs", exclusions)
    assert "groups are those found" not in caplog.text  # no warning with an empty list


def test_stats_refuses_a_contrast_naming_an_unknown_group(small, tmp_path):
    _, _, tpath, spath = small
    cfg = load_stats_config({"stats": {"contrasts": [["ASD", "AUT"]]}})
    with pytest.raises(InputError, match=r"stats\.contrasts: \[ASD, AUT\] names unknown "
                       r"group\(s\) \['AUT'\]; groups are \['ASD', 'PSY', 'TDC'\]"):
        run_stats(cfg, tpath, spath, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_stats_refuses_when_no_participant_is_left(small, write_cohort, tmp_path):
    table, sheet, _, _ = small
    tpath, spath = write_cohort(table.drop(columns=["age"]), sheet.assign(age=float("nan")))
    cfg = load_stats_config({**GROUPS, "covariates": ["age"], "exclude_incomplete": True})
    with pytest.raises(InputError, match="^no participants left to analyse after checks and "
                       "exclusions$"):
        run_stats(cfg, tpath, spath, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_plots_refuse_another_alpha_or_fdr_family_than_the_stats_run(small, tmp_path,
                                                                      monkeypatch):
    """Brackets at another alpha than Table V's, or a caption naming another FDR family than
    p_adj's, would mislead: the stats run's settings are read from its provenance record."""
    _, _, tpath, spath = small
    paper = load_stats_config({**GROUPS, "preset": "paper", "alpha": 0.01})
    made = run_stats(paper, tpath, spath, tmp_path / "stats")
    monkeypatch.setattr(plots_stage, "_save", lambda fig, stem: plt.close(fig) or [])
    hurdle = made.out_dir / "hurdle.tsv"
    with pytest.raises(InputError, match=r"were made with stats\.alpha 0\.01, stats\.fdr_family "
                                         r"'part' .*this config gives 0\.05, 'all': give plots "
                                         r"the --config given to stats"):
        run_plots(load_stats_config(GROUPS), tpath, hurdle, tmp_path / "figs")
    with pytest.raises(InputError, match=r"stats\.fdr_family 'part'.*gives 'all'"):
        run_plots(load_stats_config({**GROUPS, "alpha": 0.01}), tpath, hurdle, tmp_path / "f")
    # The same settings plot (plot-only keys may differ); no record: nothing to compare.
    run_plots(load_stats_config({**GROUPS, "preset": "paper", "alpha": 0.01,
                                 "plot_p": "adjusted"}), tpath, hurdle, tmp_path / "same")
    (made.out_dir / "provenance.json").unlink()
    run_plots(load_stats_config(GROUPS), tpath, hurdle, tmp_path / "none")


def test_a_setting_the_stats_record_lacks_is_not_compared(tmp_path):
    """A record that names alpha only (no fdr_family) is compared on alpha alone."""
    write_provenance(tmp_path / "provenance.json", "analysis stats",
                     params={"stats": {"alpha": 0.05}})
    hurdle = tmp_path / "hurdle.tsv"
    plots_stage.check_stats_settings(load_stats_config({"fdr_family": "part"}), hurdle)
    with pytest.raises(InputError, match=r"were made with stats\.alpha 0\.05 \(provenance"
                       r"\.json beside them\), this config gives 0\.01: give plots"):
        plots_stage.check_stats_settings(load_stats_config({"alpha": 0.01}), hurdle)


def test_plots_keep_hurdle_order_and_record_the_actions(small, tmp_path, monkeypatch):
    """Panels follow hurdle.tsv's action order (Table V's), the provenance lists them, and the
    caption names the p-values the brackets used."""
    _, _, tpath, _ = small
    hurdle = hurdle_file(tmp_path / "hurdle.tsv", ["action 1", "action 0"])
    monkeypatch.setattr(plots_stage, "_save", lambda fig, stem: plt.close(fig) or [stem])
    out = tmp_path / "figs"
    written = run_plots(load_stats_config({**GROUPS, "plot_p": "raw"}), tpath, hurdle, out)
    assert "hurdle models with unadjusted p-values below 0.05:" in (out / "caption.md").read_text()
    assert written == [out / "violin_action_1", out / "violin_action_0", out / "overview",
                       out / "caption.md"]
    params = json.loads((out / "provenance.json").read_text())["params"]
    assert params["actions"] == ["action 1", "action 0"]


def test_hurdle_results_without_rows_give_a_caption_and_no_figure(small, tmp_path):
    _, _, tpath, _ = small
    hurdle = hurdle_file(tmp_path / "hurdle.tsv", [])
    out = tmp_path / "figs"
    assert run_plots(load_stats_config(GROUPS), tpath, hurdle, out) == [out / "caption.md"]
    params = json.loads((out / "provenance.json").read_text())["params"]
    assert params["actions"] == []


def test_plots_refuse_a_group_outside_the_configured_ones(small, tmp_path):
    _, _, tpath, _ = small
    hurdle = hurdle_file(tmp_path / "hurdle.tsv", ["action 0"])
    with pytest.raises(InputError, match=r"percent-time table .*percent_time\.tsv: column "
                       r"group has value\(s\) \['PSY'\] not in stats\.groups \['ASD', 'TDC'\]"):
        run_plots(load_stats_config({"groups": ["ASD", "TDC"]}), tpath, hurdle,
                  tmp_path / "figs")
    assert not (tmp_path / "figs").exists()


def test_missing_hurdle_results_say_which_stage_makes_them(small, tmp_path):
    _, _, tpath, _ = small
    with pytest.raises(InputError, match=r"hurdle results .*hurdle\.tsv do not exist; run "
                       r"`analysis stats` first"):
        run_plots(load_stats_config(GROUPS), tpath, tmp_path / "hurdle.tsv", tmp_path / "f")
