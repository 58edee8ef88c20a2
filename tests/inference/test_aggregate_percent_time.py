"""Aggregation: window probabilities -> per-bin labels -> the long percent-time table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.__main__ import main as analysis_main
from analysis.aggregate import Decision, aggregate, participant_timeline, windows_files
from analysis.inputs import check_percent_table
from pipeio import InputError
from pipeio.windows import read_windows, write_windows

CLASSES = ["nodding", "shaking legs", "no action"]


def _windows(path: Path, pid: str, rows: list[tuple[float, float, list[float] | None]],
             duration: float, excluded: str | None = None, **meta: object) -> Path:
    """A windows file from (start, end, probabilities or None for invalid) rows; `meta` adds
    to its metadata."""
    table = pd.DataFrame({
        "start_s": [r[0] for r in rows], "end_s": [r[1] for r in rows],
        "valid": [r[2] is not None for r in rows], "pose_fraction": 1.0,
        **{f"prob_{c}": [np.nan if r[2] is None else r[2][i] for r in rows]
           for i, c in enumerate(CLASSES)},
    })
    meta = {"participant_id": pid, "class_names": CLASSES, "entities": [],
            "duration_s": duration, "min_pose_fraction": 0.5, "excluded": excluded, **meta}
    return write_windows(path / f"{pid}.parquet", table, meta)


def _sheet(pids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"participant_id": pids, "group": ["ASD", "TDC", "PSY"][:len(pids)],
                         "video": [f"{p}.mp4" for p in pids], "age": [9.5, 8.0, 7.0][:len(pids)]})


def test_non_overlapping_windows_give_exact_percent_time(tmp_path):
    # Nodding 2 s, shaking legs 4 s, background 2 s, 2 s invalid: each action its own value.
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (2, 4, [0.1, 0.6, 0.3]),
                                    (4, 6, [0.2, 0.5, 0.3]), (6, 8, [0.1, 0.2, 0.7]),
                                    (8, 10, None)], duration=10.0)
    # (no resting level: shaking legs' median would be half its own time)
    table, excluded = aggregate([path], _sheet(["a"]), Decision("background", baseline="none"))
    got = dict(zip(table["action"], table["percent_time"], strict=True))
    assert got == pytest.approx({"nodding": 100 * 2 / 8, "shaking legs": 100 * 4 / 8})
    assert table["valid_s"].tolist() == pytest.approx([8.0, 8.0]) and excluded.empty
    assert list(table.columns) == ["participant_id", "group", "age", "action", "percent_time",
                                   "valid_s"]


def test_overlapping_windows_are_averaged_per_bin(tmp_path):
    # Bins in 1-2 s are covered by both windows: mean nodding 0.45 < mean background 0.5.
    path = _windows(tmp_path, "a", [(0, 2, [0.8, 0.0, 0.2]), (1, 3, [0.1, 0.1, 0.8])], 3.0)
    tl = participant_timeline(path, Decision("background", bin_s=0.5))
    np.testing.assert_allclose(tl.probs[2], [0.45, 0.05, 0.5])
    assert tl.label.tolist() == [0, 0, -1, -1, -1, -1]
    assert tl.percent_time() == pytest.approx({"nodding": 100 / 3, "shaking legs": 0.0})


def test_threshold_decision_ignores_background_and_needs_confidence(tmp_path):
    path = _windows(tmp_path, "a", [(0, 1, [0.4, 0.1, 0.5]), (1, 2, [0.2, 0.3, 0.5]),
                                    (2, 3, [0.1, 0.6, 0.3])], 3.0)
    tl = participant_timeline(path, Decision("threshold", threshold=0.35, bin_s=1.0,
                                             baseline="none"))
    assert tl.label.tolist() == [0, -1, 1]
    bg = participant_timeline(path, Decision("background", bin_s=1.0, baseline="none"))
    assert bg.label.tolist() == [-1, -1, 1]


def _nodding(values: list[float]) -> list[tuple[float, float, list[float]]]:
    """1-s windows whose nodding probability is `values` (the rest is background)."""
    return [(i, i + 1, [v, 0.0, 1 - v]) for i, v in enumerate(values)]


def test_median_baseline_raises_the_bar_by_the_participants_resting_level(tmp_path):
    # Rest (8 of 10 s) reads as nodding at 0.35, twice at 0.65; two real nods at 1.0.
    values = [0.35, 0.65, 0.35, 0.65, 0.35, 0.35, 0.35, 0.35, 1.0, 1.0]
    path = _windows(tmp_path, "a", _nodding(values), 10.0)
    raw = participant_timeline(path, Decision(bin_s=1.0, baseline="none"))
    assert raw.percent_time()["nodding"] == pytest.approx(40.0)
    assert raw.baseline.tolist() == [0.0, 0.0, 0.0]
    tl = participant_timeline(path, Decision(bin_s=1.0))
    assert tl.baseline.tolist() == pytest.approx([0.35, 0.0, 0.0])  # background: never
    assert tl.label.tolist() == [-1] * 8 + [0, 0]
    assert tl.percent_time()["nodding"] == pytest.approx(20.0)
    np.testing.assert_allclose(tl.probs, raw.probs)  # the timeline keeps the raw means


def test_an_action_filling_most_of_the_time_keeps_its_probabilities(tmp_path, caplog):
    values = [0.9] * 7 + [0.1] * 3
    path = _windows(tmp_path, "a", _nodding(values), 10.0)
    tl = participant_timeline(path, Decision(bin_s=1.0))
    assert tl.baseline.tolist() == [0.0, 0.0, 0.0]
    assert tl.percent_time()["nodding"] == pytest.approx(70.0)
    assert "'nodding' has a median probability of 0.90" in caplog.text


def test_baseline_must_be_known():
    with pytest.raises(InputError, match="baseline must be median or none"):
        Decision(baseline="mean")


def _viewed(path: Path, views: list[tuple[float, float]], hop_s: float) -> Path:
    """Add view columns (and the hop) to a windows file made by `_windows`."""
    table, meta = read_windows(path)
    table.insert(2, "view_start_s", [v[0] for v in views])
    table.insert(3, "view_end_s", [v[1] for v in views])
    return write_windows(path, table, {**meta, "hop_s": hop_s})


def test_view_credit_puts_a_decision_where_its_frames_were(tmp_path):
    """Three 2-s windows 1 s apart that each viewed their middle second: nodding seen in
    0.5-1.5 s fills that second, not the window's 2 s half-shared with its neighbour (where
    the window credit averages it below the threshold). The first and last half second were
    never viewed: not valid time."""
    rows = [(0, 2, [0.9, 0.0, 0.1]), (1, 3, [0.0, 0.0, 1.0]), (2, 4, [0.0, 0.0, 1.0])]
    path = _viewed(_windows(tmp_path, "a", rows, 4.0), [(0.5, 1.5), (1.5, 2.5), (2.5, 3.5)],
                   hop_s=1.0)
    window = participant_timeline(path, Decision(bin_s=0.5, baseline="none"))
    view = participant_timeline(path, Decision(bin_s=0.5, baseline="none", credit="view"))
    assert window.valid_s == 4.0 and window.percent_time()["nodding"] == pytest.approx(25.0)
    assert view.valid.tolist() == [False] + [True] * 6 + [False]
    assert view.label.tolist() == [-1, 0, 0, -1, -1, -1, -1, -1]
    assert view.percent_time()["nodding"] == pytest.approx(100 / 3)


def test_view_shorter_than_the_hop_is_widened_so_no_time_is_lost(tmp_path):
    rows = [(0, 2, [0.9, 0.0, 0.1]), (1, 3, [0.0, 0.0, 1.0]), (2, 4, [0.0, 0.0, 1.0])]
    path = _viewed(_windows(tmp_path, "a", rows, 4.0), [(0.9, 1.1), (1.9, 2.1), (2.9, 3.1)],
                   hop_s=1.0)
    tl = participant_timeline(path, Decision(bin_s=0.5, baseline="none", credit="view"))
    assert tl.valid.tolist() == [False] + [True] * 6 + [False]  # 0.5-3.5 s, no gaps
    assert tl.label.tolist() == [-1, 0, 0, -1, -1, -1, -1, -1]


def test_view_credit_refuses_windows_without_view_columns(tmp_path):
    path = _windows(tmp_path, "a", [(0, 2, [0.9, 0.0, 0.1])], 2.0)
    assert participant_timeline(path, Decision(baseline="none")).valid_s == pytest.approx(2.0)
    with pytest.raises(InputError, match=r"a\.parquet lacks \['view_start_s', 'view_end_s'\]"
                       ".*run its infer job again"):
        participant_timeline(path, Decision(credit="view"))
    with pytest.raises(InputError, match="credit must be window or view"):
        Decision(credit="frames")


def test_view_spans_on_the_frame_grid_meet_where_widening_leaves_a_gap(tmp_path):
    """0.96-s views, 1-s hop: widened to 1 s about middles 1.00, 2.08 and 2.96 s (the frame
    grid), the first two leave 1.50-1.58 s uncovered; they meet at 1.54 s instead."""
    rows = [(0, 2, [0.9, 0.0, 0.1]), (1, 3, [0.0, 0.0, 1.0]), (2, 4, [0.0, 0.0, 1.0])]
    path = _viewed(_windows(tmp_path, "a", rows, 4.0),
                   [(0.52, 1.48), (1.60, 2.56), (2.48, 3.44)], hop_s=1.0)
    tl = participant_timeline(path, Decision(bin_s=0.02, baseline="none", credit="view"))
    first, last = np.flatnonzero(tl.valid)[[0, -1]]
    assert tl.valid[first:last + 1].all()  # one run of valid time: no gap
    assert tl.valid_s == pytest.approx(3.46 - 0.50)
    assert tl.percent_time()["nodding"] == pytest.approx(100 * (1.54 - 0.50) / 2.96)


def test_background_decision_needs_a_background_class(tmp_path):
    path = _windows(tmp_path, "a", [(0, 1, [0.4, 0.1, 0.5])], 1.0)
    with pytest.raises(InputError, match="needs a class named 'rest'"):
        participant_timeline(path, Decision("background", background="rest"))


def test_percent_time_never_exceeds_100_and_passes_the_stats_checks(tmp_path):
    rng = np.random.default_rng(4)
    paths, pids = [], ["p1", "p2", "p3"]
    for pid in pids:
        starts = np.arange(0, 58, 0.5)
        rows = [(s, s + 2, list(rng.dirichlet([0.3, 0.3, 0.3])) if rng.random() > 0.2 else None)
                for s in starts]
        paths.append(_windows(tmp_path, pid, rows, 60.0))
    for baseline in ("none", "median"):
        for decision in (Decision("background", baseline=baseline),
                         Decision(baseline=baseline),
                         Decision("threshold", threshold=0.2, baseline=baseline)):
            table, _ = aggregate(paths, _sheet(pids), decision)
            sums = table.groupby("participant_id")["percent_time"].sum()
            assert (sums <= 100 + 1e-9).all()
            assert (sums > 0).all() or baseline == "median"  # random windows: all "rest"
            check_percent_table(table, "aggregate output")


def test_excluded_participant_leaves_the_others_unchanged(tmp_path):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (1, 3, [0.2, 0.7, 0.1])], 3.0)
    b = _windows(tmp_path, "b", [(0, 2, None), (1, 3, None)], 3.0)
    c = _windows(tmp_path, "c", [], 1.5, excluded="video is 1.50 s long, shorter than one 2.0 s "
                 "window")
    alone, _ = aggregate([a], _sheet(["a"]), Decision())
    table, excluded = aggregate([a, b, c], _sheet(["a", "b", "c"]), Decision())
    pd.testing.assert_frame_equal(table, alone)
    reasons = dict(zip(excluded["participant_id"], excluded["reason"], strict=True))
    assert reasons["b"] == ("no valid window (too little pose: fewer than 0.5 of sampled "
                            "frames with a person)")  # _windows: min_pose_fraction 0.5
    assert "shorter than one" in reasons["c"]


def test_sheet_and_windows_must_name_the_same_participants(tmp_path):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    with pytest.raises(InputError, match=r"participant\(s\) b are in the sheet but without a "
                       "windows"):
        aggregate([a], _sheet(["a", "b"]), Decision())
    with pytest.raises(InputError, match="not in the participant sheet"):
        aggregate([a], _sheet(["x"]), Decision())


def test_cli_on_the_inferred_cohort(windows, cohort, tmp_path, capsys):
    out = tmp_path / "percent_time.tsv"
    code = analysis_main(["aggregate", "--windows", str(next(iter(windows.values())).parent),
                          "--participants", str(cohort / "participants.tsv"), "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out, sep="\t", dtype={"participant_id": str})
    truth = pd.read_csv(cohort / "truth_percent_time.tsv", sep="\t", dtype={"participant_id": str})
    assert list(table.columns) == list(truth.columns)
    assert set(table["action"]) == set(truth["action"])
    assert sorted(table["participant_id"].unique()) == sorted(windows)
    assert table.groupby("participant_id")["percent_time"].sum().max() <= 100.0001
    assert (table["valid_s"] > 6).all()  # 2-s windows every 0.5 s over 8 s: 0-8 s covered
    assert pd.read_csv(tmp_path / "percent_time_exclusions.tsv", sep="\t").empty
    prov = json.loads((tmp_path / "percent_time.tsv.provenance.json").read_text())
    assert prov["step"] == "aggregate"
    assert prov["params"]["mode"] == "threshold" and prov["params"]["baseline"] == "median"
    assert len(prov["inputs"]) == len(windows) + 1  # every windows file and the sheet
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as stop:
        analysis_main(["aggregate", "--windows", str(tmp_path / "empty"), "--participants",
                       str(cohort / "participants.tsv"), "--out", str(out)])
    assert stop.value.code == 2 and "no windows files" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # a mistyped --model: one line, not a traceback
        analysis_main(["aggregate", "--windows", str(next(iter(windows.values())).parent),
                       "--participants", str(cohort / "participants.tsv"), "--out", str(out),
                       "--model", str(tmp_path / "no_model")])
    assert stop.value.code == 2 and "no_model: missing model.json" in capsys.readouterr().err


def test_timeline_figure_is_written(windows, cohort, tmp_path, poses):
    out = tmp_path / "timeline.png"
    code = analysis_main(["timeline", "--windows", str(windows["sub-001"]), "--pose",
                          str(poses["sub-001"]), "--truth", str(cohort / "truth_events.tsv"),
                          "--out", str(out)])
    assert code == 0 and out.stat().st_size > 5000
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_timeline_refuses_the_pose_of_another_recording(windows, poses, tmp_path, capsys):
    """A pose file of a video with another length or size would draw someone else's pose
    under this participant's actions."""
    with np.load(poses["sub-001"]) as data:
        arrays = dict(data)
    arrays["video_frames"] = np.int64(arrays["video_frames"] + 25)
    arrays["width"] = np.int64(arrays["width"] * 2)
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)
    with pytest.raises(SystemExit) as stop:
        analysis_main(["timeline", "--windows", str(windows["sub-001"]), "--pose", str(other),
                       "--out", str(tmp_path / "t.png")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "other.npz is not of the video windows file" in err
    assert "video_frames" in err and "width" in err
    assert not (tmp_path / "t.png").exists()


def test_analysis_never_imports_torch(tmp_path):
    probe = ("import sys, analysis.aggregate, analysis.timeline, analysis.__main__; "
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('torch', 'microdualnet'))))")
    res = subprocess.run([sys.executable, "-c", "import json; " + probe], capture_output=True,
                         text=True, check=True)
    assert json.loads(res.stdout) == []


def test_a_valid_window_without_a_probability_is_refused_by_name(tmp_path):
    """One NaN would otherwise drop the rest of the participant's time from valid time."""
    rows = [(0, 2, [0.7, 0.1, 0.2]), (1, 3, [np.nan, 0.1, 0.2]), (2, 4, None)]
    path = _windows(tmp_path, "a", rows, 4.0)
    with pytest.raises(InputError, match=r"a\.parquet: valid window 1 has prob_nodding nan, "
                       "expected a probability 0-1"):
        aggregate([path], _sheet(["a"]), Decision())
    path = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2]), (np.inf, 3, None)], 4.0)
    with pytest.raises(InputError, match=r"b\.parquet: window 1 has start_s inf, expected a "
                       "finite number"):
        read_windows(path)


def test_damaged_metadata_is_a_message_not_a_traceback(tmp_path):
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    arrow = pq.read_table(path)
    pq.write_table(arrow.replace_schema_metadata({b"microdualnet.windows": b"{not json"}), path)
    with pytest.raises(InputError, match=r"a\.parquet: its microdualnet.windows metadata is "
                       "not JSON"):
        read_windows(path)


def test_windows_made_with_other_settings_are_refused(tmp_path):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    b = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    c = _windows(tmp_path, "c", [], 1.5, excluded="video shorter than one window")
    for path, hop in ((a, 0.5), (b, 1.0), (c, 1.0)):
        table, meta = read_windows(path)
        write_windows(path, table, {**meta, "hop_s": hop, "window_s": 2.0})
    with pytest.raises(InputError, match=r"b\.parquet has hop_s 1\.0 but windows file .*"
                       r"a\.parquet has 0\.5: one analysis needs one model"):
        aggregate([a, b, c], _sheet(["a", "b", "c"]), Decision())
    table, excluded = aggregate([b, c], _sheet(["b", "c"]), Decision())
    assert table["participant_id"].unique().tolist() == ["b"] and len(excluded) == 1


def test_sheet_listing_a_participant_twice_is_refused(tmp_path, capsys):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text("participant_id\tgroup\na\tASD\na\tTDC\n")
    with pytest.raises(SystemExit) as stop:
        analysis_main(["aggregate", "--windows", str(a), "--participants", str(sheet),
                       "--out", str(tmp_path / "pt.tsv")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "column participant_id repeats on line 3" in err
    assert not (tmp_path / "pt.tsv").exists()


@pytest.mark.parametrize("bin_s", [0.0, float("nan"), float("inf")])
def test_bin_size_must_be_a_positive_number(bin_s):
    with pytest.raises(InputError, match="bin size must be a positive number"):
        Decision(bin_s=bin_s)


def test_timeline_names_a_missing_or_malformed_truth_file(tmp_path, capsys):
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    bad = tmp_path / "truth.tsv"
    bad.write_text("participant_id\taction\tstart_s\tend_s\na\tnodding\tsoon\t1.0\n")
    for truth, message in ((tmp_path / "none.tsv", "none.tsv does not exist"),
                           (bad, "column start_s is not a number on line 2")):
        with pytest.raises(SystemExit) as stop:
            analysis_main(["timeline", "--windows", str(path), "--truth", str(truth),
                           "--out", str(tmp_path / "t.png")])
        assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("bad", [1.5, -0.2])
def test_a_valid_window_with_a_probability_outside_0_1_is_refused(tmp_path, bad):
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (1, 3, [0.1, bad, 0.2])], 3.0)
    with pytest.raises(InputError, match=rf"a\.parquet: valid window 1 has prob_shaking legs "
                       rf"{bad}, expected a probability 0-1 \(a valid window is classified"):
        read_windows(path)


@pytest.mark.parametrize(("probs", "total"), [
    ([0.9, 0.8, 0.1], "1.8"),  # each class scored on its own (another tool's sigmoid)
    ([0.3, 0.2, 0.1], "0.6"),  # some of the classes (one left out when the file was made)
])
def test_valid_window_probabilities_must_sum_to_1(tmp_path, probs, total):
    """The threshold (0.6) and the resting level are on the model's softmax: scores of each
    class on its own passed the 0-1 check and labelled time with other rules."""
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (1, 3, probs)], 3.0)
    with pytest.raises(InputError, match=rf"a\.parquet: valid window 1's probabilities sum "
                       rf"to {total}, expected 1 \(the model's softmax"):
        read_windows(path)
    near = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2 + 3e-7])], 2.0)  # float32 rounding
    assert len(read_windows(near)[0]) == 1


def test_valid_stored_as_integers_is_refused(tmp_path):
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (1, 3, [0.1, 0.6, 0.3])], 3.0)
    table, meta = read_windows(path)
    write_windows(path, table.assign(valid=table["valid"].astype("int64")), meta)
    with pytest.raises(InputError, match=r"a\.parquet: column valid is int64, expected "
                       "true/false"):
        read_windows(path)


@pytest.mark.parametrize("names", [None, []])
def test_windows_without_class_names_are_refused(tmp_path, names):
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    table, meta = read_windows(path)
    meta = {k: v for k, v in meta.items() if k != "class_names"}
    if names is not None:
        meta["class_names"] = names
    write_windows(path, table, meta)
    with pytest.raises(InputError, match=r"a\.parquet lacks column\(s\) class_names$"):
        read_windows(path)


@pytest.mark.parametrize(("col", "bad"), [("view_start_s", np.nan), ("view_end_s", np.inf)])
def test_non_finite_view_columns_are_refused(tmp_path, col, bad):
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (1, 3, [0.1, 0.6, 0.3])], 3.0)
    table, meta = read_windows(path)
    table["view_start_s"] = table["start_s"].astype(float)
    table["view_end_s"] = table["end_s"].astype(float)
    table.loc[1, col] = bad
    write_windows(path, table, meta)
    with pytest.raises(InputError, match=rf"a\.parquet: window 1 has {col} {bad}, expected a "
                       "finite number of seconds"):
        read_windows(path)


def test_truth_percent_time_copies_the_table_and_names_the_cohort_record(tmp_path, capsys):
    """The workflow's truth path: the table byte for byte, an empty exclusions list, and a
    provenance record holding the cohort's (seed, planted effects)."""
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    truth = cohort / "truth_percent_time.tsv"
    truth.write_text("participant_id\tgroup\tage\tsex\taction\tpercent_time\tvalid_s\n"
                     "sub-001\tASD\t9\tm\tnodding\t12.345678\t60.0\n")
    (cohort / "provenance.json").write_text('{"step": "synth cohort", "params": {"seed": 7}}')
    out = tmp_path / "r" / "percent_time.tsv"
    assert analysis_main(["truth-percent-time", "--truth", str(truth), "--out", str(out)]) == 0
    assert out.read_bytes() == truth.read_bytes()
    assert (tmp_path / "r" / "percent_time_exclusions.tsv").read_text() == (
        "participant_id\treason\n")
    record = json.loads((tmp_path / "r" / "percent_time.tsv.provenance.json").read_text())
    assert record["step"] == "percent time from truth"
    assert record["params"]["cohort"]["params"]["seed"] == 7
    assert set(record["inputs"]) == {str(truth), str(cohort / "provenance.json")}
    # A table without its columns, or a damaged cohort record: one line naming the file.
    (cohort / "provenance.json").write_text("{")
    with pytest.raises(SystemExit, match="2"):
        analysis_main(["truth-percent-time", "--truth", str(truth), "--out",
                       str(tmp_path / "x.tsv")])
    assert "cohort provenance" in capsys.readouterr().err
    truth.write_text("participant_id\tpercent_time\nsub-001\t1\n")
    with pytest.raises(SystemExit, match="2"):
        analysis_main(["truth-percent-time", "--truth", str(truth), "--out",
                       str(tmp_path / "x.tsv")])
    assert "lacks column(s) ['group', 'action', 'valid_s']" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()


def test_a_mean_probability_at_the_threshold_is_an_action(tmp_path):
    """'Reaches the threshold': >=, both for the label and for leaving a median uncorrected."""
    path = _windows(tmp_path, "a", _nodding([0.5, 0.25]), 2.0)
    tl = participant_timeline(path, Decision(threshold=0.5, bin_s=1.0, baseline="none"))
    assert tl.label.tolist() == [0, -1]
    path = _windows(tmp_path, "b", _nodding([0.5, 0.5, 0.25]), 3.0)
    tl = participant_timeline(path, Decision(threshold=0.5, bin_s=1.0))
    assert tl.baseline.tolist() == [0.0, 0.0, 0.0] and tl.label.tolist() == [0, 0, -1]


def test_background_decision_with_the_background_class_not_last(tmp_path):
    table = pd.DataFrame({"start_s": [0.0, 1.0, 2.0], "end_s": [1.0, 2.0, 3.0],
                          "valid": True, "pose_fraction": 1.0,
                          "prob_nodding": [0.7, 0.1, 0.1], "prob_no action": [0.2, 0.8, 0.1],
                          "prob_shaking legs": [0.1, 0.1, 0.8]})
    meta = {"participant_id": "a", "class_names": ["nodding", "no action", "shaking legs"],
            "entities": [], "duration_s": 3.0, "min_pose_fraction": 0.5}
    path = write_windows(tmp_path / "a.parquet", table, meta)
    tl = participant_timeline(path, Decision("background", bin_s=1.0, baseline="none"))
    assert tl.actions == ["nodding", "shaking legs"] and tl.label.tolist() == [0, -1, 1]


def test_view_spans_are_not_bridged_across_a_window_left_out(tmp_path):
    """Where an invalid window lies between two valid ones (no pose there), the gap between
    their views is time nobody classified: it stays not valid."""
    rows = [(0, 2, [0.9, 0.0, 0.1]), (1, 3, None), (2, 4, [0.0, 0.0, 1.0])]
    path = _viewed(_windows(tmp_path, "a", rows, 4.0), [(0.5, 1.5), (1.5, 2.5), (2.5, 3.5)],
                   hop_s=1.0)
    tl = participant_timeline(path, Decision(bin_s=0.5, baseline="none", credit="view"))
    assert tl.valid.tolist() == [False, True, True, False, False, True, True, False]
    assert tl.valid_s == pytest.approx(2.0)


def test_too_little_valid_time_is_excluded_with_the_amount(tmp_path):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (2, 4, [0.1, 0.1, 0.8])], 4.0)
    b = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2])], 2.5)
    decision = Decision(bin_s=0.5)  # valid time exact in binary: 2.0 s is 2.0 s
    table, excluded = aggregate([a, b], _sheet(["a", "b"]), decision, min_valid_s=2.5)
    assert table["participant_id"].unique().tolist() == ["a"]
    assert excluded.to_dict("list") == {
        "participant_id": ["b"], "reason": ["only 2.0 s of valid time (< 2.5 s)"]}
    table, excluded = aggregate([a, b], _sheet(["a", "b"]), decision, min_valid_s=2.0)
    assert table["participant_id"].unique().tolist() == ["a", "b"] and excluded.empty


def test_windows_that_cannot_form_one_table_are_refused(tmp_path):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    (tmp_path / "copy").mkdir()
    again = _windows(tmp_path / "copy", "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    with pytest.raises(InputError, match=r"participant\(s\) a have more than one windows"):
        aggregate([a, again], _sheet(["a"]), Decision())
    with pytest.raises(InputError, match=r"covariate\(s\) \['sex'\] are not columns of the "
                       "participant sheet"):
        aggregate([a], _sheet(["a"]), Decision(), covariates=["age", "sex"])
    b = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    table, meta = read_windows(b)
    renamed = table.rename(columns={"prob_nodding": "prob_nod"})
    write_windows(b, renamed, {**meta, "class_names": ["nod", "shaking legs", "no action"]})
    with pytest.raises(InputError, match=r"participant b: classes \['nod', 'shaking legs'\] "
                       r"differ from \['nodding', 'shaking legs'\]"):
        aggregate([a, b], _sheet(["a", "b"]), Decision())


def test_default_covariates_leave_out_the_workflows_own_columns(tmp_path):
    """Where the video is, which seat is the participant's and each coder's file (a path that
    often names the child) are not participant attributes: by default only the sheet's other
    columns are carried (the table is in `snakemake --report`)."""
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    sheet = _sheet(["a"]).assign(participant_side="left", participant_box="",
                                 codings_anna="codings/anna/a.tsv", sex="f", coded="yes")
    table, _ = aggregate([a], sheet, Decision())
    assert list(table.columns) == ["participant_id", "group", "age", "sex", "coded", "action",
                                   "percent_time", "valid_s"]
    chosen, _ = aggregate([a], sheet, Decision(), covariates=["participant_side"])
    assert chosen["participant_side"].tolist() == ["left", "left"]


def test_the_participant_comes_from_the_metadata_not_the_file_name(tmp_path):
    path = _windows(tmp_path, "sub-007", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    renamed = path.rename(tmp_path / "copy of it.parquet")
    assert participant_timeline(renamed, Decision()).participant_id == "sub-007"


def test_cli_writes_what_aggregate_computes(tmp_path):
    a = _windows(tmp_path, "a", [(0, 3, [0.7, 0.1, 0.2]), (3, 7, [0.1, 0.7, 0.2])], 7.0)
    b = _windows(tmp_path, "b", [(0, 3, [0.1, 0.1, 0.8])], 3.0)
    sheet = tmp_path / "sheet.tsv"
    _sheet(["a", "b"]).assign(sex=["f", "m"]).to_csv(sheet, sep="\t", index=False)
    out = tmp_path / "out" / "pt.tsv"
    out.parent.mkdir()
    assert analysis_main(["aggregate", "--windows", str(a), str(b), "--participants",
                          str(sheet), "--out", str(out), "--covariates", " sex, ,age",
                          "--min-valid-s", "3.5", "--baseline", "none"]) == 0
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["participant_id", "group", "sex", "age", "action",
                                   "percent_time", "valid_s"]
    assert table["percent_time"].tolist() == pytest.approx([100 * 3 / 7, 100 * 4 / 7],
                                                           abs=1e-6)
    excluded = pd.read_csv(tmp_path / "out" / "pt_exclusions.tsv", sep="\t")
    assert excluded.to_dict("list") == {"participant_id": ["b"],
                                        "reason": ["only 3.0 s of valid time (< 3.5 s)"]}
    params = json.loads((tmp_path / "out" / "pt.tsv.provenance.json").read_text())["params"]
    assert params["min_valid_s"] == 3.5 and params["covariates"] == ["sex", "age"]
    assert params["baseline"] == "none"


def test_cli_writes_every_participants_inference_warnings_in_participant_order(tmp_path):
    """infer's warnings (windows metadata) reach one table, no path in it: a slow video, the
    interviewer in a full-view model's input, neither, and a file written before infer
    recorded them (empty cells)."""
    slow = "the video is 5 fps, slower than the 8.33 frames a second the model samples"
    others = "another person is in the full-view model's input (x 77-558 y 0-480 px) in 96%"
    rows = [(0, 2, [0.7, 0.1, 0.2])]
    files = [_windows(tmp_path, "d", rows, 2.0),
             _windows(tmp_path, "c", rows, 2.0, repeated_frame_share=0.3333,
                      frame_rate_warning=slow, others_in_view_share=0.9612,
                      others_in_view_warning=others),
             _windows(tmp_path, "b", rows, 2.0, repeated_frame_share=0.0,
                      frame_rate_warning=None, others_in_view_share=0.05,
                      others_in_view_warning=None),
             _windows(tmp_path, "a", rows, 2.0, repeated_frame_share=0.25,
                      frame_rate_warning=slow, others_in_view_share=None,
                      others_in_view_warning=None)]
    sheet = tmp_path / "sheet.tsv"
    pd.DataFrame({"participant_id": list("abcd"), "group": "ASD"}).to_csv(sheet, sep="\t",
                                                                         index=False)
    out = tmp_path / "pt.tsv"
    assert analysis_main(["aggregate", "--windows", *map(str, files), "--participants",
                          str(sheet), "--out", str(out)]) == 0
    assert (tmp_path / "pt_quality.tsv").read_text() == (
        "participant_id\trepeated_frame_share\tframe_rate_warning\tothers_in_view_share\t"
        "others_in_view_warning\n"
        f"a\t0.2500\t{slow}\t\t\n"
        "b\t0.0000\t\t0.0500\t\n"
        f"c\t0.3333\t{slow}\t0.9612\t{others}\n"
        "d\t\t\t\t\n")
    chosen = tmp_path / "elsewhere.tsv"
    assert analysis_main(["aggregate", "--windows", *map(str, files[::-1]), "--participants",
                          str(sheet), "--out", str(out), "--quality", str(chosen)]) == 0
    assert chosen.read_bytes() == (tmp_path / "pt_quality.tsv").read_bytes()


def test_cli_reads_each_windows_files_metadata_once(tmp_path, monkeypatch):
    """The model check, the settings check and the quality table share one read of each
    file's metadata (the table's own read aside)."""
    from pipeio.modelfiles import model_digest

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    files = [_windows(tmp_path, pid, [(0, 2, [0.7, 0.1, 0.2])], 2.0,
                      model_sha256=model_digest(model)) for pid in ("a", "b")]
    sheet = tmp_path / "sheet.tsv"
    _sheet(["a", "b"]).to_csv(sheet, sep="\t", index=False)
    read_schema, reads = pq.read_schema, []

    def counted(where, *args, **kwargs):
        reads.append(Path(where).name)
        return read_schema(where, *args, **kwargs)

    monkeypatch.setattr(pq, "read_schema", counted)
    assert analysis_main(["aggregate", "--windows", *map(str, files), "--participants",
                          str(sheet), "--out", str(tmp_path / "pt.tsv"), "--model",
                          str(model)]) == 0
    assert reads == ["a.parquet", "b.parquet"]


def test_bins_end_with_the_video(tmp_path):
    """2.1 s / 0.3 s is 7.000000000000001 in floating point: 7 bins, not an 8th of width
    zero; a last bin cut by the video's end counts only its own length as valid time."""
    path = _windows(tmp_path, "a", [(0, 2.1, [1.0, 0.0, 0.0])], 2.1)
    tl = participant_timeline(path, Decision(bin_s=0.3, baseline="none"))
    assert len(tl.bin_start) == 7 and (tl.bin_width > 0.2999).all()
    path = _windows(tmp_path, "b", [(0, 2, [0.9, 0.0, 0.1]), (2, 2.8, [0.0, 0.0, 1.0])], 2.8)
    tl = participant_timeline(path, Decision(bin_s=1.0, baseline="none"))
    assert tl.bin_width.tolist() == pytest.approx([1.0, 1.0, 0.8])
    assert tl.valid_s == pytest.approx(2.8)
    assert tl.percent_time()["nodding"] == pytest.approx(100 * 2 / 2.8)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "max"}, "decision must be background or threshold, got 'max'"),
    ({"threshold": 1.5}, "threshold must be within 0-1, got 1.5"),
    ({"threshold": -0.1}, "threshold must be within 0-1, got -0.1"),
])
def test_decision_settings_are_checked(kwargs, message):
    with pytest.raises(InputError, match=message):
        Decision(**kwargs)


def test_no_valid_time_has_no_resting_level(tmp_path):
    path = _windows(tmp_path, "a", [(0, 2, None), (1, 3, None)], 3.0)
    tl = participant_timeline(path, Decision())
    assert tl.baseline.tolist() == [0.0, 0.0, 0.0] and tl.excluded.startswith("no valid window")


def test_the_last_cut_bin_is_placed_by_its_own_centre(tmp_path):
    """2.4 s in 1-s bins: the last bin is 2.0-2.4 s, centred at 2.2 s (not 2.5 s, past the
    video's end), so the window that reaches the end gives it its probabilities."""
    path = _windows(tmp_path, "a", [(0, 2, [0.9, 0.0, 0.1]), (2, 2.4, [0.0, 0.0, 1.0])], 2.4)
    tl = participant_timeline(path, Decision(bin_s=1.0, baseline="none"))
    assert tl.valid.tolist() == [True, True, True]
    assert tl.valid_s == pytest.approx(2.4)
    assert tl.percent_time()["nodding"] == pytest.approx(100 * 2 / 2.4)


@pytest.mark.parametrize(("start", "end"), [
    (0.0, 0.05), (0.0, 0.051), (0.05, 0.15), (0.049, 0.15), (8.15, 8.25), (8.1, 8.2),
    (7.3, 7.37), (7.33, 7.37), (7.34, 7.37), (7.335, 7.37), (3.0, 7.37), (0.0, 7.37)])
def test_a_window_and_a_coded_event_of_one_span_cover_the_same_bins(tmp_path, start, end):
    """The model's bins (a valid window's span) and a coder's (an event's span) are placed
    by one rule, also on the centres (8.15 s) and in the last bin, cut at 7.37 s."""
    from analysis.agreement.compare import rate_events

    path = _windows(tmp_path, "a", [(start, end, [1.0, 0.0, 0.0])], 7.37)
    tl = participant_timeline(path, Decision(bin_s=0.1, baseline="none"))
    event = pd.DataFrame({"action": ["nodding"], "start_s": [start], "end_s": [end]})
    coded = rate_events(event, tl.bin_start, tl.bin_width, ["nodding"]).masks["nodding"]
    assert len(tl.bin_start) == 74 and tl.bin_width[-1] == pytest.approx(0.07)
    assert tl.valid.tolist() == coded.tolist()
    # by hand: the bins whose centre (the last one's is 7.335 s) lies in [start, end)
    centres = [(k + 0.5) / 10 for k in range(73)] + [7.335]
    assert np.flatnonzero(coded).tolist() == [k for k, c in enumerate(centres)
                                              if start - 1e-9 <= c < end - 1e-9]


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_threshold_may_be_either_end_of_0_1(threshold):
    assert Decision(threshold=threshold).threshold == threshold


def test_default_decision_is_threshold_0_6_on_0_1_s_bins(tmp_path):
    """Nodding at 0.6 (the default threshold) is an action; at 0.55 it is not, though it is
    the most probable class (which the background decision would label)."""
    path = _windows(tmp_path, "a", [(0, 1, [0.6, 0.0, 0.4]), (1, 2, [0.55, 0.05, 0.4])], 2.0)
    tl = participant_timeline(path, Decision(baseline="none"))
    assert len(tl.bin_start) == 20 and tl.bin_width == pytest.approx(np.full(20, 0.1))
    assert tl.label.tolist() == [0] * 10 + [-1] * 10


def test_no_valid_time_has_no_percent_time(tmp_path):
    path = _windows(tmp_path, "a", [(0, 2, None)], 2.0)
    tl = participant_timeline(path, Decision())
    assert tl.valid_s == 0.0
    percent = tl.percent_time()
    assert list(percent) == ["nodding", "shaking legs"]
    assert all(np.isnan(v) for v in percent.values())


def test_a_bin_belongs_to_the_windows_covering_its_centre(tmp_path):
    """1-s bins (centres 0.5, 1.5, 2.5 s): a window over 0.7-2.2 s covers only the middle
    one. And 2.1 / 0.6 is 3.5000000000000004 in floating point: the bin centred on 2.1 s
    (bin 3 of 0.6 s) is still the second window's, whose span starts there, not the first's,
    whose span ends there."""
    path = _windows(tmp_path, "a", [(0.7, 2.2, [0.9, 0.0, 0.1])], 3.0)
    tl = participant_timeline(path, Decision(bin_s=1.0, baseline="none"))
    assert tl.valid.tolist() == [False, True, False]
    path = _windows(tmp_path, "b", [(0, 2.1, [0.9, 0.0, 0.1]), (2.1, 4.2, [0.0, 0.9, 0.1])],
                    4.2)
    tl = participant_timeline(path, Decision(bin_s=0.6, baseline="none"))
    assert tl.label.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert tl.percent_time() == pytest.approx({"nodding": 100 * 1.8 / 4.2,
                                               "shaking legs": 100 * 2.4 / 4.2})


def test_threshold_decision_with_the_background_class_not_last(tmp_path):
    table = pd.DataFrame({"start_s": [0.0, 1.0], "end_s": [1.0, 2.0], "valid": True,
                          "pose_fraction": 1.0, "prob_nodding": [0.7, 0.1],
                          "prob_no action": [0.2, 0.2], "prob_shaking legs": [0.1, 0.7]})
    meta = {"participant_id": "a", "class_names": ["nodding", "no action", "shaking legs"],
            "entities": [], "duration_s": 2.0, "min_pose_fraction": 0.5}
    path = write_windows(tmp_path / "a.parquet", table, meta)
    tl = participant_timeline(path, Decision(bin_s=1.0, baseline="none"))
    assert tl.actions == ["nodding", "shaking legs"] and tl.label.tolist() == [0, 1]


def test_view_credit_needs_the_hop_and_spares_exclusion_records(tmp_path):
    rows = [(0, 2, [0.9, 0.0, 0.1]), (1, 3, [0.0, 0.0, 1.0])]
    a = _windows(tmp_path, "a", rows, 3.0)
    table, meta = read_windows(a)
    write_windows(a, table.assign(view_start_s=[0.5, 1.5], view_end_s=[1.5, 2.5]), meta)
    with pytest.raises(InputError, match=r"a\.parquet lacks hop_s in its metadata, which "
                       "credit 'view' needs"):
        participant_timeline(a, Decision(credit="view"))
    _viewed(_windows(tmp_path, "a", rows, 3.0), [(0.5, 1.5), (1.5, 2.5)], hop_s=1.0)
    c = _windows(tmp_path, "c", [], 1.5, excluded="video shorter than one window")
    table, excluded = aggregate([a, c], _sheet(["a", "c"]), Decision(credit="view"))
    assert table["participant_id"].unique().tolist() == ["a"]
    assert excluded.to_dict("list") == {"participant_id": ["c"],
                                        "reason": ["video shorter than one window"]}


def test_view_spans_meet_whatever_the_row_order(tmp_path):
    """The frame-grid case below with the windows stored last to first."""
    rows = [(2, 4, [0.0, 0.0, 1.0]), (1, 3, [0.0, 0.0, 1.0]), (0, 2, [0.9, 0.0, 0.1])]
    path = _viewed(_windows(tmp_path, "a", rows, 4.0),
                   [(2.48, 3.44), (1.60, 2.56), (0.52, 1.48)], hop_s=1.0)
    tl = participant_timeline(path, Decision(bin_s=0.02, baseline="none", credit="view"))
    first, last = np.flatnonzero(tl.valid)[[0, -1]]
    assert tl.valid[first:last + 1].all()
    assert tl.percent_time()["nodding"] == pytest.approx(100 * (1.54 - 0.50) / 2.96)


def test_bins_cover_the_whole_video_even_past_the_last_window(tmp_path):
    path = _windows(tmp_path, "a", [(0, 2, [0.9, 0.0, 0.1]), (2, 4, [0.0, 0.0, 1.0])], 5.0)
    tl = participant_timeline(path, Decision(bin_s=1.0, baseline="none"))
    assert tl.bin_start.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert tl.valid.tolist() == [True] * 4 + [False] and tl.valid_s == 4.0


def test_windows_files_skips_hidden_temporaries_and_sorts_by_name(tmp_path):
    for name in ("b.parquet", "a.parquet", ".123.a.tmp.parquet", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    other = tmp_path / "x.parquet"  # a file named on its own is taken as it is
    assert windows_files([tmp_path, other]) == [tmp_path / "a.parquet",
                                                tmp_path / "b.parquet", other]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no windows files found in \['.*empty'\]"):
        windows_files([tmp_path / "empty"])


def test_every_participant_missing_a_windows_file_is_named(tmp_path):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    with pytest.raises(InputError, match=r"\(s\) b, c are in the sheet but without"):
        aggregate([a], _sheet(["a", "b", "c"]), Decision())


def _big_sheet(pids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"participant_id": pids, "group": "ASD",
                         "video": [f"{p}.mp4" for p in pids]})


def test_a_long_list_of_missing_participants_says_how_many_it_leaves_out(tmp_path):
    """A cohort of hundreds run on part of its windows files: the message names the first
    few and counts the rest, not the first few alone as if they were all."""
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    missing = [f"m{i:02d}" for i in range(40)]
    with pytest.raises(InputError, match=r"participant\(s\) m00, m01, m02, m03, m04, m05, "
                       r"m06, m07 and 32 more are in the sheet but without a windows file"):
        aggregate([a], _big_sheet(["a", *missing]), Decision())
    files = [_windows(tmp_path, f"p{i:02d}", [(0, 2, [0.7, 0.1, 0.2])], 2.0) for i in range(10)]
    with pytest.raises(InputError, match=r"participant\(s\) p00, p01, p02, p03, p04, p05, "
                       r"p06, p07 and 2 more have more than one windows file \(p00: "):
        aggregate(files + files, _big_sheet([f"p{i:02d}" for i in range(10)]), Decision())


def test_cli_credit_view_and_the_default_decision(tmp_path):
    rows = [(0, 2, [0.9, 0.0, 0.1]), (1, 3, [0.0, 0.0, 1.0]), (2, 4, [0.0, 0.0, 1.0])]
    path = _viewed(_windows(tmp_path, "a", rows, 4.0), [(0.5, 1.5), (1.5, 2.5), (2.5, 3.5)],
                   hop_s=1.0)
    sheet = tmp_path / "sheet.tsv"
    _sheet(["a"]).to_csv(sheet, sep="\t", index=False)
    out = tmp_path / "pt.tsv"
    assert analysis_main(["aggregate", "--windows", str(path), "--participants", str(sheet),
                          "--out", str(out), "--baseline", "none", "--credit", "view"]) == 0
    table = pd.read_csv(out, sep="\t")
    # As in test_view_credit_puts_a_decision_where_its_frames_were: 1 s of 3 s valid.
    assert table["percent_time"].tolist() == pytest.approx([100 / 3, 0.0], abs=1e-6)
    assert table["valid_s"].tolist() == pytest.approx([3.0, 3.0])
    params = json.loads((tmp_path / "pt.tsv.provenance.json").read_text())["params"]
    assert params["credit"] == "view"
    assert analysis_main(["aggregate", "--windows", str(path), "--participants", str(sheet),
                          "--out", str(out)]) == 0
    params = json.loads((tmp_path / "pt.tsv.provenance.json").read_text())["params"]
    assert {k: params[k] for k in ("mode", "threshold", "bin_s", "baseline", "credit")} == {
        "mode": "threshold", "threshold": 0.6, "bin_s": 0.1, "baseline": "median",
        "credit": "window"}


def test_the_first_bad_valid_window_is_named_by_its_row(tmp_path):
    """Invalid windows before it count: the row named is the file's row."""
    rows = [(0, 2, None), (1, 3, [0.2, 0.3, 0.5]), (2, 4, [0.1, -0.1, 1.0]),
            (3, 5, [np.nan, 0.1, 0.2])]
    path = _windows(tmp_path, "a", rows, 5.0)
    with pytest.raises(InputError, match=r"a\.parquet: valid window 2 has prob_shaking legs "
                       r"-0\.1, expected a probability 0-1"):
        read_windows(path)
    path = _windows(tmp_path, "b", [(0, 2, [1.0, 0.0, 0.0]), (np.nan, 3, None),
                                    (np.inf, 4, None), (4, 6, None)], 6.0)
    with pytest.raises(InputError, match=r"b\.parquet: window 1 has start_s nan"):
        read_windows(path)


def test_probabilities_of_exactly_0_and_1_are_valid(tmp_path):
    path = _windows(tmp_path, "a", [(0, 2, [1.0, 0.0, 0.0]), (2, 4, [0.0, 1.0, 0.0])], 4.0)
    table, meta = read_windows(path)
    assert table["prob_nodding"].tolist() == [1.0, 0.0] and meta["class_names"] == CLASSES


def test_a_windows_file_round_trips_its_metadata(tmp_path):
    meta = {"participant_id": "a", "class_names": CLASSES, "entities": ["hand"],
            "duration_s": 4.0, "model_fps": 12.5, "window_s": 2.0, "hop_s": 1.0,
            "view": {"kind": "person"}, "excluded": None}
    table = pd.DataFrame({"start_s": [0.0], "end_s": [2.0], "valid": [True],
                          **{f"prob_{c}": [1 / 3] for c in CLASSES}})
    write_windows(tmp_path / "a.parquet", table, meta)
    got, got_meta = read_windows(tmp_path / "a.parquet")
    assert got_meta == meta
    pd.testing.assert_frame_equal(got, table)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda p: p.unlink(), r"a\.parquet does not exist$"),
    (lambda p: p.write_bytes(b"not parquet"), r"a\.parquet is not readable Parquet"),
    (lambda p: pq.write_table(pq.read_table(p).replace_schema_metadata({}), p),
     r"a\.parquet lacks its microdualnet\.windows metadata$"),
    (lambda p: pq.write_table(pq.read_table(p).replace_schema_metadata(
        {b"microdualnet.windows": b"[1, 2]"}), p),
     r"a\.parquet: its microdualnet\.windows metadata is not a JSON object$"),
    # a flipped byte in pandas' own metadata: was a TypeError from to_pandas
    (lambda p: pq.write_table(pq.read_table(p).replace_schema_metadata({
        **pq.read_table(p).schema.metadata, b"pandas": pq.read_table(p).schema.metadata[
            b"pandas"].replace(b'"numpy_type": "float64"', b'"numpy_type": "flost64"')}), p),
     r"a\.parquet is not readable Parquet \(data type 'flost64' not understood\)$"),
    # pandas' metadata cut short, and nested too deep (was a RecursionError)
    (lambda p: pq.write_table(pq.read_table(p).replace_schema_metadata({
        **pq.read_table(p).schema.metadata,
        b"pandas": pq.read_table(p).schema.metadata[b"pandas"][:-5]}), p),
     r"a\.parquet is not readable Parquet \(Unterminated string"),
    (lambda p: pq.write_table(pq.read_table(p).replace_schema_metadata({
        **pq.read_table(p).schema.metadata, b"pandas": b"[" * 100_000}), p),
     r"a\.parquet is not readable Parquet \(maximum recursion depth exceeded"),
    (lambda p: pq.write_table(pq.read_table(p).replace_schema_metadata({
        **pq.read_table(p).schema.metadata, b"microdualnet.windows": b"[" * 100_000}), p),
     r"a\.parquet: its microdualnet\.windows metadata is not JSON \(maximum recursion depth"),
    (lambda p: pq.write_table(pq.read_table(p).drop(["valid"]), p),
     r"a\.parquet lacks column\(s\) \['valid'\]$"),
    (lambda p: pq.write_table(pq.read_table(p).drop(["prob_no action"]), p),
     r"a\.parquet lacks column\(s\) \['prob_no action'\]$"),
])
def test_a_damaged_windows_file_is_named(tmp_path, damage, message):
    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    damage(path)
    with pytest.raises(InputError, match=rf"^windows file {tmp_path}/{message}"):
        read_windows(path)


def test_a_damaged_parquet_footer_is_named_in_one_line(tmp_path):
    """Arrow's message for a footer it cannot decode ends in a line break, which broke the
    one-line error (here: a byte of the footer flipped, as a bad copy does)."""
    from pipeio.windows import windows_metadata

    path = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF
    path.write_bytes(bytes(data))
    for read in (read_windows, windows_metadata):
        with pytest.raises(InputError, match=rf"^windows file {tmp_path}/a\.parquet is not "
                           r"readable Parquet \(.*Couldn't deserialize thrift.*\)") as err:
            read(path)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(("key", "one", "other"), [
    ("model_sha256", "ab" * 32, "cd" * 32), ("window_s", 2.0, 3.0), ("hop_s", 1.0, 0.5),
    ("min_pose_fraction", 0.5, 0.6), ("model_fps", 12.5, 25.0),
    ("frames_per_window", 16, 32), ("view", {"kind": "person"}, {"kind": "frame"})])
def test_each_shared_setting_must_agree_where_recorded(tmp_path, key, one, other):
    from pipeio.windows import check_same_settings, files_metadata

    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    b = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    c = _windows(tmp_path, "c", [], 1.5, excluded="video shorter than one window")
    for path, value in ((a, one), (b, one)):
        table, meta = read_windows(path)
        write_windows(path, table, {**meta, key: value})
    check_same_settings(files_metadata([a, c, b]))  # the exclusion record does not record it
    table, meta = read_windows(b)
    write_windows(b, table, {**meta, key: other})
    with pytest.raises(InputError, match=rf"b\.parquet has {key} .* but windows file .*"
                       r"a\.parquet has "):
        check_same_settings(files_metadata([a, c, b]))


def test_metadata_in_the_files_order_and_quality_by_the_participant_it_names(tmp_path):
    """A windows file renamed by hand is still its participant's; the checks name the
    files in the order given."""
    from analysis.aggregate import inference_quality
    from pipeio.windows import files_metadata

    b = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0, repeated_frame_share=0.25)
    renamed = a.rename(tmp_path / "copy of a.parquet")
    metadata = files_metadata([renamed, b])
    assert list(metadata) == [renamed, b]
    quality = inference_quality(metadata)
    assert list(quality["participant_id"]) == ["a", "b"]
    assert list(quality["repeated_frame_share"].fillna(-1)) == [0.25, -1]


def test_windows_of_another_or_an_unrecorded_model_are_refused(tmp_path):
    from pipeio.modelfiles import model_digest
    from pipeio.windows import check_made_by, files_metadata

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    digest = model_digest(model)
    ours = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    table, meta = read_windows(ours)
    write_windows(ours, table, {**meta, "model_sha256": digest})
    unrecorded = _windows(tmp_path, "b", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    other = _windows(tmp_path, "c", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    write_windows(other, table, {**meta, "model_sha256": "0123456789ab" + "0" * 52})
    check_made_by(files_metadata([ours]), model)
    with pytest.raises(InputError, match=rf"b\.parquet was made by a model it does not record, "
                       rf"not by the model in {model} \({digest[:12]}\); run its infer job"):
        check_made_by(files_metadata([ours, unrecorded]), model)
    with pytest.raises(InputError, match=r"c\.parquet was made by model 0123456789ab, not by"):
        check_made_by(files_metadata([other]), model)
    bare = _windows(tmp_path, "d", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    pq.write_table(pq.read_table(bare).replace_schema_metadata({}), bare)  # no metadata at all
    with pytest.raises(InputError, match=r"d\.parquet was made by a model it does not record"):
        check_made_by(files_metadata([bare]), model)


def test_an_action_at_probability_0_is_no_action_even_at_threshold_0(tmp_path, caplog):
    """Hand-coded one-hot windows at threshold 0: a background row ([0, 0, 1]) left every
    action at 0, which argmax gave to the first action (nodding 100%, not 25%); and a resting
    level of 0 was reported as one that 'would fill most' of the time."""
    rows = [(0, 1, [1.0, 0.0, 0.0]), (1, 4, [0.0, 0.0, 1.0])]
    path = _windows(tmp_path, "a", rows, 4.0)
    for baseline in ("none", "median"):
        tl = participant_timeline(path, Decision(threshold=0.0, bin_s=1.0, baseline=baseline))
        assert tl.label.tolist() == [0, -1, -1, -1]
        assert tl.percent_time() == pytest.approx({"nodding": 25.0, "shaking legs": 0.0})
    assert "would fill most" not in caplog.text


def test_bins_longer_than_the_windows_are_refused(tmp_path):
    """2-s windows in 5-s bins: a bin stands for the windows over its centre, so the first
    window (nodding, 0-2 s) covered none and the child's 20% came out as 0%."""
    rows = [(0, 2, [0.9, 0.0, 0.1]), *((t, t + 2, [0.0, 0.0, 1.0]) for t in (2, 4, 6, 8))]
    table, meta = read_windows(_windows(tmp_path, "a", rows, 10.0))
    path = write_windows(tmp_path / "a.parquet", table, {**meta, "window_s": 2.0, "hop_s": 2.0})
    with pytest.raises(InputError, match=r"bins of 5 s are longer than the 2 s a window's "
                                         r"probabilities are credited to \(window_s in its "
                                         r"metadata, credit window\)"):
        participant_timeline(path, Decision(bin_s=5.0))
    tl = participant_timeline(path, Decision(bin_s=2.0))
    assert tl.percent_time() == pytest.approx({"nodding": 20.0, "shaking legs": 0.0})


def test_a_file_without_windows_or_reason_is_not_blamed_on_pose(tmp_path):
    path = _windows(tmp_path, "a", [], 1.5)
    assert participant_timeline(path, Decision()).excluded == (
        "no window at all (a video shorter than one window?)")


def test_sheet_columns_named_like_the_tables_own_are_refused_or_not_repeated(tmp_path):
    """A sheet column `valid_s` (the study's own count) was carried by default as a second
    `valid_s` column of the table, its values replaced by the computed ones; `group` or a
    covariate named twice were repeated columns too."""
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    sheet = _sheet(["a"]).assign(valid_s=100.0)
    with pytest.raises(InputError, match=r"^participant sheet column\(s\) \['valid_s'\] have "
                       r"the name of a column aggregate computes \(action, percent_time, "
                       r"valid_s\): rename them"):
        aggregate([a], sheet, Decision())
    table, _ = aggregate([a], sheet, Decision(), covariates=["group", "age", "age"])
    assert list(table.columns) == ["participant_id", "group", "age", "action",
                                   "percent_time", "valid_s"]


def test_a_windows_file_copied_under_another_name_names_both_files(tmp_path):
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    copy = tmp_path / "b.parquet"
    copy.write_bytes(a.read_bytes())
    with pytest.raises(InputError, match=rf"\(s\) a have more than one windows file \(a: {a}, "
                       rf"{copy}; the participant_id in a file's metadata names its"):
        aggregate([a, copy], _sheet(["a", "b"]), Decision())


def test_the_files_and_sheet_rows_in_another_order_change_no_byte(tmp_path, monkeypatch):
    """The table and the exclusions are in participant order, whichever order the windows
    files are given in (the workflow: the sheet's), the sheet's rows are in, or the folder the
    command runs from."""
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2]), (1, 3, [0.2, 0.7, 0.1])], 3.0)
    b = _windows(tmp_path, "b", [(0, 2, None), (1, 3, None)], 3.0)
    c = _windows(tmp_path, "c", [(0, 3, [0.1, 0.8, 0.1])], 3.0)
    d = _windows(tmp_path, "d", [], 1.5, excluded="video shorter than one window")
    sheet = pd.DataFrame({"participant_id": list("abcd"), "group": ["ASD", "TDC", "PSY", "ASD"],
                          "video": [f"{p}.mp4" for p in "abcd"]})
    outputs = []
    for name, files, rows in (("one", [a, b, c, d], [0, 1, 2, 3]),
                              ("two", [d, c, b, a], [2, 0, 3, 1])):
        folder = tmp_path / name
        (folder / "sub").mkdir(parents=True)
        sheet.iloc[rows].to_csv(folder / "sheet.tsv", sep="\t", index=False)
        monkeypatch.chdir(folder / "sub")
        assert analysis_main(["aggregate", "--windows", *map(str, files), "--participants",
                              "../sheet.tsv", "--out", "../pt.tsv"]) == 0
        outputs.append([(folder / f).read_bytes() for f in ("pt.tsv", "pt_exclusions.tsv")])
    assert outputs[0] == outputs[1]
    table = pd.read_csv(tmp_path / "one" / "pt.tsv", sep="\t")
    assert list(dict.fromkeys(table["participant_id"])) == ["a", "c"]
    excluded = pd.read_csv(tmp_path / "one" / "pt_exclusions.tsv", sep="\t")
    assert excluded["participant_id"].tolist() == ["b", "d"]


def test_windows_given_twice_adds_to_the_first(tmp_path):
    """`--windows a --windows b` is one list: a repeated option once kept only the last
    files, and the participants of the first were left out of the table without a word."""
    files = [_windows(tmp_path, pid, [(0, 2, [0.7, 0.1, 0.2])], 2.0) for pid in "ab"]
    _sheet(["a", "b"]).to_csv(tmp_path / "sheet.tsv", sep="\t", index=False)
    once, twice = tmp_path / "once.tsv", tmp_path / "twice.tsv"
    for out, windows in ((once, ["--windows", *map(str, files)]),
                         (twice, ["--windows", str(files[0]), "--windows", str(files[1])])):
        assert analysis_main(["aggregate", *windows, "--participants",
                              str(tmp_path / "sheet.tsv"), "--out", str(out)]) == 0
    assert twice.read_bytes() == once.read_bytes()
    assert set(pd.read_csv(twice, sep="\t")["participant_id"]) == {"a", "b"}


def test_the_exclusions_file_names_no_video_the_log_keeps_it(tmp_path, caplog):
    """A video named after the child, spaces and all, stays out of the exclusions TSV (it is
    shared) but not out of the log; what went wrong stays readable."""
    video = "study/visits/Emma Smith/Emma Smith 2024-03-01.mp4"
    a = _windows(tmp_path, "a", [(0, 2, [0.7, 0.1, 0.2])], 2.0)
    b = _windows(tmp_path, "b", [], 2.0, video=video,
                 excluded=f"infer: video {video} is not readable; pose file x/b.npz.")
    sheet = tmp_path / "sheet.tsv"
    _sheet(["a", "b"]).assign(video=["a.mp4", "visits/Emma Smith/Emma Smith 2024-03-01.mp4"]
                              ).to_csv(sheet, sep="\t", index=False)
    assert analysis_main(["aggregate", "--windows", str(a), str(b), "--participants",
                          str(sheet), "--out", str(tmp_path / "pt.tsv"), "-v"]) == 0
    assert (tmp_path / "pt_exclusions.tsv").read_text() == (
        "participant_id\treason\nb\tinfer: video <path> is not readable; pose file <path>.\n")
    assert f"excluded participant b: infer: video {video} is not" in caplog.text
