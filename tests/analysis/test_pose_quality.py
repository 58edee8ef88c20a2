"""The pose-quality table: QC records -> one row per participant, with flags the report shows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.pose_quality import (
    OTHERS_FLAG,
    PIXEL_FLAG,
    TRACK_FLAG,
    _same_json,
    json_of_others,
    named_json_flag,
    quality_table,
    read_quality,
    same_json_flag,
    summary_line,
)
from analysis.report import pose_quality_html
from pipeio import InputError

WARNING = ("several people in view in 40 of 48 frames and the sheet gives no "
           "participant_side or participant_box: the person nearest the centre was followed, "
           "which may be the interviewer")


def _qc(pid: str, **over) -> dict:
    """A QC record shaped as `microdualnet pose` writes it (openpose backend)."""
    record = {"video": f"/data/{pid} visit 2019.mp4", "backend": "openpose",
              "frames_processed": 48, "frames_with_person": 48, "upright_fraction": 1.0,
              "participant_id": pid, "participant_rule": "default: the person nearest the "
              "frame centre", "frames_several_people": 0, "participant_warning": None,
              "excluded": False, "exclusion_reason": None}
    return {**record, **over}


def _write(folder: Path, *records: dict) -> list[Path]:
    paths = []
    for record in records:
        path = folder / f"{record['participant_id']}.qc.json"
        path.write_text(json.dumps(record))
        paths.append(path)
    return paths


@pytest.fixture
def cohort(tmp_path) -> list[Path]:
    return _write(
        tmp_path,
        _qc("s3", frames_several_people=40, participant_warning=WARNING),
        _qc("s1", participant_rule="sheet: participant_side left", frames_several_people=48),
        _qc("s2", frames_with_person=30, upright_fraction=0.5),
        # mediapipe counts people at the start instead of per frame
        _qc("s4", backend="mediapipe", people_at_start=2, frames_several_people=None,
            participant_warning="2 people found at the start and the sheet gives no ..."),
        {"video": "/data/s5.mp4", "backend": "openpose", "participant_id": "s5",
         "frames_processed": 0, "frames_with_person": 0, "failed_stage": "pose",
         "excluded": True, "exclusion_reason": "pose: video /data/s5.mp4 is not readable"},
    )


def test_rows_carry_the_figures_and_flag_the_default_rule_among_others(cohort):
    table = quality_table(cohort)
    assert table["participant_id"].tolist() == ["s1", "s2", "s3", "s4", "s5"]
    row = table.set_index("participant_id")
    assert row.loc["s3", "flags"] == OTHERS_FLAG and row.loc["s3", "others_in_view"]
    assert row.loc["s3", "participant_rule"] == "default"
    # Others in view, but the sheet said where the participant sits: not flagged.
    assert row.loc["s1", "others_in_view"] and row.loc["s1", "flags"] == ""
    assert row.loc["s1", "participant_rule"] == "sheet"
    # Found in 30 of 48 frames: flagged with the share; alone in view.
    assert row.loc["s2", "person_pct"] == 62.5 and row.loc["s2", "upright_pct"] == 50.0
    assert row.loc["s2", "flags"] == "a person in 62.5% of processed frames (under 90%)"
    assert not row.loc["s2", "others_in_view"]
    assert row.loc["s4", "others_in_view"] and row.loc["s4", "flags"] == OTHERS_FLAG
    # An excluded participant is listed, not flagged (the exclusions list says why).
    assert row.loc["s5", "excluded"] and row.loc["s5", "flags"] == ""
    assert pd.isna(row.loc["s5", "person_pct"])


def test_cli_writes_a_table_without_paths_that_reads_back(cohort, tmp_path):
    out = tmp_path / "pose_quality.tsv"
    assert main(["pose-quality", "--qc", *map(str, cohort), "--out", str(out)]) == 0
    text = out.read_text()
    assert "/data/" not in text and "2019" not in text and "mp4" not in text
    back = read_quality(out)
    expected = quality_table(cohort)
    pd.testing.assert_frame_equal(back[["participant_id", "excluded", "others_in_view",
                                        "flags", "person_pct"]],
                                  expected[["participant_id", "excluded", "others_in_view",
                                            "flags", "person_pct"]], check_dtype=False)
    provenance = json.loads((tmp_path / "pose_quality.tsv.provenance.json").read_text())
    assert provenance["step"] == "pose-quality" and len(provenance["inputs"]) == 5
    assert provenance["params"] == {"min_person_fraction": 0.9}


def test_qc_given_twice_adds_to_the_first(cohort, tmp_path):
    """`--qc a --qc b` is one list: a repeated option once kept only the last files."""
    once, twice = tmp_path / "once.tsv", tmp_path / "twice.tsv"
    assert main(["pose-quality", "--qc", *map(str, cohort), "--out", str(once)]) == 0
    assert main(["pose-quality", "--qc", *map(str, cohort[:2]), "--qc",
                 *map(str, cohort[2:]), "--out", str(twice)]) == 0
    assert twice.read_bytes() == once.read_bytes()
    assert len(read_quality(twice)) == len(cohort)


def test_summary_and_report_section_name_the_flagged_participants(cohort):
    table = quality_table(cohort)
    assert summary_line(table) == (
        "Pose QC of 4 participants with pose (mediapipe, openpose): a person in a median "
        "100.0% of processed frames (lowest 62.5%, s2); 3 flagged.")
    section = pose_quality_html(table, None)
    for pid in ("s2", "s3", "s4"):
        assert f"<tr><td>{pid}</td>" in section
    assert "<td>s1</td>" not in section and "<td>s5</td>" not in section


@pytest.mark.parametrize("text, needle", [
    ("{not json", "is not JSON"),
    ("[1, 2]", "is not a JSON object"),
    (json.dumps({"participant_id": "s1", "backend": "openpose"}),
     r"lacks key\(s\) \['frames_processed', 'frames_with_person', 'excluded'\]"),
    (json.dumps(_qc("s1", frames_processed=None)),
     r"\{'frames_processed': None, 'frames_with_person': 48\} must be whole numbers"),
    (json.dumps(_qc("s1", frames_with_person="48")),
     r"\{'frames_processed': 48, 'frames_with_person': '48'\} must be whole numbers"),
    (json.dumps(_qc("s1", frames_with_person=-1)),
     r"\{'frames_processed': 48, 'frames_with_person': -1\} must be whole numbers"),
    (json.dumps(_qc("s1", frames_with_person=True)),
     r"\{'frames_processed': 48, 'frames_with_person': True\} must be whole numbers"),
    # More frames with a person than frames processed: a damaged record, not 104% of time.
    (json.dumps(_qc("s1", frames_with_person=50)),
     "frames_with_person 50 exceeds frames_processed 48$"),
])
def test_a_bad_qc_file_is_named(tmp_path, text, needle):
    path = tmp_path / "s1.qc.json"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"pose QC file .*s1.qc.json:? {needle}"):
        quality_table([path])


def test_two_records_of_one_participant_are_refused(tmp_path):
    first = _write(tmp_path, _qc("s1"))
    (tmp_path / "copy").mkdir()
    second = _write(tmp_path / "copy", _qc("s1"))
    with pytest.raises(InputError, match=r"participant\(s\) \['s1'\] more than once"):
        quality_table(first + second)


def _row(tmp_path: Path, **over) -> pd.Series:
    """The table row of one participant's QC record."""
    return quality_table(_write(tmp_path, _qc("s1", **over))).iloc[0]


def test_person_share_at_the_limit_is_not_flagged_and_shares_keep_two_decimals(tmp_path):
    assert _row(tmp_path, frames_processed=10, frames_with_person=9)["flags"] == ""
    row = _row(tmp_path, frames_processed=3, frames_with_person=1, upright_fraction=1 / 3)
    assert row["person_pct"] == 33.33 and row["upright_pct"] == 33.33
    assert row["flags"] == "a person in 33.3% of processed frames (under 90%)"


def test_both_flags_are_joined_with_a_semicolon(tmp_path):
    row = _row(tmp_path, frames_with_person=24, participant_warning=WARNING,
               frames_several_people=20)
    assert row["flags"] == f"{OTHERS_FLAG}; a person in 50.0% of processed frames (under 90%)"


def test_one_person_at_the_start_is_nobody_else_in_view(tmp_path):
    row = _row(tmp_path, backend="mediapipe", frames_several_people=None, people_at_start=1)
    assert not row["others_in_view"] and row["flags"] == ""


def test_an_excluded_participant_is_never_flagged(tmp_path):
    """The exclusions list says why; a flag would count them twice in the report."""
    row = _row(tmp_path, excluded=True, frames_with_person=2, participant_warning=WARNING)
    assert row["excluded"] and row["flags"] == ""


def test_a_cohort_without_pose_says_so(tmp_path):
    table = quality_table(_write(tmp_path, _qc("s1", excluded=True, frames_processed=0,
                                               frames_with_person=0)))
    assert summary_line(table) == "Pose QC of 1 participants: none has pose."


def test_missing_files_are_named(tmp_path):
    with pytest.raises(InputError, match=r"pose QC file .*s9\.qc\.json does not exist"):
        quality_table([tmp_path / "s9.qc.json"])
    with pytest.raises(InputError, match=r"pose-quality table .*none\.tsv does not exist"):
        read_quality(tmp_path / "none.tsv")


@pytest.mark.parametrize("content", [b"", b"participant_id\tflags\ns1\tx\ns2\ty\tz\tw\n",
                                     b"participant_id\n\xff\n"])
def test_a_damaged_table_is_named_not_a_traceback(tmp_path, content):
    path = tmp_path / "pose_quality.tsv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"pose-quality table .*pose_quality\.tsv is not a "
                       r"readable TSV: [^\n]+$"):
        read_quality(path)


def test_a_numeric_participant_id_is_text(tmp_path):
    path = tmp_path / "7.qc.json"
    path.write_text(json.dumps(_qc("x", participant_id=7)))
    assert quality_table([path])["participant_id"].tolist() == ["7"]


def test_summary_names_only_the_backends_of_participants_with_pose(tmp_path):
    """An excluded participant's backend ran on nothing: it is not named."""
    table = quality_table(_write(tmp_path, _qc("s1"), _qc("s2", frames_with_person=40),
                                 _qc("s3", backend="mediapipe", excluded=True)))
    assert summary_line(table) == (
        "Pose QC of 2 participants with pose (openpose): a person in a median 91.7% of "
        "processed frames (lowest 83.3%, s2); 1 flagged.")


def test_summary_of_participants_with_no_frame_processed(tmp_path):
    table = quality_table(_write(tmp_path, _qc("s1", frames_processed=0, frames_with_person=0)))
    assert summary_line(table) == ("Pose QC of 1 participants with pose (openpose): no frame "
                                   "processed; 0 flagged.")


def test_a_track_that_may_have_passed_to_someone_else_is_flagged_with_a_hint_too(tmp_path):
    """The sheet's side does not keep a parent in the hinted half out of the track."""
    paths = _write(tmp_path, _qc("s1", participant_rule="sheet: participant_side left",
                                 frames_several_people=48,
                                 track_warning="in 20 of 48 frames another person ..."))
    assert quality_table(paths)["flags"].tolist() == [TRACK_FLAG]


def test_openpose_keypoints_of_a_smaller_copy_are_flagged(tmp_path):
    paths = _write(tmp_path, _qc("s1", pixel_frame_warning="every keypoint ... smaller copy"))
    assert quality_table(paths)["flags"].tolist() == [PIXEL_FLAG]


def _digests(stem: str, video: str, keypoints: str, followed: str | None = None) -> dict:
    """The digests an openpose QC record holds (stand-ins for the SHA-256s)."""
    return {"openpose_stem_sha256": f"name:{stem}", "video_stem_sha256": f"name:{video}",
            "openpose_keypoints_sha256": keypoints,
            "participant_keypoints_sha256": followed or f"followed:{keypoints}"}


def test_identical_json_names_the_other_participants_and_is_warned_about(tmp_path, caplog):
    paths = _write(tmp_path, _qc("s1", **_digests("v1", "v1", "kp1")),
                   _qc("s2", **_digests("v2", "v2", "kp1")),
                   _qc("s3", **_digests("v3", "v3", "kp1")),
                   _qc("s4", **_digests("v4", "v4", "kp4")))
    table = quality_table(paths).set_index("participant_id")
    assert table.loc["s1", "flags"] == same_json_flag(["s2", "s3"])
    assert table.loc["s2", "flags"] == same_json_flag(["s1", "s3"])
    assert table.loc["s4", "flags"] == ""
    assert summary_line(table.reset_index()).endswith(
        "; 3 flagged (3 with OpenPose JSON that may be another participant's).")
    with caplog.at_level("WARNING"):
        assert main(["pose-quality", "--qc", *map(str, paths), "--out",
                     str(tmp_path / "q.tsv")]) == 0
    assert f"participant s3: {same_json_flag(['s1', 's2'])}" in caplog.text
    assert "name:" not in (tmp_path / "q.tsv").read_text()  # no digest in the table


def test_the_others_are_named_in_participant_order_whatever_the_files_order(tmp_path):
    """The flags name the other participants sorted, not in the order the QC files came
    in: s3, s1 and s2 share one JSON; s0's is named after the recording of seated s4 and s5."""
    table = quality_table(_write(
        tmp_path, _qc("s3", **_digests("v3", "v3", "kp")), _qc("s1", **_digests("v1", "v1", "kp")),
        _qc("s5", **_digests("vx", "vx", "kp5")), _qc("s0", **_digests("vx", "v0", "kp0")),
        _qc("s2", **_digests("v2", "v2", "kp")), _qc("s4", **_digests("vx", "vx", "kp4")),
    )).set_index("participant_id")
    assert table.loc["s1", "flags"] == same_json_flag(["s2", "s3"])
    assert table.loc["s2", "flags"] == same_json_flag(["s1", "s3"])
    assert table.loc["s0", "flags"] == named_json_flag(["s4", "s5"])


def test_files_named_after_another_participants_video_are_flagged(tmp_path):
    """Swapped folders: each named after the other's video; the keypoints differ."""
    table = quality_table(_write(
        tmp_path, _qc("s1", **_digests("v2", "v1", "kp2")),
        _qc("s2", **_digests("v1", "v2", "kp1"), participant_warning=WARNING),
        _qc("s3", **_digests("v3", "v3", "kp3")))).set_index("participant_id")
    assert table.loc["s1", "flags"] == named_json_flag(["s2"])
    assert table.loc["s2", "flags"] == f"{named_json_flag(['s1'])}; {OTHERS_FLAG}"
    assert table.loc["s3", "flags"] == ""


@pytest.mark.parametrize("records", [
    # Videos renamed to pseudonyms after OpenPose ran: no stem is a video's.
    [_digests("smith_john", "s1", "kp1"), _digests("doe_jane", "s2", "kp2")],
    # Every video named alike in its own folder (`P01/session.mp4`): the JSON is its own.
    [_digests("session", "session", "kp1"), _digests("session", "session", "kp2")],
    # Two children in one recording, told apart by their seats: one JSON, two people.
    [_digests("room", "room", "kp1", "left"), _digests("room", "room", "kp1", "right")],
    # No person in any frame of either: nothing tells two such folders apart.
    [_digests("v1", "v1", None), _digests("v2", "v2", None)],
])
def test_json_that_is_its_own_is_not_flagged(tmp_path, records):
    paths = _write(tmp_path, *(_qc(f"s{i}", **r) for i, r in enumerate(records, 1)))
    assert quality_table(paths)["flags"].tolist() == ["", ""]


def test_one_recording_followed_to_the_same_person_twice_is_flagged(tmp_path):
    """Seats that took the same person: one child analysed with the other's pose."""
    paths = _write(tmp_path, _qc("s1", **_digests("room", "room", "kp1", "same")),
                   _qc("s2", **_digests("room", "room", "kp1", "same")))
    assert quality_table(paths)["flags"].tolist() == [same_json_flag(["s2"]),
                                                      same_json_flag(["s1"])]


def test_json_copied_to_the_folder_of_another_video_is_flagged_whatever_seat_it_followed(
        tmp_path):
    """One JSON under two participants with videos of their own, each sheet naming another
    seat: the tracks differ, but only two children in one recording share JSON."""
    paths = _write(tmp_path, _qc("s1", **_digests("v1", "v1", "kp1", "left")),
                   _qc("s2", **_digests("v2", "v2", "kp1", "right")))
    assert quality_table(paths)["flags"].tolist() == [same_json_flag(["s2"]),
                                                      same_json_flag(["s1"])]


def test_records_without_digests_are_read_and_never_flagged(tmp_path):
    """QC files written before the digests existed, beside new ones and an exclusion."""
    table = quality_table(_write(
        tmp_path, _qc("s1"), _qc("s2"), _qc("s3", **_digests("s1", "s3", "kp1")),
        _qc("s4", **_digests("s4", "s4", "kp1"), excluded=True)))
    # s3's files are named after no video that a record names; s4 is excluded, not flagged.
    assert table["flags"].tolist() == ["", "", same_json_flag(["s4"]), ""]


def _pairwise_json_of_others(records):
    """Every record against every other: the definition the grouped lookup must equal."""
    out = []
    for qc in records:
        others = [o for o in records if o is not qc]
        same = sorted(o["participant_id"] for o in others if _same_json(qc, o))
        stem, own = qc.get("openpose_stem_sha256"), qc.get("video_stem_sha256")
        named = sorted(o["participant_id"] for o in others
                       if stem and own and stem != own and o.get("video_stem_sha256") == stem)
        out.append(([same_json_flag(same)] if same else [])
                   + ([named_json_flag(named)] if named else []))
    return out


def test_grouped_comparison_equals_every_pair_compared():
    """Random cohorts from a few digests each (so that copies, swaps, shared recordings and
    missing digests all occur), including a record without any digest."""
    rng = np.random.default_rng(7)
    pick = lambda values: values[rng.integers(len(values))]  # noqa: E731
    kinds = set()
    for _ in range(200):
        records = [{"participant_id": f"s{i}",
                    **_digests(pick(["v1", "v2", "v3", "room"]), pick(["v1", "v2", "room"]),
                               pick(["kp1", "kp2", None]), pick(["left", "right", None]))}
                   for i in range(int(rng.integers(1, 9)))]
        records.append({"participant_id": "old"})
        flags = json_of_others(records)
        assert flags == _pairwise_json_of_others(records)
        kinds |= {f.split(" ")[2] for each in flags for f in each}
    assert kinds == {"identical", "named"}  # both flags were met, not only clean cohorts
