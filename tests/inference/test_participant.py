"""The participant among several people: the sheet's hint, the default rule, following."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.pose_quality import TRACK_FLAG, quality_table
from microdualnet import openpose_io
from microdualnet.cli import main
from microdualnet.pose.extract import _participant_region, extract_pose
from microdualnet.pose.npz import has_person, load_pose
from microdualnet.pose.participant import (
    NO_HINT,
    REACQUIRE_AFTER,
    ParticipantHint,
    _distance,
    follow,
    hint_from_sheet,
    other_boxes,
    parse_hint,
    several_people_warning,
    size_ratio,
    track_warning,
)
from microdualnet.pose.participant import box as joint_box
from microdualnet.video import write_mp4
from pipeio.errors import InputError
from pipeio.windows import read_windows

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
        assert qc["participant_warning"] is None and qc["track_warning"] is None
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
    record = json.loads((tmp_path / "p.npz.provenance.json").read_text())
    assert list(record["inputs"]) == [str(two_people / "videos/sub-002.mp4"),
                                      str(two_people / "participants.tsv")]
    capsys.readouterr()
    assert main(args) == 0  # the default rule among two people: a warning on stderr
    assert capsys.readouterr().err.startswith(
        f"warning: {tmp_path / 'p.npz'}: several people in view in ")
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


@pytest.mark.parametrize("box, needle", [
    ("0,0.5,1,0.5", "lies outside the frame"),  # no height
    ("0,-0.1,1,0.5", "lies outside the frame"),
    ("-0.1,0,0.5,1", "lies outside the frame"),
    ("0.1,0.1,0.5,0.5,0.9", "must be four numbers"),  # five: not silently cut to four
])
def test_boxes_without_height_above_or_left_of_the_frame_or_with_five_numbers(box, needle):
    with pytest.raises(InputError, match=f"--participant-box: participant_box '{box}' {needle}"):
        parse_hint(None, box, "--participant-box")


def test_blank_cells_with_only_spaces_are_no_hint():
    """A spreadsheet cell holding a space (or a tab) is as empty as an empty one."""
    assert parse_hint("  ", " \t ") == NO_HINT


def test_a_box_region_takes_every_pixel_it_touches():
    """Edges between pixels: the left and top rounded down, the right and bottom up
    (640 x 480: x 64.64-511.36, y 48.48-383.52)."""
    box = parse_hint(None, "0.101,0.101,0.799,0.799")
    assert box.region(W, H) == (64, 48, 512, 384)


def test_a_person_on_the_edge_of_the_hinted_half_is_in_it():
    """The left half reaches x 384 of 640: a person whose box centre is exactly there is a
    candidate (the only one)."""
    edge = np.zeros((25, 3), np.float32)
    edge[:2] = [[334, 200, 0.9], [434, 280, 0.9]]  # box centre (384, 240)
    track, stats = follow(frames(*[[edge]] * 2), parse_hint("left"), W, H)
    np.testing.assert_array_equal(track, [edge, edge])
    assert stats.frames_track_lost == 0


def test_joints_at_the_seen_threshold_do_not_count_and_a_point_has_size_one():
    """`box`: joints need confidence above SEEN (0.1); two joints in one spot give a
    diagonal of 1 px (not 0, which would divide by zero when following)."""
    kp = np.zeros((25, 3), np.float32)
    kp[:3] = [[10, 20, 0.1], [30, 60, 0.1], [50, 40, 0.1]]
    assert joint_box(kp) is None
    kp[:2, 2] = 0.2
    centre, diagonal = joint_box(kp)
    assert centre.tolist() == [20, 40] and diagonal == pytest.approx(np.hypot(20, 40))
    kp[1, :2] = kp[0, :2]
    centre, diagonal = joint_box(kp)
    assert centre.tolist() == [10, 20] and diagonal == 1.0
    # Someone seen only as one spot is followed like anyone else, without warnings.
    track, stats = follow(frames(*[[kp]] * 3), NO_HINT, W, H)
    np.testing.assert_array_equal(track, [kp] * 3)
    assert stats.frames_track_lost == 0


def _joints(*xy: tuple[float, float], seen: tuple[int, ...] | None = None) -> np.ndarray:
    kp = np.zeros((25, 3), np.float32)
    kp[:len(xy), :2] = xy
    kp[list(range(len(xy))) if seen is None else list(seen), 2] = 0.9
    return kp


def test_distance_is_in_sizes_of_the_person_followed():
    """Mean distance of the joints both see, over the followed person's box diagonal (a
    3-4-5 box of 50 px); with fewer than two joints in common, the box centres'."""
    ref = _joints((0, 0), (30, 40))
    assert _distance(ref, _joints((6, 8), (36, 48))) == pytest.approx(10 / 50)
    # The candidate twice the size: joints 0 and 50 px away, still over the reference's 50.
    assert _distance(ref, _joints((0, 0), (60, 80))) == pytest.approx(25 / 50)
    # One joint in common (joint 1): box centres (15, 20) and (45, 60), 50 px apart.
    other = _joints((0, 0), (30, 40), (60, 80), seen=(1, 2))
    assert _distance(ref, other) == pytest.approx(50 / 50)


def test_a_step_of_exactly_max_jump_is_still_the_participant():
    """MAX_JUMP (0.5 body sizes) is the largest step that is followed: 25 px of a 50 px
    diagonal is taken, a little more is lost."""
    ref = _joints((300, 200), (330, 240))
    step = _joints((315, 220), (345, 260))  # every joint 25 px away
    track, stats = follow(frames([ref], [step]), NO_HINT, W, H)
    np.testing.assert_array_equal(track, [ref, step])
    assert stats.frames_track_lost == 0
    further = _joints((315, 221), (345, 261))
    track, stats = follow(frames([ref], [further]), NO_HINT, W, H)
    assert not track[1].any() and stats.frames_track_lost == 1


def test_pose_cli_sheet_needs_an_id_and_no_side_or_box(tmp_path, capsys):
    sheet = tmp_path / "participants.tsv"
    sheet.write_text("participant_id\tparticipant_side\na\tleft\n")
    args = ["pose", "--backend", "openpose", "--video", str(tmp_path / "v.mp4"),
            "--openpose-dir", str(tmp_path), "--out", str(tmp_path / "p.npz"),
            "--sheet", str(sheet)]
    assert main(args) == 2
    assert "--sheet needs --participant-id (the row to read)" in capsys.readouterr().err
    assert main([*args, "--participant-id", "a", "--participant-side", "right"]) == 2
    assert ("give --sheet or --participant-side/--participant-box, not both"
            in capsys.readouterr().err)
    assert main([*args, "--participant-id", "a", "--participant-box", "0,0,1,1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert not list(tmp_path.glob("p.*"))


def test_with_a_hint_a_participant_who_moved_is_taken_again_at_once():
    """The participant moved (more than MAX_JUMP) within the hinted half: one lost frame,
    and the same frame takes them again; the default rule would wait REACQUIRE_AFTER."""
    here, moved = person(150, 240, seed=1), person(300, 240, seed=1)
    other = person(520, 240, seed=2)
    seq = frames([here, other], [moved, other], [moved, other])
    track, stats = follow(seq, parse_hint("left"), W, H)
    np.testing.assert_array_equal(track, [here, moved, moved])
    assert stats.frames_track_lost == 1
    track, stats = follow(seq, NO_HINT, W, H)
    assert not track[1:].any() and stats.frames_track_lost == 2


def _people_found(monkeypatch, boxes):
    from microdualnet.pose import mediapipe_backend

    monkeypatch.setattr(mediapipe_backend, "people_at_start", lambda frames, halves: boxes)


def test_mediapipe_default_rule_strip_between_the_neighbours(monkeypatch):
    """Three people found at the start of a 1000 x 400 view: the one nearest the centre
    (x 440) is followed between the midpoints to its neighbours (x 100 and 800)."""
    _people_found(monkeypatch, [(750, 100, 850, 300), (50, 100, 150, 300),
                                (390, 100, 490, 300)])
    region, rule, found = _participant_region([], NO_HINT, (1000, 400))
    assert (region, found) == ((270, 0, 620, 400), 3)
    assert rule == ("default: the person nearest the frame centre (of 3 found at the start: "
                    "followed on x 0.27-0.62 of the frame width)")


def test_mediapipe_default_rule_goes_by_the_distance_not_only_across(monkeypatch):
    """In 1000 x 1000 the person at x 420 sits at the top edge (457 px from the centre),
    the one at x 300 level with it (200 px): the latter is followed, from the frame's left
    edge to the midpoint (x 360)."""
    _people_found(monkeypatch, [(370, 0, 470, 100), (250, 400, 350, 600)])
    region, rule, found = _participant_region([], NO_HINT, (1000, 1000))
    assert (region, found) == ((0, 0, 360, 1000), 2)
    assert rule.endswith("followed on x 0.00-0.36 of the frame width)")
    _people_found(monkeypatch, [(370, 0, 470, 100)])
    assert _participant_region([], NO_HINT, (1000, 1000)) == (None, NO_HINT.rule, 1)


def test_mediapipe_region_needs_32_px_each_way():
    """A box's region in the frames BlazePose sees (640 x 360): 32 px is enough, 29 px
    high is not."""
    assert _participant_region([], parse_hint(None, "0,0,0.05,1"), (640, 360))[0] == (
        0, 0, 32, 360)
    with pytest.raises(InputError, match=r"sheet: participant_box 0,0,1,0.08: 640x29 px of "
                                         r"the 640x360 frames BlazePose sees; the region needs "
                                         r"at least 32 px each way"):
        _participant_region([], parse_hint(None, "0,0,1,0.08"), (640, 360))


def test_follow_stats_in_the_qc_record():
    me, other = person(200, 240, seed=1), person(500, 240, seed=2)
    seq = [[me, other]] * 3 + [[other]] * 4 + [[me, other]] * 3
    _, stats = follow(frames(*seq), NO_HINT, W, H)
    assert stats.to_json() == {"participant_rule": "default: the person nearest the frame centre",
                               "frames_several_people": 6, "frames_track_lost": 4,
                               "frames_other_nearer_anchor": 0,
                               "frames_other_eligible_nearer_anchor": 0, "track_restarts": 0,
                               "track_size_jumps": 0}


def test_with_a_hint_a_track_handed_to_someone_in_the_region_warns():
    """A parent sits in the hinted half beside the child; the detector misses the child in
    one frame: the parent is taken at once and continuity keeps them while the child, back
    in view, sits nearer the anchor. Which one is the child is not for following to guess,
    but QC says the track may have passed to someone else."""
    child, parent = person(160, 240, seed=1), person(330, 240, seed=2)
    interviewer = person(520, 240, seed=3)
    seq = [[child, parent, interviewer]] * 3 + [[parent, interviewer]] + [
        [interviewer, child, parent]] * 6
    track, stats = follow(frames(*seq), parse_hint("left"), W, H)
    assert np.allclose(track[:3, :, 0].mean(1), 160, atol=8)
    assert np.allclose(track[3:, :, 0].mean(1), 330, atol=8)  # the parent from frame 3 on
    assert stats.frames_other_eligible_nearer_anchor == 6 and stats.track_restarts == 1
    assert track_warning(stats, len(seq)).startswith(
        "in 6 of 10 frames another person inside the hinted region was nearer its anchor")
    # The interviewer on the other side, nearer the anchor than nobody: no warning.
    _, stats = follow(frames(*[[child, interviewer]] * 10), parse_hint("left"), W, H)
    assert stats.frames_other_eligible_nearer_anchor == 0
    assert track_warning(stats, 10) is None


def test_default_rule_taking_someone_afresh_warns_even_when_never_two_in_view():
    """The child leaves; the interviewer, alone in view, comes to the middle; the child
    returns when they have gone. Never two people in one frame, so no several-people
    warning, yet the interviewer's frames after REACQUIRE_AFTER are in the track."""
    child, interviewer = person(280, 240, seed=1), person(420, 240, seed=2)
    seq = [[child]] * 5 + [[interviewer]] * (REACQUIRE_AFTER + 5) + [[child]] * 5
    track, stats = follow(frames(*seq), NO_HINT, W, H)
    assert np.allclose(track[5 + REACQUIRE_AFTER:-5, :, 0].mean(1), 420, atol=8)
    assert not track[-5:].any()  # the child back: lost, not yet looked for afresh
    assert stats.frames_several_people == 0 and stats.track_restarts == 1
    assert several_people_warning(stats.rule, 0, len(seq)) is None
    assert track_warning(stats, len(seq)).startswith(
        "the participant was lost and the person nearest the centre taken afresh 1 time(s)")
    _, stats = follow(frames(*[[child]] * 10), NO_HINT, W, H)
    assert stats.track_restarts == 0 and track_warning(stats, 10) is None


# A 1280 x 720 video call: gallery view, the clinician's tile on the left, the child's on the
# right, each person about 300 px; speaker view, the speaker large in the middle (600 px),
# the other in a small tile (80 px) in a corner.
CALL = 1280, 720
CLINICIAN, CHILD = person(320, 360, 300, seed=1), person(960, 360, 300, seed=2)
GALLERY = [[CLINICIAN, CHILD]] * 10


@pytest.mark.parametrize("hint", [parse_hint("right"), parse_hint(None, "0.5,0,1,1"), NO_HINT])
@pytest.mark.parametrize("corner", [1150, 130])
def test_a_switch_to_speaker_view_is_a_size_jump_in_the_qc(hint, corner):
    """Gallery -> speaker view while the clinician speaks: the child's tile goes to a corner
    (on the hinted side or not), the clinician, large in the middle, is nearest the anchor
    and is taken (the default rule after REACQUIRE_AFTER lost frames). Following cannot
    tell, so QC says so (no warning came with a hint before)."""
    speaker = [[person(640, 360, 600, seed=1), person(corner, 640, 80, seed=2)]] * 15
    track, stats = follow(frames(*GALLERY, *speaker), hint, *CALL)
    assert stats.track_restarts == stats.track_size_jumps == 1
    assert np.allclose(track[-4:, :, 0].mean(1), 640, atol=30)  # the clinician
    assert "a video call's layout switch" in track_warning(stats, 25)
    if hint != NO_HINT:  # gallery view alone: the child, and no warning
        track, stats = follow(frames(*GALLERY), hint, *CALL)
        assert np.allclose(track[:, :, 0].mean(1), 960, atol=30)
        assert track_warning(stats, 10) is None


def test_a_tile_three_times_larger_is_followed_and_flagged():
    """The child's tile grows 3x in place: more than MAX_JUMP body sizes for the joints, so
    with a side the child is taken afresh at once (the right person), and QC flags the
    jump, as it cannot know; back and forth in the speaker view, twice."""
    small = [[person(320, 360, 100, seed=1), person(960, 360, 100, seed=2)]] * 5
    large = [[person(320, 360, 300, seed=1), person(960, 360, 300, seed=2)]] * 5
    track, stats = follow(frames(*small, *large), parse_hint("right"), *CALL)
    assert track.any(axis=(1, 2)).tolist() == [True] * 10
    assert np.allclose(track[:, :, 0].mean(1), 960, atol=15)
    assert stats.track_size_jumps == 1 and stats.frames_track_lost == 1
    speaker = [[person(640, 360, 600, seed=1), person(1150, 640, 80, seed=2)]] * 5
    _, stats = follow(frames(*GALLERY, *speaker, *GALLERY), parse_hint("right"), *CALL)
    assert stats.track_size_jumps == 2  # to the clinician and back to the child
    assert track_warning(stats, 25).startswith("the track was taken afresh 2 time(s) by ")


@pytest.mark.parametrize(("before", "after", "jumps"), [
    (1.0, 1.5, 1), (1.5, 1.0, 1),  # SIZE_JUMP times larger or smaller: flagged
    (1.0, 1.4, 0), (1.4, 1.0, 0),  # 1.4 times: a person leaning in or back, not flagged
])
def test_a_size_jump_is_a_restart_onto_someone_size_jump_times_larger_or_smaller(
        before, after, jumps):
    """Lost (moved across the hinted half) and taken afresh in the next frame, at `after` /
    `before` times the size last followed (even pixel offsets: the ratio exactly 1.5)."""
    offsets = np.random.default_rng(1).integers(-25, 26, (25, 2)) * 2
    offsets[:2] = [-50, -40], [50, 40]  # the box's corners

    def at(cx: float, cy: float, scale: float) -> np.ndarray:
        kp = np.full((25, 3), 0.9, np.float32)
        kp[:, :2] = offsets * scale + [cx, cy]
        return kp

    track, stats = follow(frames([at(80, 120, before)], [at(240, 340, after)]),
                          parse_hint("left"), W, H)
    assert track.any(axis=(1, 2)).all()
    assert stats.track_restarts == 1 and stats.track_size_jumps == jumps


def test_other_boxes_skip_the_followed_person_and_those_placed_by_under_two_joints():
    """Everyone else with two or more joints seen gets their joints' box; a person whose
    joints are all (or all but one) below SEEN is no one the model can be said to see."""
    followed, other = person(120, 150, seed=1), person(500, 150, 60, seed=2)
    faint, one = other.copy(), other.copy()
    faint[:, 2] = 0.05
    one[1:, 2] = 0.05
    boxes = other_boxes(frames([followed, other, faint, one], [faint, followed]),
                        np.stack([followed, followed]))
    assert boxes.shape == (2, 1, 4)
    seen = other[:, :2]
    assert np.allclose(boxes[0, 0], [*seen.min(0), *seen.max(0)])
    assert np.isnan(boxes[1]).all()


def test_a_participant_taken_afresh_at_their_size_is_no_size_jump():
    """Moved within the hinted half (one lost frame), with the legs hidden in one sighting:
    the same size over the joints both see, so no warning."""
    here = person(120, 150, seed=1)
    here[8:, 1] += 200  # hips and legs below the upper body
    moved = here.copy()
    moved[:, 0] += 200
    moved[8:, 2] = 0  # the table hides the hips and legs
    assert joint_box(moved)[1] < joint_box(here)[1] / 2
    assert size_ratio(here, moved) == pytest.approx(1.0)
    assert size_ratio(person(150, 240, seed=1),
                      person(150, 240, size=300, seed=1)) == pytest.approx(3.0)
    track, stats = follow(frames([here], [moved]), parse_hint("left"), W, H)
    assert stats.track_restarts == 1 and stats.track_size_jumps == 0
    assert track_warning(stats, 2) is None


def test_a_layout_switch_reaches_the_qc_file_and_the_report(tmp_path):
    """The openpose backend on JSON of a call (320 x 180, gallery then speaker view) with
    participant_side right: the QC record counts the jump, warns, and pose-quality flags."""
    quarter = lambda p: p * [0.25, 0.25, 1]  # noqa: E731
    gallery = np.stack([quarter(CLINICIAN), quarter(CHILD)])
    speaker = np.stack([quarter(person(640, 360, 600, seed=1)),
                        quarter(person(1150, 640, 80, seed=2))])
    openpose_io.write_sequence(tmp_path / "json", "call", np.stack([gallery] * 6 + [speaker] * 6))
    write_mp4(tmp_path / "call.mp4", [np.zeros((180, 320, 3), np.uint8)] * 12, fps=10,
              width=320, height=180)
    qc = extract_pose("openpose", tmp_path / "call.mp4", tmp_path / "p.npz",
                      openpose_dir=tmp_path / "json", progress=False, hint=parse_hint("right"))
    assert qc["track_size_jumps"] == 1 and "layout switch" in qc["track_warning"]
    assert quality_table([tmp_path / "p.qc.json"])["flags"].tolist() == [TRACK_FLAG]


def test_the_interviewer_is_in_the_pose_file_and_a_full_view_model_warns(two_people, tmp_path,
                                                                         demo_model, capsys):
    """The pose file keeps everyone else's boxes (the interviewer's, not the participant's);
    a full-view model on that recording (192x108: the square is the centre 108x108) names
    the interviewer in its input."""
    pid = "sub-001"
    truth = np.load(two_people / "truth_people" / f"{pid}.npz")
    extract_pose("openpose", two_people / "videos" / f"{pid}.mp4", tmp_path / "p.npz",
                 openpose_dir=two_people / "openpose" / pid, progress=False,
                 hint=hint_from_sheet(two_people / "participants.tsv", pid))
    pose = load_pose(tmp_path / "p.npz")
    assert pose.others_looked.all()
    centres = (pose.others_boxes[:, 0, :2] + pose.others_boxes[:, 0, 2:]) / 2
    seen = ~np.isnan(centres[:, 0])
    interviewer = truth["interviewer"][..., :2].mean(1)[pose.frame_index]
    participant = truth["participant"][..., :2].mean(1)[pose.frame_index]
    assert seen.mean() > 0.9
    assert (np.linalg.norm(centres - interviewer, axis=1)[seen]
            < np.linalg.norm(centres - participant, axis=1)[seen]).all()
    out = tmp_path / "w.parquet"
    assert main(["infer", "--model", str(demo_model), "--video",
                 str(two_people / "videos" / f"{pid}.mp4"), "--pose", str(tmp_path / "p.npz"),
                 "--out", str(out), "--participant-id", pid, "--no-progress",
                 "--max-repeated-frames", "1"]) == 0
    meta = read_windows(out)[1]
    assert meta["others_in_view_share"] > 0.5, meta["others_in_view_share"]
    assert f"warning: infer {pid}: another person is in the full-view model's input" in \
        capsys.readouterr().err
