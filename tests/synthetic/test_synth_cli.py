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
    (["cohort", "--interviewer"], "interviewer: needs participant_side left, right or random"),
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
