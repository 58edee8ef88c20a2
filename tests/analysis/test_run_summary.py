"""The lines a finished workflow run prints last."""

from __future__ import annotations

import pandas as pd

import analysis.run_summary as run_summary_module
from analysis.inference_quality import quality_table
from analysis.pose_quality import COLUMNS, OTHERS_FLAG, named_json_flag, same_json_flag
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
    assert lines[1] == (f"Excluded: 3 participant(s) (s2, s5, s7); reasons in "
                        f"{tmp_path / 'percent_time_exclusions.tsv'} and "
                        f"{tmp_path / 'stats/exclusions.tsv'}")
    assert lines[2].startswith("Pose QC flagged 2 participant(s) (s3, s4): see "
                               f"{tmp_path / 'pose_quality.tsv'} (e.g. several people")
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


def test_ten_names_are_all_named(tmp_path):
    _quality(tmp_path / "pose_quality.tsv", {f"s{i:02d}": OTHERS_FLAG for i in range(10)})
    (line,) = run_summary(tmp_path)
    assert "(s00, s01, s02, s03, s04, s05, s06, s07, s08, s09): see" in line


def test_empty_lists_and_no_flags_say_nothing(tmp_path):
    """A clean run writes header-only exclusion files and an unflagged QC table."""
    (tmp_path / "stats").mkdir()
    for name in ("percent_time_exclusions.tsv", "stats/exclusions.tsv"):
        (tmp_path / name).write_text("participant_id\treason\n")
    _quality(tmp_path / "pose_quality.tsv", {"s1": "", "s2": ""})
    assert run_summary(tmp_path) == []


def test_a_blank_participant_id_is_not_counted(tmp_path):
    (tmp_path / "percent_time_exclusions.tsv").write_text(
        "participant_id\treason\ns1\tpose: x\n\tstray\n")
    assert run_summary(tmp_path) == [
        f"Excluded: 1 participant(s) (s1); reasons in {tmp_path / 'percent_time_exclusions.tsv'}"]


def test_any_error_gives_one_line(tmp_path):
    """A damaged exclusions list (pandas' message ends in a newline) or one without the column
    names the file, on one line."""
    path = tmp_path / "percent_time_exclusions.tsv"
    path.write_text("participant_id\treason\ns1\ta\ns2\tb\tc\td\n")
    assert run_summary(tmp_path) == [
        f"(no run summary: exclusions list {path} is not a readable TSV: Error tokenizing "
        "data. C error: Expected 2 fields in line 3, saw 4)"]
    path.write_text("pid\treason\ns1\ta\n")
    assert run_summary(tmp_path) == [
        f"(no run summary: exclusions list {path} lacks column participant_id)"]
    for damaged in (b"participant_id\treason\ns1\t\xff\n", b""):
        path.write_bytes(damaged)
        (line,) = run_summary(tmp_path)
        assert line.startswith(f"(no run summary: exclusions list {path} is not a readable TSV")


def test_a_damaged_quality_table_gives_a_line_not_an_error(tmp_path):
    path = tmp_path / "pose_quality.tsv"
    path.write_text("participant_id\tflags\ns1\tx\ns2\ty\tz\tw\n")
    assert run_summary(tmp_path) == [
        f"(no run summary: pose-quality table {path} is not a readable TSV: Error tokenizing "
        "data. C error: Expected 2 fields in line 3, saw 4)"]


def test_an_unexpected_error_gives_a_line_not_an_error(tmp_path, monkeypatch):
    def broken(path):
        raise OSError("disk\n gone")

    _quality(tmp_path / "pose_quality.tsv", {"s1": OTHERS_FLAG})
    monkeypatch.setattr(run_summary_module, "read_quality", broken)
    assert run_summary(tmp_path) == ["(no run summary: disk gone)"]


def test_json_of_another_participant_gets_a_line_of_its_own(tmp_path):
    _quality(tmp_path / "pose_quality.tsv", {"s1": same_json_flag(["s2"]),
                                             "s2": f"{named_json_flag(['s1'])}; {OTHERS_FLAG}",
                                             "s3": OTHERS_FLAG, "s4": ""})
    lines = run_summary(tmp_path)
    assert lines[0] == ("OpenPose JSON perhaps another participant's: 2 participant(s) (s1, "
                        "s2), identical to another's or named after another's video: see the "
                        f"flags in {tmp_path / 'pose_quality.tsv'}, fix the OpenPose folders "
                        "and rerun")
    assert lines[1].startswith("Pose QC flagged 3 participant(s) (s1, s2, s3): ")
    assert len(lines) == 2


def _inference_quality(path, warnings: dict[str, tuple[str | None, str | None]]) -> None:
    """aggregate's table of infer's warnings: participant -> (frame rate, others in view)."""
    quality_table({pid: {"frame_rate_warning": slow, "others_in_view_warning": others}
                   for pid, (slow, others) in warnings.items()}).to_csv(
        path, sep="\t", index=False)


def test_videos_slower_than_the_model_samples_are_named(tmp_path):
    """Named from aggregate's table (its windows files' metadata), not from the windows
    folder: a windows file left there by an earlier run is not opened."""
    from pipeio.windows import write_windows

    note = "the video is 5 fps, slower than the 8.33 frames a second the model samples"
    _inference_quality(tmp_path / "percent_time_quality.tsv",
                       {"s1": (None, None), "s2": (note, None), "s3": (None, None)})
    (tmp_path / "windows").mkdir()
    write_windows(tmp_path / "windows" / "gone.parquet", pd.DataFrame(
        {"start_s": [0.0], "end_s": [2.0]}), {"participant_id": "gone",
                                              "frame_rate_warning": note})
    (line,) = run_summary(tmp_path)
    assert line.startswith("Videos slower than the model samples: 1 participant(s) (s2), "
                           "frames repeated in their windows: see frame_rate_warning in "
                           f"{tmp_path / 'windows'}/<id>.parquet's metadata"), line
    assert run_summary(tmp_path, model_path=False) == []


def test_others_in_a_full_view_models_input_are_named_with_what_to_do(tmp_path):
    """The interviewer beside the child inside a full-view model's square (infer's
    `others_in_view_warning`): named with the way out, after the slow videos."""
    _inference_quality(tmp_path / "percent_time_quality.tsv",
                       {"s1": (None, None), "s2": ("5 fps", "in 96%"), "s3": (None, "in 40%")})
    slow_line, line = run_summary(tmp_path)
    assert slow_line.startswith("Videos slower than the model samples: 1 participant(s) (s2)")
    assert line == ("Others in the full-view model's input: 2 participant(s) (s2, s3), the "
                    "model may count their movements as the participant's: use a person-view "
                    "model (docs/training.md) or crop the recordings; see "
                    f"others_in_view_warning in {tmp_path / 'windows'}/<id>.parquet's "
                    "metadata or logs/infer/<id>.log")


def test_a_damaged_inference_quality_table_gives_a_line_not_an_error(tmp_path):
    path = tmp_path / "percent_time_quality.tsv"
    path.write_text("participant_id\tframe_rate_warning\ns1\tslow\n")
    (line,) = run_summary(tmp_path)
    assert line.startswith(f"(no run summary: inference-quality table {path} lacks column(s) "
                           "['repeated_frame_share', 'others_in_view_share', "
                           "'others_in_view_warning']"), line


def _stats_of_pilot(results, per_group: int, min_participants: int) -> None:
    """The stats stage on `per_group` participants in each of two groups, half of them
    engaged in one action."""
    from analysis.config import load_stats_config
    from analysis.stats_stage import run_stats

    ids = [(f"{g}{i}", g) for g in ("ASD", "TDC") for i in range(per_group)]
    pd.DataFrame({"participant_id": [p for p, _ in ids], "group": [g for _, g in ids],
                  "video": "v.mp4"}).to_csv(results / "participants.tsv", sep="\t", index=False)
    pd.DataFrame({"participant_id": [p for p, _ in ids], "group": [g for _, g in ids],
                  "action": "nodding", "valid_s": 60.0,
                  "percent_time": [(i % 2) * (3.0 + i) for i in range(len(ids))]}).to_csv(
        results / "percent_time.tsv", sep="\t", index=False)
    cfg = load_stats_config({"stats": {"groups": ["ASD", "TDC"], "permutations": 99,
                                       "min_participants": min_participants}})
    run_stats(cfg, results / "percent_time.tsv", results / "participants.tsv",
              results / "stats")


def test_a_pilot_too_small_for_any_test_is_told_why_table_v_is_empty(tmp_path):
    """Two children a group: the run succeeds with an empty Table V, which would read as
    'no differences' unless the last lines say no test was run."""
    _stats_of_pilot(tmp_path, per_group=2, min_participants=10)
    (line,) = run_summary(tmp_path)
    assert line.startswith(f"No test could be run, so Table V is empty: "
                           f"{tmp_path / 'stats/hurdle.tsv'} gives each test's reason, most "
                           "often 'group ASD has 2 participants (< min_participants 10)' "
                           "(2 of 2 tests"), line


def test_the_commonest_reason_is_named_and_a_run_without_tests_listed_is_quiet(tmp_path):
    hurdle = tmp_path / "stats/hurdle.tsv"
    hurdle.parent.mkdir()
    hurdle.write_text("action\testimable\treason\n")  # no action to test: no Table V claim
    assert run_summary(tmp_path) == []
    hurdle.write_text("action\tp\na\t0.5\n")  # not the columns this version writes
    assert run_summary(tmp_path) == []
    hurdle.write_text("action\testimable\treason\na\tFalse\trare\nb\tFalse\tcommon\n"
                      "c\tFalse\tcommon\n")
    (line,) = run_summary(tmp_path)
    assert "most often 'common' (2 of 3 tests;" in line, line


def test_a_cohort_with_a_test_run_gets_no_such_line(tmp_path):
    _stats_of_pilot(tmp_path, per_group=6, min_participants=5)
    assert run_summary(tmp_path) == []
