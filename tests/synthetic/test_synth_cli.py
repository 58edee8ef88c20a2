"""The `synth` CLI: one-line errors naming the option, and output folders never half-replaced."""

from pathlib import Path

import pytest
import yaml

from microdualnet.cli import main
from microdualnet.synthetic import clips


@pytest.mark.parametrize(("argv", "needle"), [
    (["clips", "--train-per-class", "-3"], "--train-per-class"),
    (["clips", "--classes", "nodding,flying"], "--classes: unknown class name(s) ['flying']"),
    (["clips", "--width", "65"], "--width: must be even"),
    (["clips", "--min-seconds", "3", "--max-seconds", "1"], "min_seconds must not exceed"),
    (["cohort", "--per-group", "0"], "--groups.ASD"),
    (["cohort", "--groups", "ASD=2,XYZ=2"], "planted effect on unknown group(s) ['PSY', 'TDC']"),
    (["cohort", "--groups", "ASD=two"], "--groups: count of 'ASD' is not an integer"),
    (["cohort", "--seconds", "-1"], "--seconds"),
    (["cohort", "--interviewer", "--per-group", "1", "--seconds", "5", "--fps", "5"],
     "interviewer: needs participant_side left, right or random"),
    (["clips", "--classes", "nodding,no action", "--train-per-class", "1", "--val-per-class",
      "0", "--test-per-class", "0", "--fps", "5"],
     "--classes: unknown class name(s) ['no action']"),
    (["clips", "--train-per-class", "0", "--val-per-class", "0", "--test-per-class", "0"],
     "train_per_class, val_per_class and test_per_class are all 0"),
    (["cohort", "--fps", "0", "--per-group", "1", "--seconds", "5"],
     "--fps: Input should be greater than or equal to 1 (got 0.0)"),
    # Below 1 fps a 1-s event rounds to 0 frames: truth events of no frame, coded as 0.2 s.
    (["cohort", "--fps", "0.5", "--per-group", "1", "--seconds", "5", "--width", "32",
      "--height", "32", "--workers", "1"],
     "--fps: Input should be greater than or equal to 1 (got 0.5)"),
    # An infinite clip length reached numpy as a traceback from a worker.
    (["clips", "--max-seconds", "inf", "--classes", "nodding", "--no-background",
      "--train-per-class", "1", "--val-per-class", "0", "--test-per-class", "0", "--width",
      "32", "--height", "32", "--workers", "1"],
     "--max-seconds: Input should be less than or equal to 3600 (got inf)"),
    # A group named twice silently took its last count (here a cohort of 4, not 3).
    (["cohort", "--groups", "ASD=1,PSY=1,TDC=1,ASD=2", "--seconds", "5", "--fps", "5",
      "--width", "32", "--height", "32", "--workers", "1"],
     "--groups: group 'ASD' is given twice"),
    (["clips", "--val-per-class", "-2"],
     "--val-per-class: Input should be greater than or equal to 0 (got -2)"),
    (["cohort", "--groups", "=3"], "--groups: expected NAME=COUNT,... got '=3'"),
    (["cohort", "--groups", "A=1", "--per-group", "0"], "--groups.A: Input should be greater"),
    (["contact-sheet", "--frames", "0"], "--frames"),
    (["contact-sheet", "--seed", "-1"], "--seed: must be >= 0"),
])
def test_bad_options_give_one_line_errors(tmp_path, capsys, argv, needle):
    out = tmp_path / "out.png" if argv[0] == "contact-sheet" else tmp_path / "out"
    code = main(["synth", *argv, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert needle in err
    assert not out.exists()


def test_cohort_config_file_with_unknown_group(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    assert main(["synth", "config", "--out", str(cfg)]) == 0
    values = yaml.safe_load(cfg.read_text())
    values["effects"][2]["engage"]["XYZ"] = 0.5
    cfg.write_text(yaml.safe_dump(values))
    assert main(["synth", "cohort", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "effects[2] (shaking head).engage: planted effect on unknown group(s) ['XYZ']" in err


def test_cohort_config_file_giving_a_key_twice_is_named(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    assert main(["synth", "config", "--out", str(cfg)]) == 0
    cfg.write_text(cfg.read_text() + "seconds: 30\nseconds: 40\n")
    assert main(["synth", "cohort", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"cohort config {cfg}, line " in err and "'seconds' is given twice" in err, err


def test_existing_folder_is_kept_unless_overwrite_and_survives_a_failure(tmp_path, monkeypatch,
                                                                         capsys):
    out = tmp_path / "clips"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    small = ["synth", "clips", "--out", str(out), "--classes", "nodding", "--train-per-class",
             "1", "--val-per-class", "0", "--test-per-class", "0", "--width", "64", "--height",
             "48", "--fps", "8", "--workers", "1"]
    assert main(small) == 2
    assert "already exists" in capsys.readouterr().err

    def boom(task):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(clips, "make_clip", boom)
    with pytest.raises(RuntimeError):
        main([*small, "--overwrite"])
    assert (out / "keep.txt").read_text() == "old"
    assert [p.name for p in out.parent.iterdir()] == ["clips"]  # no partial folder left
    monkeypatch.undo()
    assert main([*small, "--overwrite"]) == 0
    assert not (out / "keep.txt").exists()
    # One nodding clip, then "no action" at the default background factor 3.
    assert Path(out / "train_list_videos.txt").read_text().count(".mp4") == 1 + 3


def test_contact_sheet_is_written(tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["synth", "contact-sheet", "--out", str(out), "--frames", "2"]) == 0
    import cv2

    img = cv2.imread(str(out))
    assert img.shape[0] == 150 * 14  # a row per class, background included


def _drop_tdc_intensity(v):
    del v["effects"][0]["intensity"]["TDC"]


def _twice(v):
    v["effects"].append(dict(v["effects"][3]))


def _background_effect(v):
    v["effects"][1]["action"] = "no action"


def _unknown_demographics(v):
    v["demographics"]["XYZ"] = {"age_mean": 9.0}


def _size_reversed(v):
    v["participant_size"] = [1.0, 0.9]


def _no_precision(v):
    v["intensity_precision"] = 0


def _infinite_precision(v):
    v["intensity_precision"] = float("inf")  # Beta(inf, inf) draws NaN: a crash mid-render


def _nan_age(v):
    v["demographics"]["ASD"]["age_mean"] = float("nan")  # NaN ages in participants.tsv


@pytest.mark.parametrize(("edit", "needle"), [
    (_drop_tdc_intensity, "effects[0] (retracting feet).intensity: no value for group(s) "
                          "['TDC']"),
    (_twice, "effects[13].action: 'head up' listed twice"),
    (_background_effect, "effects[1].action: unknown class name 'no action'"),
    (_unknown_demographics, "demographics: unknown group(s) ['XYZ']"),
    (_size_reversed, "participant_size: [low, high] with low <= high"),
    (_no_precision, "invalid option intensity_precision: Input should be greater than 0"),
    (_infinite_precision, "invalid option intensity_precision: Input should be a finite number"),
    (_nan_age, "invalid option demographics.ASD.age_mean: Input should be a finite number"),
])
def test_inconsistent_cohort_config_files_are_one_line_errors(tmp_path, capsys, edit, needle):
    """Each would otherwise fail later (a KeyError mid-render) or plant nothing."""
    cfg = tmp_path / "c.yaml"
    assert main(["synth", "config", "--out", str(cfg)]) == 0
    values = yaml.safe_load(cfg.read_text())
    edit(values)
    cfg.write_text(yaml.safe_dump(values))
    out = tmp_path / "o"
    tiny = ["--per-group", "1", "--seconds", "5", "--fps", "5", "--width", "32", "--height",
            "32", "--workers", "1"]  # were the check missing, a quick cohort, not the demo's
    assert main(["synth", "cohort", "--config", str(cfg), "--out", str(out), *tiny]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert not out.exists()
