"""The `python -m analysis stats|plots` commands end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.__main__ import main

OUTPUTS = ["hurdle.tsv", "table_v.tsv", "table_v.md", "table_v.tex", "methods.md",
           "exclusions.tsv", "participants_used.tsv", "provenance.json"]


def plant_effect(table: pd.DataFrame) -> pd.DataFrame:
    """PSY spends four times as long on action 0 when engaged: a strong intensity effect."""
    mask = (table["group"] == "PSY") & (table["action"] == "action 0")
    table = table.copy()
    table.loc[mask, "percent_time"] = (table.loc[mask, "percent_time"] * 4).clip(upper=100)
    return table


def test_stats_then_plots(cohort, write_cohort, tmp_path: Path, monkeypatch) -> None:
    table, sheet = cohort(n_actions=3, seed=1)
    tpath, spath = write_cohort(plant_effect(table), sheet)
    config = tmp_path / "config.yaml"
    config.write_text("stats:\n  covariates: [age, sex]\n  top_k: 2\n")
    out = tmp_path / "stats"
    assert main(["stats", "--percent-time", str(tpath), "--participants", str(spath),
                 "--config", str(config), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no temp files left

    hurdle = pd.read_csv(out / "hurdle.tsv", sep="\t")
    assert len(hurdle) == 2 * 2 * 3  # actions x parts x contrasts
    assert hurdle["action"].iloc[0] == "action 0"  # highest mean percent time after planting
    tv = pd.read_csv(out / "table_v.tsv", sep="\t")
    hit = tv[(tv["Action"] == "action 0") & (tv["Type"] == "%")]
    assert set(hit["Contrast"]) >= {"ASD < PSY", "PSY > TDC"}
    assert "adjusted for age and sex" in (out / "methods.md").read_text()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["step"] == "analysis stats" and prov["params"]["stats"]["top_k"] == 2
    assert prov["sheet_used"] == {"file": "participants_used.tsv",
                                  "columns": ["participant_id", "group", "age", "sex"]}

    figs = tmp_path / "figures"
    for when, folder in (("0", figs), ("86400", tmp_path / "again")):  # a day apart
        monkeypatch.setenv("SOURCE_DATE_EPOCH", when)  # matplotlib's clock for PDF dates
        assert main(["plots", "--percent-time", str(tpath), "--hurdle",
                     str(out / "hurdle.tsv"), "--config", str(config), "--out",
                     str(folder)]) == 0
    for name in ("overview.pdf", "overview.png", "violin_action_0.pdf"):
        assert (figs / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    names = {p.name for p in figs.iterdir()}
    for stem in ("violin_action_0", "violin_action_1", "overview"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert (figs / "violin_action_0.png").read_bytes()[:4] == b"\x89PNG"
    assert "adjusted" in (figs / "caption.md").read_text()


def _stats_cli(percent_time: Path, participants: Path, out: Path) -> subprocess.CompletedProcess:
    """`python -m analysis stats` as a user runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "analysis", "stats", "--percent-time", str(percent_time),
         "--participants", str(participants), "--out", str(out)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )


def test_bad_input_exits_2_with_one_line(cohort, write_cohort, tmp_path: Path) -> None:
    table, sheet = cohort(n_actions=1)
    table.loc[5, "percent_time"] = 140.0
    tpath, spath = write_cohort(table, sheet)
    proc = _stats_cli(tpath, spath, tmp_path / "o")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: ") and "percent_time" in proc.stderr
    assert "line 7" in proc.stderr
    assert not (tmp_path / "o").exists()
    (tmp_path / "o").write_text("")  # --out naming a file, not a folder
    table.loc[5, "percent_time"] = 14.0
    tpath, spath = write_cohort(table, sheet)
    proc = _stats_cli(tpath, spath, tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --out ")
    assert "is a file" in proc.stderr


def test_bad_config_key_exits_2(cohort, write_cohort, tmp_path: Path, capsys) -> None:
    tpath, spath = write_cohort(*cohort(n_actions=1))
    config = tmp_path / "c.yaml"
    config.write_text("stats:\n  min_engagers: 1\n")
    with pytest.raises(SystemExit) as exc:
        main(["stats", "--percent-time", str(tpath), "--participants", str(spath),
              "--config", str(config), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "stats.min_engagers" in capsys.readouterr().err


def test_analysis_never_imports_torch_or_the_model_package() -> None:
    code = ("import sys, analysis.__main__, analysis.stats_stage, analysis.plots_stage; "
            "print(sorted(m for m in ('torch', 'microdualnet') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout.strip() == "[]"


def test_methods_count_each_excluded_participant_once(cohort, write_cohort, tmp_path: Path):
    """One participant missing from the table and without an age: two reasons, one child."""
    table, sheet = cohort(n_actions=1)
    pid = sheet.loc[0, "participant_id"]
    sheet.loc[0, "age"] = float("nan")
    tpath, spath = write_cohort(table[table["participant_id"] != pid].drop(columns=["age"]),
                                sheet)
    config = tmp_path / "stats.yaml"
    config.write_text("covariates: [age]\nexclude_incomplete: true\npermutations: 199\n")
    assert main(["stats", "--percent-time", str(tpath), "--participants", str(spath),
                 "--config", str(config), "--out", str(tmp_path / "o")]) == 0
    excluded = pd.read_csv(tmp_path / "o" / "exclusions.tsv", sep="\t")
    assert excluded["participant_id"].tolist() == [pid, pid]
    assert "1 participant(s) were excluded" in (tmp_path / "o" / "methods.md").read_text()


def test_plots_draw_only_the_participants_the_models_were_fitted_on(
        cohort, write_cohort, tmp_path: Path, monkeypatch) -> None:
    """A child the stats stage excluded (no age) is not a dot in the violins either."""
    import analysis.plots_stage as plots_stage

    table, sheet = cohort(n_actions=1)
    pid = sheet.loc[0, "participant_id"]
    sheet.loc[0, "age"] = float("nan")
    tpath, spath = write_cohort(table.drop(columns=["age"]), sheet)
    config = tmp_path / "stats.yaml"
    config.write_text("covariates: [age]\nexclude_incomplete: true\npermutations: 199\n")
    stats = tmp_path / "o"
    assert main(["stats", "--percent-time", str(tpath), "--participants", str(spath),
                 "--config", str(config), "--out", str(stats)]) == 0
    drawn = []
    real = plots_stage.single_figure
    monkeypatch.setattr(plots_stage, "single_figure", lambda t, *a: drawn.append(
        set(t["participant_id"])) or real(t, *a))
    for extra in ([], ["--exclusions", str(stats / "exclusions.tsv")]):  # default: beside
        assert main(["plots", "--percent-time", str(tpath), "--hurdle",
                     str(stats / "hurdle.tsv"), "--config", str(config), "--out",
                     str(tmp_path / "figs"), *extra]) == 0
    everyone = set(table["participant_id"])
    assert drawn == [everyone - {pid}] * 2
    prov = json.loads((tmp_path / "figs" / "provenance.json").read_text())
    assert any(path.endswith("exclusions.tsv") for path in prov["inputs"])


STAGES = ("aggregate", "truth-percent-time", "pose-quality", "timeline", "report",
          "review-codings", "agreement")


def test_help_and_a_wrong_command_list_every_command(capsys) -> None:
    """Only the command asked for is imported; `-h` and a misspelt command still see all."""
    every = "{" + ",".join(("stats", "plots", *STAGES)) + "}"
    with pytest.raises(SystemExit) as done:
        main(["-h"])
    assert done.value.code == 0 and every in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["timelines"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "invalid choice: 'timelines'" in err
    assert all(f"'{name}'" in err for name in STAGES)


@pytest.mark.parametrize("command", STAGES)
def test_each_stage_command_parses_its_own_options(command, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "-h"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m analysis {command} ")


@pytest.mark.parametrize("command", ["stats", "plots"])
def test_stats_and_plots_import_no_stage_module(command) -> None:
    """`stats` and `plots` take no stage's parser, so none of the stages' modules (the
    report's, the codings readers, the agreement's, ...) is imported for them. In a fresh
    interpreter, as the workflow runs them."""
    code = ("import sys\nfrom analysis.__main__ import STAGES, main\n"
            f"try:\n    main([{command!r}, '-h'])\nexcept SystemExit:\n    pass\n"
            "print(sorted({m for m, _ in STAGES.values()} & set(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    usage, *_, imported = proc.stdout.splitlines()
    assert usage.startswith(f"usage: python -m analysis {command} ")
    assert imported == "[]"
