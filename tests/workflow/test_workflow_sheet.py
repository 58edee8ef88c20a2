"""A study's own participant sheet: where the participant sits (participant_side or
participant_box) is checked when the workflow is parsed and reaches the pose jobs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_testkit import make_random_model, model_workdir, reduced_workdir, run_snakemake

from analysis.pose_quality import OTHERS_FLAG, read_quality
from microdualnet.cli import main


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reduced workdir pointed at a two-person cohort as a study's own data."""
    root = tmp_path_factory.mktemp("study")
    model = make_random_model(root / "model_src")
    (root / "wd").mkdir()
    wd = model_workdir(root / "wd", model)
    assert main(["synth", "cohort", "--out", str(wd / "study"), "--per-group", "1",
                 "--seconds", "6", "--fps", "8", "--width", "96", "--height", "64",
                 "--participant-side", "random", "--interviewer", "--workers", "1"]) == 0
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg["participants"] = "study/participants.tsv"
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def test_the_sheet_side_reaches_the_pose_job(study):
    res = run_snakemake(study, "results/demo/pose/sub-002.qc.json")
    assert res.returncode == 0, res.stderr[-3000:]
    sheet = pd.read_csv(study / "study/participants.tsv", sep="\t", index_col=0)
    qc = json.loads((study / "results/demo/pose/sub-002.qc.json").read_text())
    assert qc["participant_rule"] == ("sheet: participant_side "
                                      + sheet.loc["sub-002", "participant_side"])


def _run_with_sheet(study: Path, edit, *args: str) -> subprocess.CompletedProcess:
    """Snakemake (`args`, default a dry run) with the sheet changed by `edit(sheet) -> sheet`;
    the sheet is put back."""
    sheet_path = study / "study/participants.tsv"
    original = sheet_path.read_text()
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
    edit(sheet).to_csv(sheet_path, sep="\t", index=False)
    try:
        return run_snakemake(study, *(args or ("--dry-run",)))
    finally:
        sheet_path.write_text(original)


def test_a_participant_without_a_seat_among_others_is_flagged(study):
    """Without the sheet's side the interviewer may be followed: the pose-quality table, which
    the report shows, flags that participant and no other."""
    def unseat(sheet: pd.DataFrame) -> pd.DataFrame:
        sheet.loc[sheet["participant_id"] == "sub-001", "participant_side"] = ""
        return sheet

    res = _run_with_sheet(study, unseat, "results/demo/pose_quality.tsv")
    assert res.returncode == 0, res.stderr[-3000:]
    table = read_quality(study / "results/demo/pose_quality.tsv").set_index("participant_id")
    assert table["flags"].to_dict() == {"sub-001": OTHERS_FLAG, "sub-002": "", "sub-003": ""}
    assert table["participant_rule"].to_dict() == {"sub-001": "default", "sub-002": "sheet",
                                                   "sub-003": "sheet"}
    assert table["others_in_view"].all()
    assert "may be the interviewer" in (study / "results/demo/logs/pose/sub-001.log").read_text()
    assert "Pose QC flagged 1 participant(s) (sub-001): see " in res.stderr


@pytest.mark.parametrize("column, value, needle", [
    ("participant_side", "middle", "line 3: participant_side 'middle' must be 'left' or"),
    ("participant_box", "0.1,0.2,1.5,0.9", "line 3: participant_box '0.1,0.2,1.5,0.9' lies "
                                           "outside the frame"),
])
def test_a_bad_seat_stops_before_any_job_naming_the_line(study, column, value, needle):
    def seat(sheet: pd.DataFrame) -> pd.DataFrame:
        sheet = sheet.drop(columns="participant_side")
        sheet[column] = ""
        sheet.loc[1, column] = value
        return sheet

    res = _run_with_sheet(study, seat)
    assert res.returncode != 0
    assert needle in res.stdout + res.stderr, (res.stdout + res.stderr)[-2000:]


@pytest.mark.parametrize("column, value, needle", [
    ("participant_id", "sub-001", "duplicate participant_id ['sub-001'] (lines [3])"),
    ("group", "XYZ", "line 3: group 'XYZ' is not one of stats.groups ['ASD', 'PSY', 'TDC']"),
    ("video", "videos/nope.mp4", "line 3: video study/videos/nope.mp4 does not exist (1 missing "
                                 "in all)"),
])
def test_a_bad_sheet_row_stops_before_any_job_naming_the_line(study, column, value, needle):
    def cell(sheet: pd.DataFrame) -> pd.DataFrame:
        sheet.loc[1, column] = value
        return sheet

    res = _run_with_sheet(study, cell)
    assert res.returncode != 0
    assert needle in res.stdout + res.stderr, (res.stdout + res.stderr)[-2000:]
    assert "Job stats" not in res.stdout + res.stderr


def test_one_video_for_two_participants_in_one_seat_stops_before_any_job(study):
    """A pasted row (another participant's video, same seat) would analyse one person twice;
    the same video with two seats (two children in one recording) is fine."""
    def paste(sheet: pd.DataFrame) -> pd.DataFrame:
        sheet.loc[2, ["video", "participant_side"]] = sheet.loc[0, ["video", "participant_side"]]
        return sheet

    res = _run_with_sheet(study, paste)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "participants.tsv: line 4: video videos/sub-001.mp4 is line 2's video too, with " \
        "the same participant_side/participant_box" in out, out[-2000:]

    def two_seats(sheet: pd.DataFrame) -> pd.DataFrame:
        sheet.loc[2, "video"] = sheet.loc[0, "video"]
        sheet.loc[0, "participant_side"], sheet.loc[2, "participant_side"] = "left", "right"
        return sheet

    res = _run_with_sheet(study, two_seats)
    assert res.returncode == 0, (res.stdout + res.stderr)[-2000:]


@contextmanager
def _stats_covariates(study: Path, covariates: list[str]) -> Iterator[None]:
    """The study's config with these stats.covariates while the block runs."""
    config = study / "config.yaml"
    original = config.read_text()
    cfg = yaml.safe_load(original)
    cfg["stats"]["covariates"] = covariates
    config.write_text(yaml.safe_dump(cfg))
    try:
        yield
    finally:
        config.write_text(original)


def test_a_covariate_missing_from_the_sheet_stops_before_any_job(study):
    """A stats.covariates column the sheet lacks once failed only the stats job, after every
    pose and infer job had run."""
    with _stats_covariates(study, ["age", "gender"]):
        res = run_snakemake(study, "--dry-run")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "participants.tsv: no column 'gender' (stats.covariates ['age', 'gender'])" in out, \
        out[-2000:]
    assert "Job stats" not in out


def test_only_the_configured_covariates_reach_the_percent_time_table(study):
    """The sheet's other columns (a study's may hold notes or dates of birth) stay out of
    the results: aggregate is given stats.covariates, not left to copy every column."""
    def commands() -> list[str]:
        res = run_snakemake(study, "--dry-run", "--printshellcmds", "--forceall",
                            "results/demo/percent_time.tsv")
        out = res.stdout + res.stderr
        assert res.returncode == 0, out[-3000:]
        return [line for line in out.splitlines() if " -m analysis aggregate " in line]

    assert {"age", "sex"} <= set(pd.read_csv(study / "study/participants.tsv", sep="\t"))
    (none,) = commands()
    assert " --covariates= " in none, none
    with _stats_covariates(study, ["age", "sex"]):
        (both,) = commands()
    assert " --covariates=age,sex " in both, both


def test_pose_only_for_the_frames_the_model_samples(study):
    config = study / "config.yaml"
    original = config.read_text()
    cfg = yaml.safe_load(original)
    cfg["pose"]["only_sampled"] = True
    cfg["results"] = "results/sampled"
    config.write_text(yaml.safe_dump(cfg))
    try:
        res = run_snakemake(study, "results/sampled/pose/sub-001.qc.json")
    finally:
        config.write_text(original)
    assert res.returncode == 0, res.stderr[-3000:]
    qc = json.loads((study / "results/sampled/pose/sub-001.qc.json").read_text())
    assert qc["only_sampled_frames"] is True
    assert 0 < qc["frames_processed"] < qc["video_frames"]


# ---- a hand-written sheet, checked in dry runs (no video is read) -----------------------

TINY_SHEET = ("participant_id\tgroup\tvideo\tparticipant_side\tparticipant_box\n"
              " sub-001 \tASD\t videos/a.mp4\tleft\t\n"  # spaces a spreadsheet left behind
              "sub-002\tTDC\tvideos/b.mp4\t\t\n")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A reduced workdir on a two-row sheet whose videos are empty files."""
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         participants="study/participants.tsv")
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    cfg["model"].update(clips="study/clips", train_config="study/train.yaml")  # train: true
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    (wd / "study/clips").mkdir(parents=True)
    (wd / "study/train.yaml").write_text("data: {root: study/clips}\n")
    for name in ("a", "b"):
        (wd / "study/videos").mkdir(parents=True, exist_ok=True)
        (wd / f"study/videos/{name}.mp4").write_bytes(b"")
    for pid in ("sub-001", "sub-002"):
        (wd / "study/openpose" / pid).mkdir(parents=True)
    (wd / "study/participants.tsv").write_text(TINY_SHEET)
    return wd


def test_a_tiny_sheets_cells_reach_the_pose_commands(tiny):
    """Cells are trimmed; an empty seat cell gives no option; on_participant_error auto
    follows stats.exclude_incomplete."""
    res = run_snakemake(tiny, "--dry-run", "--printshellcmds", "results/demo/pose/sub-001.npz",
                        "results/demo/pose/sub-002.npz")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    commands = [line for line in out.splitlines() if " -m microdualnet pose " in line]
    assert len(commands) == 2, out[-3000:]
    first = next(c for c in commands if "sub-001.npz" in c)
    second = next(c for c in commands if "sub-002.npz" in c)
    assert "--video study/videos/a.mp4 " in first and "--participant-side left " in first
    assert "--participant" not in second  # an empty cell: the person nearest the centre
    assert all("--on-error exclude " in c for c in commands)

    cfg = yaml.safe_load((tiny / "config.yaml").read_text())
    cfg["stats"]["exclude_incomplete"] = False
    (tiny / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tiny, "--dry-run", "--printshellcmds", "results/demo/pose/sub-001.npz")
    assert "--on-error fail " in res.stdout + res.stderr, (res.stdout + res.stderr)[-3000:]


@pytest.mark.parametrize("edit, needle", [
    (lambda s: s.replace("\tgroup", "\tgruppe"),
     "participants.tsv: missing column(s) ['group']"),
    (lambda s: s.splitlines(keepends=True)[0],  # once an IndexError (openpose backend)
     "participants.tsv: no participant rows; expected one row per participant under the "
     "header line"),
    (lambda s: s.replace("\tTDC\t", "\t \t"), "participants.tsv: line 3: column group is empty"),
    (lambda s: s.replace(" sub-001 ", "sub-002"),
     "participants.tsv: duplicate participant_id ['sub-002'] (lines [3])"),
    (lambda s: s.replace("_box\n", "_box\tcodings_\n").replace("\t\n", "\t\t\n"),
     "participants.tsv: column 'codings_' needs a coder name, e.g. codings_anna"),
    (lambda s: s.replace("_box\n", "_box\tcodings_model\n").replace("\t\n", "\t\tvideos/b.mp4\n"),
     "participants.tsv: column codings_model: coder name 'model' is the agreement table's name "
     "for the model; rename the coder"),
    (lambda s: s.replace("videos/b.mp4\t\t\n", "videos/b.mp4\t\t\tx\n"),
     "participants.tsv: line 3 has 6 tab-separated cells, the header line 5"),
    (lambda s: s.replace("_box\n", "_box\tvalid_s\n").replace("\t\n", "\t\t\n"),
     "participants.tsv: column(s) ['valid_s'] have the name of a column the pipeline computes"),
    (lambda s: s.replace("\t", ","), "the file looks comma-separated; save it tab-separated"),
    (lambda s: "\n", "participants.tsv is empty"),
    (lambda s: s.replace("sub-002\t", "#sub-002\t"),  # commented out, still read
     "participants.tsv: line 3 starts with '#': it is read as data"),
    (lambda s: s.replace("sub-002\t", "SUB-001\t"),  # one file name on macOS
     "column participant_id holds 'SUB-001' on line 3 and 'sub-001' on line 2, which differ "
     "only in case"),
    (lambda s: s.replace("sub-002\t", "sub 002\t"),
     "participants.tsv: line 3: participant_id: 'sub 002' is not allowed: letters, digits, _ "
     "and - only"),
    (lambda s: s.replace("\tTDC\t", "\ttdc\t"),
     "line 3: group 'tdc' is not one of stats.groups ['ASD', 'PSY', 'TDC']; did you mean "
     "'TDC'? (groups are case-sensitive)"),
    (lambda s: s.replace("\tTDC\t", "\tcontrol\t"),
     "line 3: group 'control' is not one of stats.groups ['ASD', 'PSY', 'TDC']; correct the "
     "cell, or add the group to stats.groups in the config"),
    (lambda s: s.replace("\tvideos/b.mp4", "\tstudy/videos/b.mp4"),  # from the workdir
     "line 3: video study/study/videos/b.mp4 does not exist (1 missing in all); "
     "study/videos/b.mp4 exists relative to the folder Snakemake runs in, but the sheet's "
     "video paths are read relative to the sheet's folder (study)"),
    (lambda s: s.replace("\tvideos/b.mp4", "\tvideos/c.mp4"),
     "line 3: video study/videos/c.mp4 does not exist (1 missing in all); the sheet's video "
     "paths are read relative to its folder (study)"),
])
def test_a_tiny_sheets_bad_column_or_cell_is_one_line(tiny, edit, needle):
    sheet = tiny / "study/participants.tsv"
    sheet.write_text(edit(sheet.read_text()))
    res = run_snakemake(tiny, "--dry-run")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert needle in out, out[-3000:]
    assert "Traceback" not in out


def test_a_missing_absolute_video_gets_no_hint_about_relative_paths(tiny):
    sheet = tiny / "study/participants.tsv"
    missing = tiny / "elsewhere/b.mp4"
    sheet.write_text(sheet.read_text().replace("\tvideos/b.mp4", f"\t{missing}"))
    res = run_snakemake(tiny, "--dry-run")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"line 3: video {missing} does not exist (1 missing in all)" in out, out[-3000:]
    assert "relative" not in out, out[-3000:]


def test_a_tab_after_each_rows_last_cell_shifts_no_column(tiny):
    """pandas alone reads such rows' first cell as row names: every column one to the left."""
    sheet = tiny / "study/participants.tsv"
    head, *rows = sheet.read_text().splitlines()
    sheet.write_text("\n".join([head, *(row + "\t" for row in rows)]) + "\n")
    res = run_snakemake(tiny, "--dry-run", "--printshellcmds", "results/demo/pose/sub-001.npz")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "--video study/videos/a.mp4 " in out and "--participant-side left " in out


def test_a_true_percent_time_needs_the_demo_cohort(tiny):
    cfg = yaml.safe_load((tiny / "config.yaml").read_text())
    cfg["percent_time_source"] = "truth"
    (tiny / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tiny, "--dry-run")
    assert res.returncode != 0
    assert "config: percent_time_source 'truth' needs demo.enabled: true" in \
        res.stdout + res.stderr


def test_groups_too_small_for_the_statistics_are_warned_about_before_any_job(tiny):
    """A pilot of a few children a group runs to an empty Table V: said in the dry run."""
    res = run_snakemake(tiny, "--dry-run")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert ("warning: study/participants.tsv: group(s) ASD (1), TDC (1) have fewer "
            "participants than stats.min_participants (10; at least 5): the statistics compare "
            "no such group") in out, out[-3000:]


def test_a_group_of_exactly_min_participants_is_not_warned_about(tiny):
    """The statistics compare a group of stats.min_participants: only smaller ones are named."""
    cfg = yaml.safe_load((tiny / "config.yaml").read_text())
    cfg["stats"]["min_participants"] = 5
    (tiny / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = []
    for n in range(3, 7):
        (tiny / f"study/videos/{n}.mp4").write_bytes(b"")
        (tiny / f"study/openpose/sub-00{n}").mkdir()
        rows.append(f"sub-00{n}\tASD\tvideos/{n}.mp4\t\t\n")
    (tiny / "study/participants.tsv").write_text(TINY_SHEET + "".join(rows))
    res = run_snakemake(tiny, "--dry-run")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "group(s) TDC (1) have fewer participants than stats.min_participants (5;" in out


@pytest.mark.parametrize("missing, needle", [
    ("study/clips", "config model.clips: study/clips is not a folder; model.train: true trains "
                    "the model on this folder of labelled clips"),
    ("study/train.yaml", "config model.train_config: study/train.yaml does not exist"),
])
def test_a_study_model_to_train_without_its_inputs_stops_before_any_job(tiny, missing, needle):
    """Once aggregate could not be made, Snakemake wrote percent_time.tsv with the truth
    path's rule instead: the demo cohort synthesised and its true percent time analysed as
    the study's, with no error."""
    path = tiny / missing
    path.rmdir() if path.is_dir() else path.unlink()
    res = run_snakemake(tiny, "--dry-run")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert needle in out, out[-3000:]
    assert "demo_cohort" not in out and "Traceback" not in out


def test_a_model_folder_that_does_not_exist_says_how_to_get_one(tiny):
    """model.train: false with model.path never trained (the demo's results/demo/model on a
    clone that never ran the demo): one line naming both ways to a model."""
    cfg = yaml.safe_load((tiny / "config.yaml").read_text())
    cfg["model"].update(train=False, path="results/demo/model")
    (tiny / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tiny, "--dry-run")
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in out, out[-3000:]
    for needle in ("config model.path: model folder results/demo/model does not exist",
                   "train one with model.train: true and model.clips",
                   "trains it into results/demo/model, a full-view model"):
        assert needle in out, out[-3000:]
