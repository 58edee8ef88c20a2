"""The model's events for review: from windows to per-bin runs, written as ELAN and BORIS
files that the readers read back to the same events; the worked example of docs/agreement.md.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main as analysis_main
from analysis.aggregate import Decision, Timeline, participant_timeline
from analysis.codings import CodingMap, load_mapping, read_codings
from analysis.codings.boris import read_boris, write_boris_project, write_boris_tabular
from analysis.codings.elan import read_elan, write_elan
from analysis.codings.model import timeline_events
from pipeio.windows import read_windows, write_windows

CLASSES = ["nodding", "shaking legs", "no action"]
ACTIONS = CLASSES[:2]
IDENTITY = CodingMap(behaviours={a: a for a in ACTIONS})
FIXTURES = Path(__file__).parent / "fixtures" / "agreement"
EXAMPLE = pd.DataFrame({"participant_id": "sub-001",
                        "action": ["nodding", "shaking legs", "nodding"],
                        "start_s": [1.0, 4.0, 8.0], "end_s": [2.5, 6.2, 9.0]})
EXAMPLE_DATE = "2026-01-01T00:00:00+00:00"


def windows_file(folder: Path, pid: str = "sub-001") -> Path:
    """12 s in 1-s windows: nodding 1-3 s, invalid 3-4 s, shaking legs 4-6 s, nodding 8-9 s."""
    probs = {1: [0.9, 0.05, 0.05], 2: [0.9, 0.05, 0.05], 3: None, 4: [0.1, 0.8, 0.1],
             5: [0.1, 0.8, 0.1], 8: [0.7, 0.2, 0.1]}
    rows = [(t, t + 1.0, probs.get(t, [0.1, 0.1, 0.8])) for t in range(12)]
    table = pd.DataFrame({
        "start_s": [r[0] for r in rows], "end_s": [r[1] for r in rows],
        "valid": [r[2] is not None for r in rows], "pose_fraction": 1.0,
        **{f"prob_{c}": [np.nan if r[2] is None else r[2][i] for r in rows]
           for i, c in enumerate(CLASSES)}})
    meta = {"participant_id": pid, "class_names": CLASSES, "entities": [], "duration_s": 12.0,
            "fps": 25.0, "video": str(folder / f"{pid}.mp4"), "min_pose_fraction": 0.5}
    return write_windows(folder / f"{pid}.parquet", table, meta)


def test_model_events_are_runs_of_bin_labels(tmp_path):
    tl = participant_timeline(windows_file(tmp_path), Decision("background", baseline="none"))
    got = timeline_events(tl)
    # The invalid window (3-4 s) ends the first event; bins are 0.1 s, so runs are exact.
    assert got["action"].tolist() == ["nodding", "shaking legs", "nodding"]
    assert got["start_s"].tolist() == pytest.approx([1.0, 4.0, 8.0])
    assert got["end_s"].tolist() == pytest.approx([3.0, 6.0, 9.0])


def test_written_files_read_back_to_the_same_events(tmp_path):
    video = tmp_path / "videos" / "sub-001.mp4"
    eaf = write_elan(tmp_path / "out" / "sub-001.eaf", EXAMPLE, video, ACTIONS)
    tsv = write_boris_tabular(tmp_path / "out" / "sub-001.tsv", EXAMPLE, "sub-001", video,
                              12.0, 25.0)
    for table, pids in (read_elan(eaf, IDENTITY), read_boris(tsv, IDENTITY)):
        assert pids == ["sub-001"]
        pd.testing.assert_frame_equal(table, EXAMPLE)
    media = read_elan(eaf, IDENTITY.model_copy(update={"participant_id_from": "media"}))
    assert media[1] == ["sub-001"]
    assert "../videos/sub-001.mp4" in eaf.read_text()


def test_boris_project_lists_alternating_state_events(tmp_path):
    path = write_boris_project(tmp_path / "sub-001.boris", EXAMPLE, "sub-001",
                               tmp_path / "sub-001.mp4", 12.0, 25.0, ACTIONS, subject="child")
    project = json.loads(path.read_text())
    assert [b["code"] for b in project["behaviors_conf"].values()] == ACTIONS
    assert {b["type"] for b in project["behaviors_conf"].values()} == {"State event"}
    obs = project["observations"]["sub-001"]
    assert obs["file"]["1"] == ["sub-001.mp4"] and obs["media_info"]["length"] == {
        "sub-001.mp4": 12.0}
    assert [e[:3] for e in obs["events"]] == [
        [1.0, "child", "nodding"], [2.5, "child", "nodding"], [4.0, "child", "shaking legs"],
        [6.2, "child", "shaking legs"], [8.0, "child", "nodding"], [9.0, "child", "nodding"]]
    assert [e[5] for e in obs["events"]] == [25, 62, 100, 155, 200, 225]  # frame indices


def write_example(folder: Path) -> list[Path]:
    """The worked example of docs/agreement.md (regenerate: call with the fixtures folder)."""
    video = folder / "sub-001.mp4"
    return [write_elan(folder / "sub-001.eaf", EXAMPLE, video, ACTIONS, date=EXAMPLE_DATE),
            write_boris_tabular(folder / "sub-001.tsv", EXAMPLE, "sub-001", video, 12.0,
                                25.0, subject="child")]


def test_fixtures_are_what_the_writers_write(tmp_path):
    for written in write_example(tmp_path):
        kept = (FIXTURES / written.name).read_text()
        absolute = re.compile(r'MEDIA_URL="file://[^"]*/sub-001.mp4"')
        assert absolute.sub("URL", written.read_text()) == absolute.sub("URL", kept)


def test_fixtures_read_with_the_example_mapping():
    mapping = load_mapping(FIXTURES / "mapping.yaml", CLASSES)
    got = read_codings([FIXTURES / "sub-001.tsv"], mapping)
    pd.testing.assert_frame_equal(got.events, EXAMPLE)
    got = read_codings([FIXTURES / "sub-001.eaf"], mapping)
    pd.testing.assert_frame_equal(got.events, EXAMPLE)


def test_review_codings_cli(tmp_path):
    windows_file(tmp_path)
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tvideo\nsub-001\tASD\tvideos/sub-001.mp4\n")
    assert analysis_main(["review-codings", "--windows", str(tmp_path), "--out-dir",
                          str(tmp_path / "review"), "--participants", str(sheet),
                          "--decision", "background", "--baseline", "none",
                          "--subject", "child"]) == 0
    names = sorted(str(p.relative_to(tmp_path / "review"))
                   for p in (tmp_path / "review").rglob("*") if p.is_file())
    assert names == ["boris/sub-001.boris", "boris/sub-001.tsv", "elan/sub-001.eaf"]
    eaf = (tmp_path / "review" / "elan" / "sub-001.eaf").read_text()
    assert 'RELATIVE_MEDIA_URL="../../videos/sub-001.mp4"' in eaf
    back = read_codings([tmp_path / "review" / "elan"], IDENTITY).events
    assert back["end_s"].tolist() == pytest.approx([3.0, 6.0, 9.0])
    # The BORIS events are the participant's under --subject.
    tabular = (tmp_path / "review" / "boris" / "sub-001.tsv").read_text().splitlines()
    project = json.loads((tmp_path / "review" / "boris" / "sub-001.boris").read_text())
    assert [s["name"] for s in project["subjects_conf"].values()] == ["child"]
    assert len(tabular) == 1 + 2 * 3 and all("\tchild\tnodding\t" in line or
                                             "\tchild\tshaking legs\t" in line
                                             for line in tabular[1:])


@pytest.mark.parametrize("cell", ["", "   "])
def test_review_codings_refuses_a_blank_video_cell(tmp_path, capsys, cell):
    windows_file(tmp_path)
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tvideo\nsub-001\tASD\tv/sub-001.mp4\n"
                     f"sub-002\tTDC\t{cell}\n")
    with pytest.raises(SystemExit) as stop:
        analysis_main(["review-codings", "--windows", str(tmp_path), "--out-dir",
                       str(tmp_path / "review"), "--participants", str(sheet)])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert f"participant sheet {sheet}: column video is empty on line 3" in err
    assert not (tmp_path / "review").exists()


def test_review_codings_refuses_a_participant_missing_from_the_sheet(tmp_path, capsys):
    path = windows_file(tmp_path)
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tvideo\nsub-002\tASD\tv/sub-002.mp4\n")
    with pytest.raises(SystemExit) as stop:
        analysis_main(["review-codings", "--windows", str(tmp_path), "--out-dir",
                       str(tmp_path / "review"), "--participants", str(sheet)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"participant sub-001 ({path}) is not in {sheet}" in err
    assert not (tmp_path / "review").exists()


@pytest.mark.parametrize("drop", ["fps", "duration_s"])
def test_review_codings_writes_nothing_without_the_videos_length_or_rate(tmp_path, caplog,
                                                                        drop):
    path = windows_file(tmp_path)
    table, meta = read_windows(path)
    write_windows(path, table, {k: v for k, v in meta.items() if k != drop})
    with caplog.at_level(logging.WARNING):
        assert analysis_main(["review-codings", "--windows", str(path), "--out-dir",
                              str(tmp_path / "review")]) == 0
    assert "participant sub-001: no events written (the windows file lacks the video's " \
        "length or frame rate)" in caplog.text
    assert not (tmp_path / "review").exists() or not any((tmp_path / "review").rglob("*.*"))


def test_written_tabular_and_project_name_frames_subject_and_rate(tmp_path):
    """The columns a coder sees in BORIS besides the times: frame index at 25 fps, the
    subject (also declared in the project's subjects), the frame rate, no time offset."""
    video = tmp_path / "sub-001.mp4"
    tsv = write_boris_tabular(tmp_path / "sub-001.tsv", EXAMPLE, "sub-001", video, 12.0, 25.0,
                              subject="child")
    header, *lines = tsv.read_text().splitlines()
    rows = [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]
    # frame = time x 25, rounded (2.5 s: frame 62.5, half to even: 62)
    assert [(r["Time"], r["Behavior type"], r["Image index"]) for r in rows] == [
        ("1.000", "START", "25"), ("2.500", "STOP", "62"), ("4.000", "START", "100"),
        ("6.200", "STOP", "155"), ("8.000", "START", "200"), ("9.000", "STOP", "225")]
    assert {(r["Subject"], r["FPS"], r["Time offset (s)"]) for r in rows} == {
        ("child", "25.000", "0.0")}
    project = json.loads(write_boris_project(tmp_path / "sub-001.boris", EXAMPLE, "sub-001",
                                             video, 12.0, 25.0, ACTIONS,
                                             subject="child").read_text())
    assert [s["name"] for s in project["subjects_conf"].values()] == ["child"]
    obs = project["observations"]["sub-001"]
    assert obs["time offset"] == 0.0 and obs["media_info"]["fps"] == {"sub-001.mp4": 25.0}
    bare = json.loads(write_boris_project(tmp_path / "bare.boris", EXAMPLE, "sub-001", video,
                                          12.0, 30.0, ACTIONS[::-1]).read_text())
    assert bare["subjects_conf"] == {}  # the ethogram in the order given
    assert [b["code"] for b in bare["behaviors_conf"].values()] == ["shaking legs", "nodding"]
    assert bare["observations"]["sub-001"]["media_info"]["fps"] == {"sub-001.mp4": 30.0}


def test_written_tabular_stops_before_it_starts_at_one_time(tmp_path):
    """Events of one action that touch: the STOP at 2.5 s comes before the next START, so the
    pairs read back (and merge, as touching events of one class do)."""
    touching = pd.DataFrame({"participant_id": "sub-001", "action": "nodding",
                             "start_s": [1.0, 2.5], "end_s": [2.5, 4.0]})
    tsv = write_boris_tabular(tmp_path / "sub-001.tsv", touching, "sub-001",
                              tmp_path / "sub-001.mp4", 12.0, 25.0)
    assert [line.split("\t")[12] for line in tsv.read_text().splitlines()[1:]] == [
        "START", "STOP", "START", "STOP"]
    assert read_boris(tsv, IDENTITY)[0].values.tolist() == [["sub-001", "nodding", 1.0, 4.0]]


def test_written_eaf_rounds_times_to_the_nearest_millisecond(tmp_path):
    # 1.005 s and 4.015 s are 1004.999... and 4014.999... ms in floating point
    odd = pd.DataFrame({"participant_id": "sub-001", "action": "nodding",
                        "start_s": [1.005], "end_s": [4.015]})
    eaf = write_elan(tmp_path / "sub-001.eaf", odd, tmp_path / "sub-001.mp4", ACTIONS)
    assert 'TIME_VALUE="1005"' in eaf.read_text() and 'TIME_VALUE="4015"' in eaf.read_text()
    pd.testing.assert_frame_equal(read_elan(eaf, IDENTITY)[0], odd)


def test_model_events_at_the_videos_start_and_end_and_none():
    """Runs touching the first and the last (cut) bin are events too, ending at the video's
    end; a participant without any action gets an empty table of the same columns and
    types."""
    start, width = np.arange(4) * 0.5, np.array([0.5, 0.5, 0.5, 0.3])
    tl = Timeline("p", CLASSES, ACTIONS, start, width, np.zeros((4, 3)), np.ones(4, bool),
                  np.array([0, 0, -1, 1]), np.zeros(3))
    got = timeline_events(tl)
    assert got.values.tolist() == [["p", "nodding", 0.0, 1.0], ["p", "shaking legs", 1.5, 1.8]]
    none = timeline_events(replace(tl, label=np.full(4, -1)))
    assert none.empty and list(none.columns) == ["participant_id", "action", "start_s", "end_s"]
    assert none.dtypes[["start_s", "end_s"]].tolist() == [np.float64, np.float64]


def test_review_codings_refuses_a_participant_twice_in_the_sheet(tmp_path, capsys):
    windows_file(tmp_path)
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tvideo\nsub-001\tASD\tv/a.mp4\n"
                     "sub-001\tASD\tv/b.mp4\n")
    with pytest.raises(SystemExit) as stop:
        analysis_main(["review-codings", "--windows", str(tmp_path), "--out-dir",
                       str(tmp_path / "review"), "--participants", str(sheet)])
    assert stop.value.code == 2
    assert (f"participant sheet {sheet}: column participant_id repeats on line 3"
            in capsys.readouterr().err)
    assert not (tmp_path / "review").exists()


def test_review_files_of_a_video_shown_after_a_lead_in_keep_the_players_times(tmp_path):
    """Windows of a video whose first frame a player shows at 0.5 s (its track starts after
    its sound) are on the player's clock already: the events keep their times, and BORIS is
    told the length its player gives, to the video's end at 12.5 s."""
    path = windows_file(tmp_path)
    table, meta = read_windows(path)
    table[["start_s", "end_s"]] += 0.5
    write_windows(path, table, {**meta, "first_frame_s": 0.5})
    assert analysis_main(["review-codings", "--windows", str(path), "--out-dir",
                          str(tmp_path / "review"), "--decision", "background",
                          "--baseline", "none"]) == 0
    back = read_codings([tmp_path / "review" / "elan"], IDENTITY).events
    np.testing.assert_allclose(back[["start_s", "end_s"]], [[1.5, 3.5], [4.5, 6.5], [8.5, 9.5]])
    tsv = (tmp_path / "review" / "boris" / "sub-001.tsv").read_text().splitlines()
    assert {line.split("\t")[7] for line in tsv[1:]} == {"12.500"}  # Media duration (s)
    project = json.loads((tmp_path / "review" / "boris" / "sub-001.boris").read_text())
    assert project["observations"]["sub-001"]["media_info"]["length"] == {
        "../../sub-001.mp4": 12.5}


def test_review_codings_windows_given_twice_adds_to_the_first(tmp_path):
    """`--windows a --windows b` is one list: a repeated option once kept only the last
    files, and the first participant got no review files."""
    files = [windows_file(tmp_path, pid) for pid in ("sub-001", "sub-002")]
    assert analysis_main(["review-codings", "--windows", str(files[0]), "--windows",
                          str(files[1]), "--out-dir", str(tmp_path / "review"),
                          "--decision", "background", "--baseline", "none"]) == 0
    assert sorted(p.name for p in (tmp_path / "review" / "elan").iterdir()) == [
        "sub-001.eaf", "sub-002.eaf"]
