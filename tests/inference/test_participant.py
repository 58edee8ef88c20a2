"""The participant among several people: the sheet's hint, the default rule, following."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from microdualnet.cli import main
from microdualnet.pose.extract import extract_pose
from microdualnet.pose.npz import has_person, load_pose
from microdualnet.pose.participant import (
    NO_HINT,
    REACQUIRE_AFTER,
    ParticipantHint,
    follow,
    hint_from_sheet,
    parse_hint,
    several_people_warning,
)
from pipeio.errors import InputError

W, H = 640, 480


def person(cx: float, cy: float, size: float = 100.0, seed: int = 0) -> np.ndarray:
    """A BODY_25 person `[25, 3]` spread over a box of `size` around (cx, cy)."""
    kp = np.ones((25, 3), np.float32) * 0.9
    kp[:, :2] = np.random.default_rng(seed).uniform(-size / 2, size / 2, (25, 2)) + [cx, cy]
    return kp


def frames(*people_per_frame: list[np.ndarray]) -> list[np.ndarray]:
    return [np.stack(p) if p else np.zeros((0, 25, 3), np.float32) for p in people_per_frame]


def test_default_rule_takes_the_most_central_and_keeps_following_them():
    """The other person later comes nearer the centre: continuity keeps the participant, and
    QC counts those frames."""
    seq = [[person(280 - t, 240, seed=1), person(560 - 12 * t, 240, seed=2)] for t in range(20)]
    track, stats = follow(frames(*seq), NO_HINT, W, H)
    np.testing.assert_allclose(track[:, :, 0].mean(1), [280 - t for t in range(20)], atol=8)
    assert stats.frames_several_people == 20 and stats.frames_track_lost == 0
    # Box centres: the participant 40 + t px from the centre, the other |240 - 12 t| px, so
    # the other is strictly nearer from t = 16 on (t = 15: 63 px against 55 px).
    centre = np.array([W / 2, H / 2])
    nearer = [np.linalg.norm((o[:, :2].min(0) + o[:, :2].max(0)) / 2 - centre)
              < np.linalg.norm((p[:, :2].min(0) + p[:, :2].max(0)) / 2 - centre)
              for p, o in seq]
    assert np.flatnonzero(nearer).tolist() == [16, 17, 18, 19]
    assert stats.frames_other_nearer_anchor == 4
    assert stats.rule.startswith("default")


def test_a_side_takes_that_side_even_when_the_other_person_is_more_central():
    seq = [[person(400, 240, seed=1), person(150, 240, seed=2)]] * 5
    track, stats = follow(frames(*seq), parse_hint("left"), W, H)
    assert np.allclose(track[:, :, 0].mean(1), 150, atol=8)
    assert stats.rule == "sheet: participant_side left"
    box = parse_hint(None, "0.5,0,1,1")
    track, _ = follow(frames(*seq), box, W, H)
    assert np.allclose(track[:, :, 0].mean(1), 400, atol=8)


def test_a_missed_participant_does_not_hand_the_track_to_the_other_person():
    """Frames where only the interviewer is detected: not the participant (lost), with a
    hint at once back to the participant, without one only after REACQUIRE_AFTER frames."""
    me, other = person(200, 240, seed=1), person(500, 240, seed=2)
    seq = [[me, other]] * 3 + [[other]] * 4 + [[me, other]] * 3
    for hint in (NO_HINT, parse_hint("left")):
        track, stats = follow(frames(*seq), hint, W, H)
        assert np.all(track[3:7] == 0) and stats.frames_track_lost == 4
        assert np.allclose(track[[0, 1, 2, 7, 8, 9], :, 0].mean(1), 200, atol=8)
    long_gone = [[me, other]] * 2 + [[other]] * (REACQUIRE_AFTER + 2)
    track, stats = follow(frames(*long_gone), NO_HINT, W, H)
    assert np.all(track[2:2 + REACQUIRE_AFTER] == 0)  # then the default looks afresh:
    # the frame after REACQUIRE_AFTER lost ones takes the other person, not a frame later.
    assert np.allclose(track[2 + REACQUIRE_AFTER:, :, 0].mean(1), 500, atol=8)
    assert stats.frames_track_lost == REACQUIRE_AFTER + 1
    track, _ = follow(frames(*long_gone), parse_hint("left"), W, H)
    assert np.all(track[2:] == 0)  # the hinted side is never left


@pytest.mark.parametrize("side, box, needle", [
    ("middle", None, "participant_side 'middle' must be 'left' or 'right'"),
    (None, "0.2,0.1,0.9", "must be four numbers"),
    (None, "0.2,0.1,1.4,0.9", "lies outside the frame"),
    (None, "0.6,0.1,0.4,0.9", "lies outside the frame"),
    (None, "0.5,0.1,0.5,0.9", "lies outside the frame"),  # no width
    (None, "nan,0,1,1", "must be four numbers"),
    ("left", "0,0,1,1", "not both"),
])
def test_bad_hints_name_the_place_and_what_was_expected(side, box, needle):
    with pytest.raises(InputError, match=f"sheet.tsv: line 3: .*{needle}"):
        parse_hint(side, box, "sheet.tsv: line 3")


def test_empty_cells_are_no_hint():
    assert parse_hint(float("nan"), "") == NO_HINT == parse_hint(None, None)
    assert parse_hint(" right ").side == "right"
    assert parse_hint(None, "0,0.1,0.5,1").box == (0.0, 0.1, 0.5, 1.0)


def test_hint_from_the_sheet_row(tmp_path):
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tgroup\tvideo\tparticipant_side\n"
                     "a\tASD\ta.mp4\tleft\nb\tTDC\tb.mp4\t\nc\tTDC\tc.mp4\tup\n")
    assert hint_from_sheet(sheet, "a") == ParticipantHint("left")
    assert hint_from_sheet(sheet, "b") == NO_HINT
    with pytest.raises(InputError, match=r"participants.tsv: line 4: participant_side 'up'"):
        hint_from_sheet(sheet, "c")
    with pytest.raises(InputError, match="has no participant_id 'd'"):
        hint_from_sheet(sheet, "d")
    sheet.write_text("participant_id\tgroup\tvideo\tparticipant_side\n"
                     "a\tASD\ta.mp4\tleft\nb\tTDC\tb.mp4\t\na\tASD\ta2.mp4\tright\n")
    with pytest.raises(InputError, match=r"participant sheet .*participants.tsv has "
                                         r"participant_id 'a' on more than one line "
                                         r"\(lines 2, 4\)"):
        hint_from_sheet(sheet, "a")
    assert hint_from_sheet(sheet, "b") == NO_HINT  # the other rows are still usable
    sheet.write_bytes(b"participant_id\tgroup\nx\xe9\tASD\n")  # Latin-1, not UTF-8
    with pytest.raises(InputError, match="not UTF-8"):
        hint_from_sheet(sheet, "x")
    # Excel's "CSV UTF-8" starts with a byte-order mark; the workflow's reader drops it too.
    sheet.write_bytes(b"\xef\xbb\xbfparticipant_id\tgroup\tparticipant_side\na\tASD\tright\n")
    assert hint_from_sheet(sheet, "a") == ParticipantHint("right")


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    """Three participants with an interviewer beside them, 8 s at 10 fps, 192 x 108."""
    out = tmp_path_factory.mktemp("two") / "cohort"
    assert main(["synth", "cohort", "--out", str(out), "--per-group", "1",
                 "--seconds", "8", "--fps", "10", "--width", "192", "--height", "108",
                 "--participant-side", "random", "--interviewer", "--seed", "5",
                 "--workers", "1"]) == 0
    return out


def _followed_participant(kp: np.ndarray, truth) -> np.ndarray:
    """Per frame with a person: is it nearer the participant's true joints than the
    interviewer's?"""
    seen = has_person(kp)
    d_p = np.linalg.norm(kp[..., :2] - truth["participant"], axis=-1)
    d_i = np.linalg.norm(kp[..., :2] - truth["interviewer"], axis=-1)
    conf = kp[..., 2] > 0.3
    mean = lambda d: np.where(conf, d, 0).sum(1) / np.maximum(conf.sum(1), 1)  # noqa: E731
    return (mean(d_p) < mean(d_i))[seen]


def test_synthetic_interviewer_is_in_the_json_and_the_sheet_side_follows_the_participant(
        two_people, tmp_path):
    sheet = pd.read_csv(two_people / "participants.tsv", sep="\t")
    assert set(sheet["participant_side"]) <= {"left", "right"}
    assert (two_people / "truth_interviewer_events.tsv").is_file()
    for pid in sheet["participant_id"]:
        truth = np.load(two_people / "truth_people" / f"{pid}.npz")
        hint = hint_from_sheet(two_people / "participants.tsv", pid)
        qc = extract_pose("openpose", two_people / "videos" / f"{pid}.mp4",
                          tmp_path / f"{pid}.npz", openpose_dir=two_people / "openpose" / pid,
                          progress=False, hint=hint)
        assert qc["frames_several_people"] >= 0.9 * qc["frames_processed"]
        assert qc["participant_rule"] == f"sheet: participant_side {hint.side}"
        assert qc["participant_warning"] is None
        followed = _followed_participant(load_pose(tmp_path / f"{pid}.npz").keypoints, truth)
        assert followed.mean() == 1.0
        # The wrong side follows the interviewer: the hint is what decides.
        wrong = parse_hint("left" if hint.side == "right" else "right")
        extract_pose("openpose", two_people / "videos" / f"{pid}.mp4", tmp_path / "w.npz",
                     openpose_dir=two_people / "openpose" / pid, progress=False, hint=wrong)
        assert _followed_participant(load_pose(tmp_path / "w.npz").keypoints,
                                     truth).mean() == 0.0


def test_default_rule_among_several_people_warns_in_the_qc(two_people, tmp_path):
    qc = extract_pose("openpose", two_people / "videos/sub-001.mp4", tmp_path / "p.npz",
                      openpose_dir=two_people / "openpose/sub-001", progress=False)
    assert qc["participant_rule"].startswith("default")
    assert "participant_side" in qc["participant_warning"]


def test_pose_cli_reads_the_hint_from_the_sheet(two_people, tmp_path, capsys):
    args = ["pose", "--backend", "openpose", "--video", str(two_people / "videos/sub-002.mp4"),
            "--openpose-dir", str(two_people / "openpose/sub-002"), "--out",
            str(tmp_path / "p.npz"), "--no-progress"]
    assert main([*args, "--sheet", str(two_people / "participants.tsv"),
                 "--participant-id", "sub-002"]) == 0
    qc = (tmp_path / "p.qc.json").read_text()
    assert "sheet: participant_side" in qc
    assert main([*args, "--participant-box", "0.5,0.2,1.3,0.9"]) == 2
    assert "--participant-box: participant_box" in capsys.readouterr().err


def test_with_a_side_the_other_person_is_never_taken_even_when_near():
    """The interviewer leans in (within one body size of the participant) while the detector
    misses the participant: the track waits instead of stepping over (it used to, and then
    followed the interviewer for half a synthetic HD recording)."""
    W2, H2 = 1280, 720
    me, other = person(800, 360, size=300, seed=1), person(450, 360, size=300, seed=2)
    seq = [[me, other], [other], [other], [me, other], [me, other]]
    track, stats = follow(frames(*seq), parse_hint("right"), W2, H2)
    assert np.all(track[1:3] == 0) and stats.frames_track_lost == 2
    assert np.allclose(track[[0, 3, 4], :, 0].mean(1), 800, atol=8)


def test_anchors_and_regions_in_pixels():
    """A side's anchor is the middle of its half and its region reaches a tenth past the
    centre; a box's anchor is its centre and its region the pixels it touches."""
    left, right = parse_hint("left"), parse_hint("right")
    box = parse_hint(None, "0.12,0.3,0.63,0.85")
    assert [h.anchor(W, H).tolist() for h in (left, right, box, NO_HINT)] == [
        [160, 240], [480, 240], [240, 276], [320, 240]]
    assert [h.region(W, H) for h in (left, right, box, NO_HINT)] == [
        (0, 0, 384, 480), (256, 0, 640, 480), (76, 144, 404, 408), (0, 0, 640, 480)]


def test_a_box_limits_the_participant_vertically_too():
    """The top half: the person just below it, though nearer the box's centre, is not taken."""
    seq = [[person(320, 270, seed=1), person(100, 100, seed=2)]] * 3
    track, stats = follow(frames(*seq), parse_hint(None, "0,0,1,0.5"), W, H)
    assert np.allclose(track[:, :, 0].mean(1), 100, atol=8)
    assert stats.frames_other_nearer_anchor == 3


def test_a_single_seen_joint_is_nobody():
    """One stray joint (a hand at the frame's edge) cannot be placed: not a second person."""
    stray = np.zeros((25, 3), np.float32)
    stray[4] = [320, 240, 0.9]  # at the very centre
    track, stats = follow(frames(*[[person(150, 240, seed=1), stray]] * 3), NO_HINT, W, H)
    assert np.allclose(track[:, :, 0].mean(1), 150, atol=8)
    assert (stats.frames_several_people, stats.frames_other_nearer_anchor) == (0, 0)


def test_frames_without_anyone_are_not_lost_and_each_refind_restarts_the_count():
    """Nobody detected is not "someone else near": it neither counts as lost nor brings the
    default rule nearer to looking afresh; two losses of 6 frames, the participant seen in
    between, never reach REACQUIRE_AFTER."""
    me, other = person(200, 240, seed=1), person(500, 240, seed=2)
    seq = [[me, other]] + [[]] * (REACQUIRE_AFTER + 5) + [[me, other]]
    track, stats = follow(frames(*seq), NO_HINT, W, H)
    assert stats.frames_track_lost == 0 and stats.frames_several_people == 2
    assert np.allclose(track[[0, -1], :, 0].mean(1), 200, atol=8)
    seq = [[me, other]] + [[other]] * 6 + [[me, other]] + [[other]] * 6
    track, stats = follow(frames(*seq), NO_HINT, W, H)
    assert np.all(track[1:7] == 0) and np.all(track[8:] == 0)
    assert stats.frames_track_lost == 12 and stats.frames_several_people == 2


def test_the_default_rule_warns_above_one_percent_of_frames_with_others():
    assert several_people_warning(NO_HINT.rule, 1, 100) is None
    assert several_people_warning(NO_HINT.rule, 2, 100).startswith(
        "several people in view in 2 of 100 frames and the sheet gives no participant_side")
    assert several_people_warning(parse_hint("left").rule, 100, 100) is None


def test_someone_half_a_body_away_is_not_the_participant():
    """The default rule: the participant missed, a neighbour about one body size away (over
    MAX_JUMP) is not taken in their place."""
    me, other = person(320, 240, seed=1), person(450, 240, seed=2)
    track, stats = follow(frames(*[[me, other]] * 2 + [[other]] * 2), NO_HINT, W, H)
    assert np.all(track[2:] == 0) and stats.frames_track_lost == 2


def test_following_goes_by_the_joints_not_only_the_box():
    """Someone whose box sits where the participant's was but whose joints lie elsewhere is
    not the participant; the participant, moved 40 px with the same pose, is."""
    me = person(300, 240, seed=1)
    moved = me.copy()
    moved[:, 0] += 40
    other = me.copy()
    other[:, :2] = 2 * other[:, :2].mean(0) - other[:, :2]  # turned half round its centre
    other[:, :2] += (me[:, :2].min(0) + me[:, :2].max(0)) / 2 - (
        other[:, :2].min(0) + other[:, :2].max(0)) / 2  # box centre on the participant's
    track, _ = follow(frames([me], [other, moved]), NO_HINT, W, H)
    np.testing.assert_array_equal(track[1], moved)
