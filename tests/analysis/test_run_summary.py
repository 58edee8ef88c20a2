"""The lines a finished workflow run prints last."""

from __future__ import annotations

import pandas as pd

from analysis.pose_quality import COLUMNS, OTHERS_FLAG
from analysis.run_summary import run_summary


def _quality(path, flags: dict[str, str]) -> None:
    rows = [{"participant_id": pid, "backend": "openpose", "excluded": False,
             "frames_processed": 10, "person_pct": 100.0, "upright_pct": 100.0,
             "participant_rule": "default", "others_in_view": bool(flag), "flags": flag}
            for pid, flag in flags.items()]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, sep="\t", index=False)


def test_nothing_made_nothing_said(tmp_path):
    assert run_summary(tmp_path) == []


def test_report_exclusions_and_flags_are_named(tmp_path):
    (tmp_path / "report.html").write_text("<html></html>")
    (tmp_path / "stats").mkdir()
    pd.DataFrame({"participant_id": ["s2", "s5"], "reason": ["pose: x", "infer: y"]}).to_csv(
        tmp_path / "percent_time_exclusions.tsv", sep="\t", index=False)
    pd.DataFrame({"participant_id": ["s2", "s7"], "reason": ["not in table", "no age"]}).to_csv(
        tmp_path / "stats/exclusions.tsv", sep="\t", index=False)
    _quality(tmp_path / "pose_quality.tsv", {"s1": "", "s3": OTHERS_FLAG, "s4": OTHERS_FLAG})
    lines = run_summary(tmp_path)
    assert lines[0] == f"Report: {tmp_path / 'report.html'}"
    assert lines[1].startswith("Excluded: 3 participant(s) (s2, s5, s7); reasons in ")
    assert lines[2].startswith("Pose QC flagged 2 participant(s) (s3, s4): see ")
    assert len(lines) == 3


def test_long_lists_are_cut(tmp_path):
    _quality(tmp_path / "pose_quality.tsv", {f"s{i:02d}": OTHERS_FLAG for i in range(13)})
    (line,) = run_summary(tmp_path)
    assert "(s00, s01, s02, s03, s04, s05, s06, s07, s08, s09 and 3 more)" in line


def test_a_truth_path_run_ignores_what_a_model_run_left(tmp_path):
    _quality(tmp_path / "pose_quality.tsv", {"sub-099": OTHERS_FLAG})
    pd.DataFrame({"participant_id": ["sub-099"], "reason": ["pose: x"]}).to_csv(
        tmp_path / "percent_time_exclusions.tsv", sep="\t", index=False)
    assert run_summary(tmp_path, model_path=False) == []
    assert len(run_summary(tmp_path, model_path=True)) == 2


def test_an_unreadable_file_gives_a_line_not_an_error(tmp_path):
    """The summary runs after every job succeeded: it must not turn the run into a failure."""
    (tmp_path / "pose_quality.tsv").write_text("participant_id\tflags\ns1\tx\n")
    (line,) = run_summary(tmp_path)
    assert line.startswith("(no run summary: pose-quality table ") and "lacks column" in line


def test_a_participant_called_na_is_counted(tmp_path):
    pd.DataFrame({"participant_id": ["NA", "s2"], "reason": ["a", "b"]}).to_csv(
        tmp_path / "percent_time_exclusions.tsv", sep="\t", index=False)
    (line,) = run_summary(tmp_path)
    assert line.startswith("Excluded: 2 participant(s) (NA, s2)")
