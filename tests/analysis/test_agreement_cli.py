"""`python -m analysis agreement`: sources on one bin grid, the pairs compared, the outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main as analysis_main
from analysis.aggregate import bin_grid
from analysis.agreement import stage
from analysis.agreement.compare import compare, rate_events
from analysis.codings.boris import write_boris_tabular
from analysis.codings.elan import write_elan
from pipeio.windows import read_windows, write_windows

CLASSES = ["nodding", "shaking legs", "no action"]
ACTIONS = CLASSES[:2]


def ev(pid: str, rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([(pid, a, s, e) for a, s, e in rows],
                        columns=["participant_id", "action", "start_s", "end_s"])


def _run_two_coders(tmp_path: Path, *extra: str) -> Path:
    """`agreement` of coders a and b (folders under tmp_path) and the model (windows/), raw
    decisions, into tmp_path/agreement (returned); `extra` arguments are added."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n  shaking legs: shaking legs\n")
    out = tmp_path / "agreement"
    assert analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}",
                          f"b={tmp_path / 'b'}", "--mapping", str(mapping), "--windows",
                          str(tmp_path / "windows"), "--out-dir", str(out),
                          "--decision", "background", "--baseline", "none", *extra]) == 0
    return out


def _agree_two_coders(tmp_path: Path) -> pd.DataFrame:
    """`_run_two_coders`' table by (reference, compared, action)."""
    table = pd.read_csv(_run_two_coders(tmp_path) / "agreement.tsv", sep="\t")
    return table.set_index(["reference", "compared", "action"])


def test_compare_by_hand():
    # Two participants, 10 s each in 1-s bins. Coder A: p1 nods 0-4 s, p2 nods 0-2 s.
    # Coder B: p1 nods 0-3 s, p2 nods 5-7 s. Percent time A = (40, 20), B = (30, 20).
    start, width = bin_grid(10.0, 1.0)
    a = {"p1": rate_events(ev("p1", [("nodding", 0, 4)]), start, width, ACTIONS),
         "p2": rate_events(ev("p2", [("nodding", 0, 2)]), start, width, ACTIONS)}
    b = {"p1": rate_events(ev("p1", [("nodding", 0, 3)]), start, width, ACTIONS),
         "p2": rate_events(ev("p2", [("nodding", 5, 7)]), start, width, ACTIONS)}
    rows, points = compare(a, b, {"p1": width, "p2": width}, ACTIONS)
    nod = rows.set_index("action").loc["nodding"]
    assert points[points["action"] == "nodding"][["reference", "compared"]].values.tolist() \
        == [[40.0, 30.0], [20.0, 20.0]]
    # Bland-Altman: d = (-10, 0), bias -5, SD = sqrt(50)
    assert nod["ba_bias"] == pytest.approx(-5.0)
    assert nod["ba_high"] - nod["ba_low"] == pytest.approx(2 * 1.959964 * math.sqrt(50))
    # 20 bins: both yes 3 (p1 0-3), A only 1 (p1 3-4) + 2 (p2 0-2), B only 2 (p2 5-7),
    # both no 12. p_o = 15/20; A yes 6/20, B yes 5/20: p_e = .3*.25 + .7*.75 = .6
    # kappa = (.75 - .6) / .4 = 0.375
    assert nod["kappa"] == pytest.approx(0.375)
    # Events: p1 IoU 3/4 matches, p2 none: 1 matched of 2 and 2.
    assert (nod["events_matched"], nod["precision"], nod["recall"], nod["f1"]) == \
        pytest.approx((1, 0.5, 0.5, 0.5))
    legs = rows.set_index("action").loc["shaking legs"]
    assert math.isnan(legs["kappa"]) and math.isnan(legs["icc"]) and math.isnan(legs["f1"])


def windows_file(folder: Path, pid: str, nod: tuple[int, int],
                 classes: list[str] = CLASSES) -> Path:
    """20 s in 1-s windows; nodding in [nod), shaking legs in 12-14 s; 18-19 s invalid.
    `classes` renames the three classes, in that order (a model with other class names)."""
    rows = []
    for t in range(20):
        p = [0.05, 0.05, 0.9]
        if nod[0] <= t < nod[1]:
            p = [0.9, 0.05, 0.05]
        elif 12 <= t < 14:
            p = [0.05, 0.9, 0.05]
        rows.append((t, t + 1.0, None if t == 18 else p))
    table = pd.DataFrame({
        "start_s": [r[0] for r in rows], "end_s": [r[1] for r in rows],
        "valid": [r[2] is not None for r in rows], "pose_fraction": 1.0,
        **{f"prob_{c}": [np.nan if r[2] is None else r[2][i] for r in rows]
           for i, c in enumerate(classes)}})
    meta = {"participant_id": pid, "class_names": classes, "entities": [], "duration_s": 20.0,
            "fps": 25.0, "video": f"{pid}.mp4", "min_pose_fraction": 0.5}
    return write_windows(folder / f"{pid}.parquet", table, meta)


def test_agreement_cli_model_and_two_coders(tmp_path):
    nods = {"sub-001": (2, 5), "sub-002": (6, 8), "sub-003": (1, 2), "sub-004": (3, 9)}
    for pid, nod in nods.items():
        windows_file(tmp_path / "windows", pid, nod)
        # Coder a codes exactly what the model decides; coder b uses ELAN, 1 s late on nods.
        events = ev(pid, [("nodding", *nod), ("shaking legs", 12, 14)])
        write_boris_tabular(tmp_path / "a" / f"{pid}.tsv", events, pid, f"{pid}.mp4", 20.0,
                            25.0)
        late = events.assign(start_s=events["start_s"] + (events["action"] == "nodding"),
                             end_s=events["end_s"] + (events["action"] == "nodding"))
        write_elan(tmp_path / "b" / f"{pid}.eaf", late, tmp_path / f"{pid}.mp4", ACTIONS)
    table, out = _agree_two_coders(tmp_path), tmp_path / "agreement"
    model_a = table.loc[("a", "model", "nodding")]
    assert model_a["n"] == 4
    assert (model_a["icc"], model_a["kappa"], model_a["f1"]) == pytest.approx((1, 1, 1))
    assert table.loc[("a", "model", "shaking legs"), "f1"] == pytest.approx(1.0)
    # b is late by 1 s on nodding: percent time equal except where the shift crosses the
    # invalid second (18-19 s: none here), so ICC stays 1, kappa and F1 drop.
    a_b = table.loc[("a", "b", "nodding")]
    assert a_b["icc"] == pytest.approx(1.0) and a_b["kappa"] < 1
    assert a_b["events_matched"] == 2  # IoU of a 1-s shift: 3-s 0.5, 6-s 5/7; 2-s 1/3, 1-s 0
    assert {p.name for p in (out / "figures").iterdir()} == {
        "bland_altman_nodding.png", "bland_altman_shaking_legs.png"}
    md = (out / "agreement.md").read_text()
    assert "| nodding | model vs a | 4 | 1.00 [1.00, 1.00] |" in md
    assert "events matched one-to-one at temporal IoU >= 0.5." in md  # the default
    pts = pd.read_csv(out / "agreement_percent_time.tsv", sep="\t")
    assert len(pts) == 3 * 2 * 4  # pairs x actions x participants
    # sub-001 nods 3 s in every source. In the two pairs with the model its invalid second
    # (18-19 s) is neither side's time: 3 of 19 s; between the coders 3 of 20 s.
    nod = pts[(pts["participant_id"] == "sub-001") & (pts["action"] == "nodding")]
    for side in ("reference", "compared"):
        assert sorted(nod[side]) == pytest.approx([15.0, 300 / 19, 300 / 19], abs=1e-5)


def test_agreement_cli_options_given_again_add_to_the_first(tmp_path):
    """`--codings a=A --codings b=B` (and `--windows` twice) is the same as one list: a
    repeated option once replaced the earlier one and left coder a out without a word."""
    for pid, nod in {"sub-001": (2, 5), "sub-002": (6, 8)}.items():
        windows_file(tmp_path / "windows", pid, nod)
        events = ev(pid, [("nodding", *nod)])
        write_boris_tabular(tmp_path / "a" / f"{pid}.tsv", events, pid, f"{pid}.mp4", 20.0,
                            25.0)
        write_elan(tmp_path / "b" / f"{pid}.eaf", events, tmp_path / f"{pid}.mp4", ACTIONS)
    one = _run_two_coders(tmp_path)
    again = tmp_path / "again"
    files = sorted((tmp_path / "windows").glob("*.parquet"))
    assert analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}", "--codings",
                          f"b={tmp_path / 'b'}", "--mapping", str(tmp_path / "mapping.yaml"),
                          "--windows", str(files[0]), "--windows", str(files[1]),
                          "--out-dir", str(again), "--decision", "background", "--baseline",
                          "none"]) == 0
    for name in ("agreement.tsv", "agreement_percent_time.tsv"):
        assert (again / name).read_bytes() == (one / name).read_bytes(), name
    pairs = pd.read_csv(again / "agreement.tsv", sep="\t")[["reference", "compared"]]
    assert set(map(tuple, pairs.to_numpy())) == {("a", "model"), ("b", "model"), ("a", "b")}


def test_agreement_cli_coders_only_needs_durations(tmp_path, capsys):
    write_boris_tabular(tmp_path / "a" / "sub-001.tsv", ev("sub-001", [("nodding", 1, 2)]),
                        "sub-001", "v.mp4", 20.0, 25.0)
    write_elan(tmp_path / "b" / "sub-001.eaf", ev("sub-001", [("nodding", 1, 2)]),
               tmp_path / "v.mp4", ACTIONS)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    args = ["agreement", "--codings", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}",
            "--mapping", str(mapping), "--out-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit):
        analysis_main(args)
    assert "no video length known for participant sub-001" in capsys.readouterr().err
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\nsub-001\t20\n")
    assert analysis_main([*args, "--durations", str(durations)]) == 0
    row = pd.read_csv(tmp_path / "out" / "agreement.tsv", sep="\t").iloc[0]
    assert (row["reference"], row["compared"], row["kappa"], row["f1"]) == ("a", "b", 1.0, 1.0)
    for text, message in (("sub-001\t20 s\n", "column duration_s is not a number on line 2"),
                          ("sub-001\t\n", "not a positive number of seconds on line 2"),
                          ("sub-001\t20\nsub-001\t21\n", "participant_id repeats on line 3")):
        durations.write_text("participant_id\tduration_s\n" + text)
        with pytest.raises(SystemExit):
            analysis_main([*args, "--durations", str(durations)])
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("level", [None, 0.8])
def test_agreement_cli_bland_altman_limits_follow_the_level(tmp_path, level):
    # Three participants, 20 s each; coder b nods 1 s, 0 s and 2 s longer than coder a.
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\n" +
                         "".join(f"sub-00{i}\t20\n" for i in (1, 2, 3)))
    for i, extra in ((1, 1), (2, 0), (3, 2)):
        pid = f"sub-00{i}"
        write_boris_tabular(tmp_path / "a" / f"{pid}.tsv", ev(pid, [("nodding", 1, 5)]),
                            pid, "v.mp4", 20.0, 25.0)
        write_boris_tabular(tmp_path / "b" / f"{pid}.tsv",
                            ev(pid, [("nodding", 1, 5 + extra)]), pid, "v.mp4", 20.0, 25.0)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    out = tmp_path / "out"
    assert analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}",
                          f"b={tmp_path / 'b'}", "--mapping", str(mapping), "--durations",
                          str(durations), "--out-dir", str(out),
                          *([] if level is None else ["--level", str(level)])]) == 0
    row = pd.read_csv(out / "agreement.tsv", sep="\t").iloc[0]
    # differences (percent of 20 s): 5, 0, 10: bias 5, SD 5
    z = NormalDist().inv_cdf(0.5 + (level or 0.95) / 2)
    assert row["ba_bias"] == pytest.approx(5.0, abs=1e-5)
    assert row["ba_high"] - row["ba_low"] == pytest.approx(2 * z * 5.0, abs=1e-5)
    assert row["ba_high"] == pytest.approx(5.0 + z * 5.0, abs=1e-5)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--level", "1.5", "invalid option --level: must lie between 0 and 1 (got 1.5)"),
    ("--level", "0", "invalid option --level: must lie between 0 and 1 (got 0.0)"),
    ("--min-iou", "0", "invalid option --min-iou: must lie in (0, 1] (got 0.0)"),
    ("--min-iou", "1.5", "invalid option --min-iou: must lie in (0, 1] (got 1.5)"),
])
def test_agreement_cli_refuses_a_level_or_iou_out_of_range(tmp_path, capsys, option, value,
                                                           message):
    write_boris_tabular(tmp_path / "a" / "sub-001.tsv", ev("sub-001", [("nodding", 1, 2)]),
                        "sub-001", "v.mp4", 20.0, 25.0)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    with pytest.raises(SystemExit) as stop:
        analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}", "--mapping",
                       str(mapping), "--out-dir", str(tmp_path / "out"), option, value])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_agreement_cli_leaves_out_a_coded_participant_excluded_before_any_window(tmp_path,
                                                                               caplog):
    """A coded participant whose video could not be read (a windows file without windows)
    is left out with a warning; the others are still compared (the workflow's agreement job
    once failed the whole run: no video length known)."""
    for pid in ("sub-001", "sub-002", "sub-003"):
        windows_file(tmp_path / "windows", pid, (2, 5))
    ok = windows_file(tmp_path / "spare", "sub-004", (2, 5))
    table, meta = read_windows(ok)
    write_windows(tmp_path / "windows" / "sub-004.parquet", table.iloc[:0],
                  {**meta, "duration_s": None,
                   "excluded": "pose: video sub-004.mp4 is not readable"})
    for pid in ("sub-001", "sub-002", "sub-003", "sub-004"):
        events = ev(pid, [("nodding", 2, 5)])
        write_boris_tabular(tmp_path / "a" / f"{pid}.tsv", events, pid, f"{pid}.mp4", 20.0,
                            25.0)
        write_elan(tmp_path / "b" / f"{pid}.eaf", events, tmp_path / f"{pid}.mp4", ACTIONS)
    rows = _agree_two_coders(tmp_path)
    assert {rows.loc[(r, c, "nodding"), "n"] for r, c in
            (("a", "model"), ("b", "model"), ("a", "b"))} == {3}
    assert "coder a: participant sub-004 is not compared (excluded before any window" in \
        caplog.text


def test_agreement_cli_names_a_coded_participant_without_a_windows_file(tmp_path, capsys):
    """Codings of a participant the run has no windows file for (not in the sheet, or a
    coding file named wrongly) are refused saying so, not as an unknown video length."""
    windows_file(tmp_path / "windows", "sub-001", (2, 5))
    for pid in ("sub-001", "sub-01"):
        write_boris_tabular(tmp_path / "a" / f"{pid}.tsv", ev(pid, [("nodding", 2, 5)]), pid,
                            f"{pid}.mp4", 20.0, 25.0)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    with pytest.raises(SystemExit):
        analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}", "--mapping",
                       str(mapping), "--windows", str(tmp_path / "windows"), "--out-dir",
                       str(tmp_path / "out")])
    assert ("coder a: participant sub-01 has no windows file among --windows (not in the "
            "participant sheet?") in capsys.readouterr().err


@pytest.mark.parametrize(("text", "message"), [
    ("sub-001\t0\n", "duration_s is not a positive number of seconds on line 2"),
    ("sub-001\t-5\n", "duration_s is not a positive number of seconds on line 2"),
    ("sub-002\t20\nsub-001\tinf\n", "duration_s is not a positive number of seconds on line 3"),
])
def test_agreement_cli_refuses_a_duration_not_positive_and_finite(tmp_path, capsys, text,
                                                                  message):
    write_boris_tabular(tmp_path / "a" / "sub-001.tsv", ev("sub-001", [("nodding", 1, 2)]),
                        "sub-001", "v.mp4", 20.0, 25.0)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\n" + text)
    with pytest.raises(SystemExit):
        analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}", "--mapping",
                       str(mapping), "--durations", str(durations), "--out-dir",
                       str(tmp_path / "out")])
    assert f"durations file {durations}: {message}" in capsys.readouterr().err


@pytest.mark.parametrize(("codings", "message"), [
    (["model=x"], "invalid option --codings: 'model' names the model's codings"),
    (["a"], "invalid option --codings: expected NAME=PATH, got 'a'"),
    (["=x"], "invalid option --codings: expected NAME=PATH, got '=x'"),
    (["a="], "invalid option --codings: expected NAME=PATH, got 'a='"),
])
def test_agreement_cli_refuses_a_bad_coder_name(tmp_path, capsys, codings, message):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    with pytest.raises(SystemExit):
        analysis_main(["agreement", "--codings", *codings, "--mapping", str(mapping),
                       "--out-dir", str(tmp_path / "out")])
    assert message in capsys.readouterr().err


def test_agreement_cli_level_one_refused_iou_one_accepted_and_shown(tmp_path, capsys):
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\nsub-001\t20\nsub-002\t20\n")
    for pid in ("sub-001", "sub-002"):
        for coder in ("a", "b"):
            write_boris_tabular(tmp_path / coder / f"{pid}.tsv",
                                ev(pid, [("nodding", 1, 5 if coder == "a" else 6)]), pid,
                                "v.mp4", 20.0, 25.0)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    args = ["agreement", "--codings", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}",
            "--mapping", str(mapping), "--durations", str(durations), "--out-dir",
            str(tmp_path / "out")]
    with pytest.raises(SystemExit):
        analysis_main([*args, "--level", "1"])
    assert "invalid option --level: must lie between 0 and 1 (got 1.0)" in \
        capsys.readouterr().err
    # IoU 4/5 < 1: no match at --min-iou 1; the table says so, and its level.
    assert analysis_main([*args, "--min-iou", "1", "--level", "0.9"]) == 0
    row = pd.read_csv(tmp_path / "out" / "agreement.tsv", sep="\t").iloc[0]
    assert (row["events_reference"], row["events_compared"], row["events_matched"]) == (2, 2, 0)
    md = (tmp_path / "out" / "agreement.md").read_text()
    assert "ICC(A,1) [90% CI]" in md and "Bland-Altman bias [90% limits]" in md
    assert "events matched one-to-one at temporal IoU >= 1." in md
    pts = pd.read_csv(tmp_path / "out" / "agreement_percent_time.tsv", sep="\t")
    assert set(zip(pts["reference_source"], pts["compared_source"], strict=True)) == {("a", "b")}
    assert pts["reference"].tolist() == [20.0, 20.0] and pts["compared"].tolist() == [25.0, 25.0]


def test_agreement_cli_windows_give_the_video_length_before_durations(tmp_path):
    # The windows file says 20 s; --durations (30 s) only serves participants without one.
    windows_file(tmp_path / "windows", "sub-001", (2, 5))
    write_boris_tabular(tmp_path / "a" / "sub-001.tsv", ev("sub-001", [("nodding", 2, 5)]),
                        "sub-001", "sub-001.mp4", 20.0, 25.0)
    write_boris_tabular(tmp_path / "b" / "sub-001.tsv", ev("sub-001", [("nodding", 2, 5)]),
                        "sub-001", "sub-001.mp4", 20.0, 25.0)
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\nsub-001\t30\n")
    out = _run_two_coders(tmp_path, "--durations", str(durations))
    pts = pd.read_csv(out / "agreement_percent_time.tsv", sep="\t")
    coders = pts[(pts["reference_source"] == "a") & (pts["compared_source"] == "b")
                 & (pts["action"] == "nodding")]
    assert coders[["reference", "compared"]].values.tolist() == [[15.0, 15.0]]  # 3 of 20 s


def _model_against_coder_a(tmp_path: Path, *extra: str, action: str = "nodding") -> None:
    """`agreement` of the windows in tmp_path/windows against coder a, who coded sub-001
    nodding 2-5 s (mapped onto the model's `action`), with `extra` options."""
    write_boris_tabular(tmp_path / "a" / "sub-001.tsv", ev("sub-001", [("nodding", 2, 5)]),
                        "sub-001", "sub-001.mp4", 20.0, 25.0)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"behaviours:\n  nodding: {action}\n")
    analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}", "--mapping",
                   str(mapping), "--windows", str(tmp_path / "windows"), "--out-dir",
                   str(tmp_path / "out"), *extra])


def test_agreement_cli_refuses_windows_files_of_other_classes(tmp_path, capsys):
    windows_file(tmp_path / "windows", "sub-001", (2, 5))
    windows_file(tmp_path / "windows", "sub-002", (2, 5),
                 classes=["shaking legs", "nodding", "no action"])
    with pytest.raises(SystemExit):
        _model_against_coder_a(tmp_path, "--decision", "background", "--baseline", "none")
    assert (f"{tmp_path / 'windows' / 'sub-002.parquet'}: classes ['shaking legs', 'nodding'] "
            "differ from ['nodding', 'shaking legs']") in capsys.readouterr().err


def test_agreement_cli_refuses_windows_files_of_other_settings(tmp_path, capsys):
    """The model's agreement, like its percent time, needs one set of window settings."""
    windows_file(tmp_path / "windows", "sub-001", (2, 5))
    other = windows_file(tmp_path / "windows", "sub-002", (2, 5))
    table, meta = read_windows(other)
    write_windows(other, table, {**meta, "min_pose_fraction": 0.6})
    with pytest.raises(SystemExit):
        _model_against_coder_a(tmp_path)
    assert (f"windows file {other} has min_pose_fraction 0.6 but windows file "
            f"{tmp_path / 'windows' / 'sub-001.parquet'} has 0.5") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_agreement_cli_refuses_a_single_coder_without_the_model(tmp_path, capsys):
    """One coder and no --windows leave nothing to compare: a one-line error before anything
    is written (it once ended in pandas' 'No objects to concatenate')."""
    write_boris_tabular(tmp_path / "a" / "sub-001.tsv", ev("sub-001", [("nodding", 1, 2)]),
                        "sub-001", "v.mp4", 20.0, 25.0)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\nsub-001\t20\nsub-002\t20\n")
    write_boris_tabular(tmp_path / "a2" / "sub-002.tsv", ev("sub-002", [("nodding", 1, 2)]),
                        "sub-002", "v.mp4", 20.0, 25.0)
    for codings in ([f"a={tmp_path / 'a'}"], [f"a={tmp_path / 'a'}", f"a={tmp_path / 'a2'}"]):
        with pytest.raises(SystemExit) as stop:
            analysis_main(["agreement", "--codings", *codings, "--mapping", str(mapping),
                           "--durations", str(durations), "--out-dir", str(tmp_path / "out")])
        assert stop.value.code == 2
        assert ("nothing to compare: coder a alone; give the model's --windows or a second "
                "coder") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _two_coders_of(tmp_path: Path, a: dict, b: dict, *extra: str) -> Path:
    """Coders a and b (BORIS; participant -> events), 10-s videos, no model; the output
    folder."""
    for coder, coded in (("a", a), ("b", b)):
        for pid, rows in coded.items():
            write_boris_tabular(tmp_path / coder / f"{pid}.tsv", ev(pid, rows), pid, "v.mp4",
                                10.0, 25.0)
    pids = sorted({*a, *b})
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\n" + "".join(f"{p}\t10\n" for p in pids))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    out = tmp_path / "out"
    assert analysis_main(["agreement", "--codings", f"a={tmp_path / 'a'}",
                          f"b={tmp_path / 'b'}", "--mapping", str(mapping), "--durations",
                          str(durations), "--out-dir", str(out), *extra]) == 0
    return out


@pytest.mark.parametrize(("extra", "want"), [((), [15.0, 10.0]), (("--bin-s", "1"), [10.0, 10.0])])
def test_agreement_cli_codings_go_on_bins_of_bin_s(tmp_path, extra, want):
    # a nods 1-2.5 s, b 1-2 s of 10 s: in 0.1-s bins 15% and 10%; in 1-s bins the centre
    # 2.5 s is not inside [1, 2.5): 10% each.
    out = _two_coders_of(tmp_path, {"sub-001": [("nodding", 1, 2.5)]},
                         {"sub-001": [("nodding", 1, 2)]}, *extra)
    pts = pd.read_csv(out / "agreement_percent_time.tsv", sep="\t")
    assert pts[["reference", "compared"]].values.tolist() == [want]
    params = json.loads((out / "agreement.provenance.json").read_text())["params"]
    assert params["bin_s"] == (1.0 if extra else 0.1)


def test_agreement_cli_coders_without_a_participant_in_common(tmp_path, caplog):
    out = _two_coders_of(tmp_path, {"sub-001": [("nodding", 1, 2)]},
                         {"sub-002": [("nodding", 1, 2)]})
    assert "a and b code no participant in common" in caplog.text
    row = pd.read_csv(out / "agreement.tsv", sep="\t").iloc[0]
    assert row["n"] == 0 and math.isnan(row["kappa"]) and math.isnan(row["icc"])
    assert (row["events_reference"], row["events_compared"]) == (0, 0)
    assert pd.read_csv(out / "agreement_percent_time.tsv", sep="\t").empty


def test_agreement_cli_a_coder_named_twice_reads_both_sources(tmp_path):
    # Coder a's participants come from two folders, each named with a=.
    for pid, folder in (("sub-001", "a1"), ("sub-002", "a2")):
        for coder in (folder, "b"):
            write_boris_tabular(tmp_path / coder / f"{pid}.tsv",
                                ev(pid, [("nodding", 1, 2)]), pid, "v.mp4", 10.0, 25.0)
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\nsub-001\t10\nsub-002\t10\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("behaviours:\n  nodding: nodding\n")
    out = tmp_path / "out"
    assert analysis_main(["agreement", "--codings", f"a={tmp_path / 'a1'}",
                          f"b={tmp_path / 'b'}", f"a={tmp_path / 'a2'}", "--mapping",
                          str(mapping), "--durations", str(durations), "--out-dir",
                          str(out)]) == 0
    row = pd.read_csv(out / "agreement.tsv", sep="\t").iloc[0]
    assert (row["reference"], row["compared"], row["n"], row["events_matched"]) == (
        "a", "b", 2, 2)


def test_agreement_cli_provenance_names_every_file_read(tmp_path, monkeypatch):
    """Coders given as folders: the provenance hashes the coding files in them, the windows
    files and the durations file (folders and --durations were once left out)."""
    windows_file(tmp_path / "windows", "sub-001", (2, 5))
    for coder in ("a", "b"):
        write_boris_tabular(tmp_path / coder / "sub-001.tsv", ev("sub-001", [("nodding", 2, 5)]),
                            "sub-001", "sub-001.mp4", 20.0, 25.0)
    durations = tmp_path / "durations.tsv"
    durations.write_text("participant_id\tduration_s\nsub-002\t30\n")
    drawn = []  # (action, actions of the points the action's figure gets)
    monkeypatch.setattr(stage.BlandAltmanFigures, "draw", lambda self, action, pts, rows,
                        out: drawn.append((action, set(pts["action"]))))
    out = _run_two_coders(tmp_path, "--durations", str(durations), "--min-iou", "0.7",
                          "--level", "0.9", "--bin-s", "0.3")
    assert drawn == [("nodding", {"nodding"}), ("shaking legs", {"shaking legs"})]
    table = pd.read_csv(out / "agreement.tsv", sep="\t")
    assert list(table.columns[:3]) == ["reference", "compared", "action"]
    # 20 s in 0.3-s bins, the last one 0.2 s: the coders' nodding 2-5 s covers the ten
    # centres 2.25-4.95 s: 3 of 20 s (the model's windows file gives the 20 s).
    pts = pd.read_csv(out / "agreement_percent_time.tsv", sep="\t")
    coders = pts[(pts["reference_source"] == "a") & (pts["compared_source"] == "b")
                 & (pts["action"] == "nodding")]
    assert coders[["reference", "compared"]].values.tolist() == [[15.0, 15.0]]
    record = json.loads((out / "agreement.provenance.json").read_text())
    assert set(record["inputs"]) == {str(tmp_path / p) for p in (
        "mapping.yaml", "a/sub-001.tsv", "b/sub-001.tsv", "windows/sub-001.parquet",
        "durations.tsv")}
    assert {k: record["params"][k] for k in ("min_iou", "level", "bin_s", "coders")} == {
        "min_iou": 0.7, "level": 0.9, "bin_s": 0.3,
        "coders": {"a": [str(tmp_path / "a")], "b": [str(tmp_path / "b")]}}


def test_agreement_cli_refuses_classes_whose_figure_names_clash(tmp_path, capsys):
    windows_file(tmp_path / "windows", "sub-001", (2, 5),
                 classes=["Nod ding", "nod_ding", "no action"])
    with pytest.raises(SystemExit) as stop:
        _model_against_coder_a(tmp_path, "--decision", "background", "--baseline", "none",
                               action="Nod ding")
    assert stop.value.code == 2
    assert ("actions ['Nod ding', 'nod_ding'] give clashing file names ['nod_ding', 'nod_ding']"
            in capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_agreement_cli_compares_on_the_players_clock_to_the_videos_end(tmp_path):
    """A video shown after 0.5 s of lead-in (its track starts after its sound): the coder's
    times and the model's windows are both the player's, so a coder who codes what the model
    decides agrees fully, up to an event ending at the video's end on that clock (20.5 s)."""
    path = windows_file(tmp_path / "windows", "sub-001", (2, 5))
    table, meta = read_windows(path)
    table[["start_s", "end_s"]] += 0.5
    table.loc[19, [f"prob_{c}" for c in CLASSES]] = [0.05, 0.9, 0.05]  # legs to the end
    write_windows(path, table, {**meta, "first_frame_s": 0.5})
    events = ev("sub-001", [("nodding", 2.5, 5.5), ("shaking legs", 12.5, 14.5),
                            ("shaking legs", 19.5, 20.5)])
    write_boris_tabular(tmp_path / "a" / "sub-001.tsv", events, "sub-001", "sub-001.mp4",
                        20.5, 25.0)
    write_boris_tabular(tmp_path / "b" / "sub-001.tsv", events, "sub-001", "sub-001.mp4",
                        20.5, 25.0)
    table = _agree_two_coders(tmp_path)
    for action in ACTIONS:
        row = table.loc[("a", "model", action)]
        assert (row["kappa"], row["f1"]) == pytest.approx((1, 1))
    assert table.loc[("a", "model", "shaking legs"), "events_matched"] == 2
