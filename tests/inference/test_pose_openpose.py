"""The openpose backend, the pose file contract, the QC summary and the `pose` CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from inference_testkit import FPS, HEIGHT, SECONDS, WIDTH

from microdualnet import openpose_io
from microdualnet.bodyparts import ENTITY_SETS
from microdualnet.cli import main
from microdualnet.contract import read_contract
from microdualnet.pose.extract import extract_pose
from microdualnet.pose.npz import has_person, load_pose
from microdualnet.pose.openpose_backend import (
    check_body25_order,
    check_pixel_frame,
    small_frame_warning,
)
from microdualnet.pose.qc import entity_confidence
from microdualnet.windowplan import plan_windows
from pipeio.errors import InputError


def _copy_json(cohort: Path, pid: str, dest: Path) -> Path:
    shutil.copytree(cohort / "openpose" / pid, dest)
    return dest


def test_pose_file_holds_the_contract_and_the_json_person(cohort, poses):
    pid = "sub-001"
    with np.load(poses[pid]) as data:
        assert {"keypoints", "frame_index", "fps", "width", "height", "backend"} <= set(data.files)
        assert data["keypoints"].dtype == np.float32
    pose = load_pose(poses[pid])
    n = SECONDS * FPS
    assert pose.keypoints.shape == (n, 25, 3)
    np.testing.assert_array_equal(pose.frame_index, np.arange(n))
    assert (pose.fps, pose.width, pose.height, pose.backend) == (FPS, WIDTH, HEIGHT, "openpose")
    _, people = openpose_io.read_sequence(cohort / "openpose" / pid)
    for t in (0, 17, n - 1):
        expected = people[t][0] if len(people[t]) else np.zeros((25, 3), np.float32)
        np.testing.assert_array_equal(pose.keypoints[t], expected)


def test_qc_summary_counts_frames_and_entities(poses):
    qc = json.loads(poses["sub-002"].with_name("sub-002.qc.json").read_text())
    assert qc["frames_processed"] == SECONDS * FPS
    assert 0.8 * SECONDS * FPS <= qc["frames_with_person"] <= SECONDS * FPS
    assert set(qc["mean_confidence_per_entity"]) == {"head", "face", "left_hand", "right_hand",
                                                     "torso", "lower_body"}
    assert all(0.3 < v <= 1 for v in qc["mean_confidence_per_entity"].values())
    assert qc["excluded"] is False and qc["exclusion_reason"] is None
    assert qc["participant_id"] == "sub-002" and qc["only_sampled_frames"] is False
    assert qc["interlaced"] is False
    # One person in view: nothing to take the track over, no warning about it.
    assert qc["track_restarts"] == 0 and qc["track_warning"] is None
    assert qc["pixel_frame_warning"] is None  # the person reaches the frame's lower part
    # Each entity's mean joint confidence over the frames with a person, from the pose file.
    kp = load_pose(poses["sub-002"]).keypoints
    person = has_person(kp)
    assert qc["frames_with_person"] == int(person.sum())
    for entity in ENTITY_SETS[6]:
        expected = kp[person][:, list(entity.joints), 2].mean()
        assert qc["mean_confidence_per_entity"][entity.name] == pytest.approx(expected,
                                                                              abs=1e-4)


def test_entity_confidence_leaves_out_frames_without_a_person():
    """Frames with only faint joints (no person) would pull every mean down."""
    kp = np.zeros((4, 25, 3), np.float32)
    kp[:2, :, 2] = 0.8  # two frames with a person
    kp[2:, :, 2] = 0.2  # two frames with faint joints everywhere: no person
    assert has_person(kp).tolist() == [True, True, False, False]
    conf = entity_confidence(kp)
    assert set(conf) == {e.name for e in ENTITY_SETS[6]}
    assert all(v == pytest.approx(0.8) for v in conf.values())
    assert all(v is None for v in entity_confidence(kp[2:]).values())


def test_json_with_no_people_is_an_exclusion_in_the_qc(cohort, tmp_path):
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    for _, path in openpose_io.frame_files(folder):
        path.write_text(openpose_io.frame_json(np.zeros((0, 25, 3))))
    qc = extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                      openpose_dir=folder, progress=False)
    assert qc["excluded"] is True and "no person" in qc["exclusion_reason"]
    assert json.loads((tmp_path / "p.qc.json").read_text())["excluded"] is True
    assert np.all(load_pose(tmp_path / "p.npz").keypoints == 0)


def test_json_frame_count_not_matching_the_video_is_an_error(cohort, tmp_path):
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    openpose_io.frame_files(folder)[-1][1].unlink()
    with pytest.raises(InputError, match=r"79 frame files .* video has 80 frames"):
        extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                     openpose_dir=folder, progress=False)
    assert not (tmp_path / "p.npz").exists()


def test_a_missing_frame_with_a_stray_file_is_named_not_shifted(cohort, tmp_path):
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    files = openpose_io.frame_files(folder)
    files[3][1].rename(folder / openpose_io.frame_filename("sub-001", 80))  # 3 gone, 80 extra
    with pytest.raises(InputError, match=r"frame 3 has no file"):
        extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                     openpose_dir=folder, progress=False)
    (folder / openpose_io.frame_filename("sub-001", 80)).rename(
        folder / openpose_io.frame_filename("old", 4))  # two files for frame 4
    with pytest.raises(InputError, match=r"two files for frame 4"):
        openpose_io.frame_files(folder)


@pytest.mark.parametrize("scale, message", [
    (20.0, r"a keypoint at \(\d+, \d+\) lies outside the \d+x\d+ video"),
    (1 / 160, r"normalised coordinates"),
])
def test_json_of_another_pixel_frame_is_refused(cohort, tmp_path, scale, message):
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    for _, path in openpose_io.frame_files(folder):
        people = openpose_io.read_frame(path)
        people[..., :2] *= scale
        path.write_text(openpose_io.frame_json(people))
    with pytest.raises(InputError, match=message):
        extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                     openpose_dir=folder, progress=False)


@pytest.mark.parametrize("scale", [3, 4])
def test_keypoints_written_with_a_normalised_keypoint_scale_are_refused(cohort, tmp_path, scale):
    """OpenPose's --keypoint_scale 3 writes x / width and y / height (0..1), 4 writes them
    at -1..1: inside the frame's pixels near its corner, they would pass as a tiny person."""
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    for _, path in openpose_io.frame_files(folder):
        people = openpose_io.read_frame(path)
        people[..., :2] /= (WIDTH, HEIGHT)
        if scale == 4:
            people[..., :2] = people[..., :2] * 2 - 1
        path.write_text(openpose_io.frame_json(people))
    with pytest.raises(InputError, match=r"json: every keypoint has \|x\| and \|y\| <= 1.5, "
                                         r"normalised coordinates \(OpenPose's --keypoint_scale "
                                         r"3 or 4\), not pixels: run it with the default scale"):
        extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                     openpose_dir=folder, progress=False)


# Where BODY_25B (and COCO-17 in its first 17 places) puts each BODY_25 joint: nose, left
# and right eye, ears, shoulders, elbows, wrists, hips, knees, ankles; the upper neck
# (BODY_25's neck), the head top (none: the nose here); the feet as in BODY_25.
BODY_25B = [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11, 1, 0,
            19, 20, 21, 22, 23, 24]


def _reordered(people: np.ndarray, coco17: bool = False) -> np.ndarray:
    """BODY_25 people `[..., 25, 3]` in BODY_25B's order, or COCO-17's in 25 places."""
    out = people[..., BODY_25B, :].copy()
    if coco17:
        out[..., 17:, :] = 0
    return out


@pytest.mark.parametrize("coco17", [False, True])
def test_json_in_body25b_or_coco_order_is_refused(cohort, tmp_path, coco17):
    """75 numbers a person, as BODY_25's, but the joints in another order: read as BODY_25,
    the eyes would be the neck and right shoulder, an elbow the mid-hip."""
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    for _, path in openpose_io.frame_files(folder):
        path.write_text(openpose_io.frame_json(_reordered(openpose_io.read_frame(path), coco17)))
    with pytest.raises(InputError, match=r"OpenPose folder .*json: joints 1 and 2 \(BODY_25's "
                                         r"neck and right shoulder\) lie above the nose, as eyes "
                                         r"do, in \d+ of the \d+ upright people .* the JSON of "
                                         r"OpenPose's BODY_25B model or of a tool writing COCO's "
                                         r"joint order .*run OpenPose with its default BODY_25 "
                                         r"model"):
        extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                     openpose_dir=folder, progress=False)
    assert not (tmp_path / "p.npz").exists()


@pytest.mark.parametrize(("yaw", "size", "roll", "action"), [
    (0.0, 1.0, 0.0, "nodding"),
    (1.5, 1.0, 0.0, "nodding"),  # seen from the side
    (-1.5, 1.0, 0.2, "nodding"),  # from the other side, leaning
    (-0.36, 1.0, -0.2, "nodding"),  # leaning while nodding: one shoulder near the nose
    (0.4, 1.7, 0.0, "nodding"),  # close up: legs, and at times the head, out of view
    (0.3, 1.0, 0.2, "tilting head"),
    (-0.5, 1.0, 0.0, "head up"),
    (0.0, 1.0, 0.0, "covering face"),  # the face's joints hidden at times
])
def test_body25_order_check_passes_body25_and_refuses_body25b(yaw, size, roll, action):
    """Synthetic BODY_25 of hard views passes (a seated child, the detector's misses), the
    same people in BODY_25B's or COCO-17's order are refused."""
    kp = _recording(yaw, size, roll, action)
    check_body25_order(list(kp[:, None]), "json")
    for coco17 in (False, True):
        with pytest.raises(InputError, match=r"json: joints 1 and 2 .* lie above the nose"):
            check_body25_order(list(_reordered(kp, coco17)[:, None]), "json")


def _recording(yaw: float, size: float, roll: float, action: str) -> np.ndarray:
    """Synthetic detector keypoints `[90, 25, 3]` of a seated child in a 640x480 video."""
    import dataclasses

    from microdualnet.synthetic.actions import BY_NAME, Event
    from microdualnet.synthetic.appearance import sample_camera
    from microdualnet.synthetic.scene import record

    rng = np.random.default_rng(11)
    cam = dataclasses.replace(sample_camera(rng, 640, 480, yaw=(yaw, yaw), size=(size, size)),
                              roll=roll)
    return record([Event(BY_NAME[action].action_id, 0.3, 2.7)], 90, 30.0, 640, 480, rng,
                  camera=cam).keypoints


def test_body25_turned_sideways_is_left_to_the_upright_check():
    """Turned 90 degrees, BODY_25's neck is at the nose's height: only people upright read
    as BODY_25 vote, so the recording gets the upright check's exclusion, which says why."""
    from microdualnet.pose.qc import upright_problem

    kp = _recording(0.2, 1.0, 0.0, "nodding")
    seen = kp[..., 2:] > 0
    for turn in ((0, -1), (0, 1)):  # either way: (x, y) -> (-y, x), (y, -x)
        turned = kp.copy()
        turned[..., 0] = turn[1] * (kp[..., 1] - 240) + 320
        turned[..., 1] = -turn[1] * (kp[..., 0] - 320) + 240
        turned[..., :2] *= seen
        check_body25_order(list(turned[:, None]), "json")
        assert "more than 45 degrees from upright" in upright_problem(turned, 0.5)


def test_body25_order_check_needs_ten_people_and_a_majority(monkeypatch):
    """Only people with the nose, joint 5 below it and joint 1 or 2 vote; a verdict needs
    ten votes, a refusal more than half of them, the same SEEN_BLOCK frames at a time."""
    from microdualnet.pose import openpose_backend

    nose, shoulder, none = (50, 40, 0.9), (60, 61, 0.9), (0, 0, 0)
    body25 = _one_person(nose, (50, 60, 0.9), (40, 59, 0.9), none, none, shoulder)[0]
    eyes = _one_person(nose, (53, 37, 0.9), (47, 37, 0.9), none, none, shoulder, none, none,
                       (40, 80, 0.9))[0]  # BODY_25B's eyes, left shoulder, right elbow
    no_vote = eyes.copy()
    no_vote[0, 5] = 0  # no joint 5
    lying = eyes.copy()
    lying[0, 5, 1] = 39  # joint 5 above the nose
    for block in (4096, 1, 3):
        monkeypatch.setattr(openpose_backend, "SEEN_BLOCK", block)
        check_body25_order([eyes] * 9 + [no_vote, lying] * 5, "json")  # 9 votes: no verdict
        check_body25_order([eyes] * 10 + [body25] * 10, "json")  # half: no refusal
        with pytest.raises(InputError, match=r"in 11 of the 21 upright people"):
            check_body25_order([np.zeros((0, 25, 3), np.float32), *[eyes] * 11,
                                no_vote, *[body25] * 10], "json")
        with pytest.raises(InputError, match=r"in 10 of the 10 upright people"):
            check_body25_order([np.concatenate([eyes, no_vote])] * 10, "json")


@pytest.mark.parametrize(("neck", "shoulder", "refused"), [
    (42, 42, True),  # both within the first 20% of the nose-to-joint-5 drop (20 px): eyes
    (46, 46, False),  # both at 30%: a head bent forward, not eyes
    (60, 41, False),  # a shoulder raised to the nose (a shrug): the neck, lower, decides
])
def test_body25_order_check_votes_by_the_lower_of_joints_1_and_2(neck, shoulder, refused):
    """An upright person (neck over mid-hip) votes 'eyes' only where the lower of joints 1
    and 2 lies within EYES_CUT of the drop from the nose (y 40) to joint 5 (y 60)."""
    person = _one_person((50, 40, 0.9), (50, neck, 0.9), (40, shoulder, 0.9), (0, 0, 0),
                         (0, 0, 0), (60, 60, 0.9), (0, 0, 0), (0, 0, 0), (50, 100, 0.9))
    people = person * 10
    if refused:
        with pytest.raises(InputError, match=r"in 10 of the 10 upright people"):
            check_body25_order(people, "json")
    else:
        check_body25_order(people, "json")


def test_json_of_a_smaller_copy_of_the_video_is_warned_about(cohort, tmp_path, capsys):
    """OpenPose run on a half-size copy (or with --keypoint_scale 1): every keypoint inside
    the frame, so nothing refuses it, but the person sits up and left of where the video
    shows them. The QC record and the CLI say so."""
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    for _, path in openpose_io.frame_files(folder):
        people = openpose_io.read_frame(path)
        people[..., :2] *= 0.5
        path.write_text(openpose_io.frame_json(people))
    out = tmp_path / "p.npz"
    assert main(["pose", "--backend", "openpose", "--video", str(cohort / "videos/sub-001.mp4"),
                 "--openpose-dir", str(folder), "--out", str(out), "--no-progress"]) == 0
    warning = json.loads(out.with_name("p.qc.json").read_text())["pixel_frame_warning"]
    assert warning.startswith("every keypoint of everyone in view lies within the top-left ")
    assert f"of the {WIDTH}x{HEIGHT} video: the JSON may be in the pixels of a smaller copy" \
        in warning
    assert f"warning: {out}: every keypoint of everyone" in capsys.readouterr().err


def test_reading_the_json_shows_progress_unless_told_not_to(cohort, tmp_path, capsys):
    """An hour's recording is 90,000-216,000 JSON files, read for a minute or more: the CLI
    shows a bar (as the mediapipe backend does) unless given --no-progress."""
    argv = ["pose", "--backend", "openpose", "--video", str(cohort / "videos/sub-001.mp4"),
            "--openpose-dir", str(cohort / "openpose/sub-001"), "--out", str(tmp_path / "p.npz")]
    assert main(argv) == 0
    bar = capsys.readouterr().err
    assert "pose sub-001: 100%" in bar and f"{SECONDS * FPS}/{SECONDS * FPS} [" in bar
    assert main([*argv, "--no-progress"]) == 0
    assert "100%" not in capsys.readouterr().err


def test_a_person_reaching_past_two_thirds_of_either_side_is_not_a_smaller_copy():
    assert small_frame_warning(_one_person((10, 10, 0.9), (60, 40, 0.8)), 96, 72) is not None
    assert small_frame_warning(_one_person((10, 10, 0.9), (65, 40, 0.8)), 96, 72) is None
    assert small_frame_warning(_one_person((10, 10, 0.9), (60, 49, 0.8)), 96, 72) is None
    # Joints OpenPose did not find (confidence 0) say nothing; nobody at all: no warning.
    assert small_frame_warning(_one_person((10, 10, 0.9), (90, 70, 0.0)), 96, 72) is not None
    assert small_frame_warning([np.zeros((0, 25, 3), np.float32)], 96, 72) is None


def test_only_sampled_frames_are_processed(cohort, demo_model, tmp_path):
    argv = ["pose", "--backend", "openpose", "--video", str(cohort / "videos/sub-003.mp4"),
            "--openpose-dir", str(cohort / "openpose/sub-003"), "--out", str(tmp_path / "s.npz"),
            "--only-sampled", str(demo_model), "--window-s", "1.0", "--hop-s", "1.0",
            "--no-progress"]
    assert main(argv) == 0
    pose = load_pose(tmp_path / "s.npz")
    plan = plan_windows(SECONDS * FPS, FPS, read_contract(demo_model).sampling_rule, 1.0, 1.0)
    np.testing.assert_array_equal(pose.frame_index, plan.unique_frames())
    assert not pose.complete and pose.video_frames == SECONDS * FPS
    assert json.loads((tmp_path / "s.qc.json").read_text())["only_sampled_frames"] is True


def test_a_video_shorter_than_one_window_is_not_called_one_without_a_person(
        cohort, demo_model, tmp_path, capsys):
    """--only-sampled on an 8-s video with 9-s windows processes no frame: the QC record
    says so, rather than that no person was detected."""
    argv = ["pose", "--backend", "openpose", "--video", str(cohort / "videos/sub-003.mp4"),
            "--openpose-dir", str(cohort / "openpose/sub-003"), "--out", str(tmp_path / "s.npz"),
            "--only-sampled", str(demo_model), "--window-s", "9.0", "--no-progress"]
    assert main(argv) == 0
    reason = (f"no frame processed: the video ({SECONDS:.2f} s) is shorter than one window, "
              "so inference samples none")
    assert f"person in 0/0 frames (excluded: {reason})" in capsys.readouterr().out
    qc = json.loads((tmp_path / "s.qc.json").read_text())
    assert (qc["frames_processed"], qc["excluded"], qc["exclusion_reason"]) == (0, True, reason)


@pytest.mark.parametrize("make, needle", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_text("not a video at all"), "not readable"),
])
def test_bad_video_files_give_one_line_errors(cohort, tmp_path, capsys, make, needle):
    video = tmp_path / "bad.mp4"
    make(video)
    code = main(["pose", "--backend", "openpose", "--video", str(video), "--openpose-dir",
                 str(cohort / "openpose/sub-001"), "--out", str(tmp_path / "p.npz")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and str(video) in err and len(err.splitlines()) == 1


def test_truncated_video_is_an_error_naming_the_file(cohort, tmp_path, capsys):
    data = (cohort / "videos/sub-001.mp4").read_bytes()
    video = tmp_path / "cut.mp4"
    video.write_bytes(data[: len(data) * 2 // 3])
    code = main(["pose", "--backend", "openpose", "--video", str(video), "--openpose-dir",
                 str(cohort / "openpose/sub-001"), "--out", str(tmp_path / "p.npz")])
    err = capsys.readouterr().err
    assert code == 2 and f"video {video}" in err


@pytest.mark.parametrize("only", [[80], [-1, 5], [85, 3]])
def test_frames_to_process_outside_the_video_are_refused(cohort, tmp_path, only):
    with pytest.raises(InputError, match="frames to process lie outside the video's 80 frames"):
        extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                     openpose_dir=cohort / "openpose/sub-001", only_frames=np.array(only),
                     progress=False)
    assert not (tmp_path / "p.npz").exists()


def test_only_frames_are_taken_once_each_in_order(cohort, poses, tmp_path):
    qc = extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                      openpose_dir=cohort / "openpose/sub-001", only_frames=np.array([5, 3, 3]),
                      progress=False)
    pose = load_pose(tmp_path / "p.npz")
    np.testing.assert_array_equal(pose.frame_index, [3, 5])
    np.testing.assert_array_equal(pose.keypoints, load_pose(poses["sub-001"]).keypoints[[3, 5]])
    assert qc["only_sampled_frames"] is True and qc["frames_processed"] == 2


def test_an_upside_down_body_is_refused_when_uprightness_is_asked_for(cohort, tmp_path,
                                                                       capsys):
    """The pose stage's own check (pose.min_upright_fraction): nothing written, the video
    named."""
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    for _, path in openpose_io.frame_files(folder):
        people = openpose_io.read_frame(path)
        seen = people[..., 2] > 0
        people[..., 1] = np.where(seen, HEIGHT - 1 - people[..., 1], 0)
        path.write_text(openpose_io.frame_json(people))
    args = ("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz")
    with pytest.raises(InputError, match=r"video .*sub-001.mp4: the body axis is more than 45 "
                                         r"degrees from upright in 9\d% of the \d+ frames"):
        extract_pose(*args, openpose_dir=folder, progress=False, min_upright=0.5)
    assert not (tmp_path / "p.npz").exists()
    # The pose CLI asks for half the frames upright unless told otherwise.
    assert main(["pose", "--backend", "openpose", "--video", str(args[1]), "--openpose-dir",
                 str(folder), "--out", str(args[2]), "--no-progress"]) == 2
    assert "degrees from upright" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()
    qc = extract_pose(*args, openpose_dir=folder, progress=False)  # the check is off: 0
    assert qc["upright_fraction"] < 0.1  # only the frames judged by the (level) shoulders


def test_an_unknown_backend_or_a_missing_openpose_folder_is_one_line(cohort, tmp_path):
    video = cohort / "videos/sub-001.mp4"
    with pytest.raises(InputError, match=r"unknown pose backend 'alphapose'; expected one of "
                                         r"\('mediapipe', 'openpose'\)"):
        extract_pose("alphapose", video, tmp_path / "p.npz", progress=False)
    with pytest.raises(InputError, match="the openpose backend needs --openpose-dir"):
        extract_pose("openpose", video, tmp_path / "p.npz", progress=False)
    assert not list(tmp_path.iterdir())


def _one_person(*joints: tuple[float, float, float]) -> list[np.ndarray]:
    kp = np.zeros((1, 25, 3), np.float32)
    kp[0, :len(joints)] = joints
    return [kp]


def test_an_integer_beyond_floats_range_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / openpose_io.frame_filename("sub-001", 0)
    path.write_text('{"people":[{"pose_keypoints_2d":[' + ",".join(["1" + "0" * 400] * 75)
                    + "]}]}")
    with pytest.raises(InputError, match=rf"{path.name}: person 0 joint 0 is not three numbers"):
        openpose_io.read_frame(path)


def test_keypoints_a_little_past_the_edge_are_pixels_of_this_video():
    """OpenPose places joints up to 2% of the frame past its edges (96 x 72: 1.92 and
    1.44 px); joints it did not find (confidence 0) may lie anywhere."""
    check_pixel_frame(_one_person((-1.9, 73.4, 0.5), (97.9, 30, 0.9), (500, -80, 0.0)),
                      96, 72, "json")
    for x, y in ((-2.0, 10), (10, 73.5), (97.95, 10)):
        with pytest.raises(InputError, match=r"OpenPose folder json: a keypoint at .* lies "
                                             r"outside the 96x72 video"):
            check_pixel_frame(_one_person((x, y, 0.5), (50, 50, 0.9)), 96, 72, "json")


def test_normalised_keypoints_up_to_one_and_a_half_are_refused_but_tiny_videos_pass():
    people = _one_person((1.4, 0.2, 0.9), (-1.0, 0.5, 0.9))  # keypoint_scale 4: -1..1 (+)
    with pytest.raises(InputError, match=r"OpenPose folder json: every keypoint has \|x\| "
                                         r"and \|y\| <= 1.5, normalised coordinates"):
        check_pixel_frame(people, 640, 480, "json")
    check_pixel_frame(_one_person((1.4, 0.2, 0.9)), 30, 30, "json")  # a 30 px video: pixels
    check_pixel_frame(_one_person((1.6, 0.2, 0.9)), 640, 480, "json")


def _two_people_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` frames of a 1920x1080 recording: the participant in most, an interviewer in
    some, a tenth of the joints not found."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        people = np.zeros((int(rng.integers(0, 3)), 25, 3), np.float32)
        people[..., 0] = rng.uniform(0, 1900, people.shape[:2])
        people[..., 1] = rng.uniform(0, 1060, people.shape[:2])
        people[..., 2] = np.where(rng.random(people.shape[:2]) < 0.1, 0, 0.8)
        frames.append(people)
    return frames


def test_the_pixel_checks_hold_no_copy_of_every_joint_found(monkeypatch):
    """An hour's recording at 25-60 fps has 90,000-216,000 frames: a copy of every joint
    found, for both checks, took more memory than the people themselves (the reader's peak
    for 90,000 frames with an interviewer in most: 189 MB with the copy, 126 MB without)."""
    import tracemalloc

    from microdualnet.pose import openpose_backend

    monkeypatch.setattr(openpose_backend, "SEEN_BLOCK", 100)  # as 4,096 of 90,000 frames
    people = _two_people_frames(3000)
    held = sum(p.nbytes for p in people)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        check_pixel_frame(people, 1920, 1080, "json")
        assert small_frame_warning(people, 1920, 1080) is None
        extra = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert extra < 0.2 * held  # one block of SEEN_BLOCK frames at a time


def test_the_pixel_checks_give_the_same_answers_block_by_block(monkeypatch):
    """The joints are looked at `SEEN_BLOCK` frames at a time: the first keypoint outside
    the frame, the largest |x| and |y| and the largest x and y are those of all frames."""
    from microdualnet.pose import openpose_backend

    unseen = np.zeros((1, 25, 3), np.float32)
    unseen[0, :, :2] = 5000  # joints not found may lie anywhere
    outside = _one_person((10, 10, 0.9), (2000, 10, 0.9))[0]
    later = _one_person((10, 1200, 0.9))[0]
    frames = [*_two_people_frames(5, seed=1), np.zeros((0, 25, 3), np.float32), unseen,
              outside, later]
    small = [*_one_person((10, 10, 0.9), (500, 20, 0.8)), np.zeros((0, 25, 3), np.float32),
             *_one_person((30, 300, 0.9))]
    scaled = [*_one_person((1.4, 0.2, 0.9)), unseen, *_one_person((-1.0, 0.5, 0.9))]
    answers = []
    for block in (4096, 1, 2):
        monkeypatch.setattr(openpose_backend, "SEEN_BLOCK", block)
        with pytest.raises(InputError) as first:
            check_pixel_frame(frames, 1920, 1080, "json")
        with pytest.raises(InputError) as normalised:
            check_pixel_frame(scaled, 640, 480, "json")
        check_pixel_frame([*scaled, *_one_person((1.6, 0.2, 0.9))], 640, 480, "json")
        check_pixel_frame([*_one_person((1.6, 0.2, 0.9)), *scaled], 640, 480, "json")
        check_pixel_frame([*scaled, *_one_person((-1.6, 0.2, 0.9))], 640, 480, "json")
        check_pixel_frame([unseen, np.zeros((0, 25, 3), np.float32)], 640, 480, "json")
        answers.append((str(first.value), str(normalised.value),
                        small_frame_warning(small, 1920, 1080),
                        small_frame_warning([*small, later], 1920, 1080),
                        small_frame_warning([unseen], 1920, 1080)))
    assert answers[0] == answers[1] == answers[2]
    assert "a keypoint at (2000, 10) lies outside the 1920x1080 video" in answers[0][0]
    assert "every keypoint has |x| and |y| <= 1.5" in answers[0][1]
    assert "within the top-left 500x300 px of the 1920x1080 video" in answers[0][2]
    assert answers[0][3:] == (None, None)


def _renamed_json(cohort: Path, pid: str, dest: Path, stem: str) -> Path:
    """A copy of a participant's OpenPose folder with its files named after `stem`."""
    dest.mkdir(parents=True)
    for frame, path in openpose_io.frame_files(cohort / "openpose" / pid):
        shutil.copyfile(path, dest / openpose_io.frame_filename(stem, frame))
    return dest


def _pose_flags(cohort: Path, tmp_path: Path, folders: dict[str, Path]) -> dict[str, str]:
    """Pose-quality flags of participants whose pose is read from the given folders."""
    from analysis.pose_quality import quality_table

    qc = []
    for pid, folder in folders.items():
        qc.append(tmp_path / "pose" / f"{pid}.qc.json")
        extract_pose("openpose", cohort / f"videos/{pid}.mp4", tmp_path / "pose" / f"{pid}.npz",
                     openpose_dir=folder, progress=False)
    return dict(quality_table(qc)[["participant_id", "flags"]].values)


def test_the_qc_holds_digests_of_the_names_and_keypoints_not_the_names(cohort, tmp_path):
    folder = _renamed_json(cohort, "sub-001", tmp_path / "json", "smith_john_2023")
    qc = extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                      openpose_dir=folder, progress=False, only_frames=np.arange(0, 80, 2))
    assert qc["openpose_stem_sha256"] == openpose_io.name_digest("smith_john_2023")
    assert qc["video_stem_sha256"] == openpose_io.name_digest("sub-001")
    _, people = openpose_io.read_sequence(folder)
    assert qc["openpose_keypoints_sha256"] == openpose_io.people_digest(people[::2])
    assert qc["openpose_keypoints_sha256"] != openpose_io.people_digest(people)
    assert "smith" not in json.dumps(qc)


def test_one_folder_copied_under_two_participants_is_flagged(cohort, tmp_path):
    """Every video of the same length: the frame count passes, the digests do not."""
    flags = _pose_flags(cohort, tmp_path, {
        "sub-001": cohort / "openpose/sub-001",
        "sub-002": _copy_json(cohort, "sub-001", tmp_path / "copy"),
        "sub-003": cohort / "openpose/sub-003"})
    assert flags["sub-001"].startswith("OpenPose JSON identical to that of sub-002: ")
    # The copy is also named after sub-001's video: that says which of the two it is.
    assert flags["sub-002"].split("; ")[:2] == [
        "OpenPose JSON identical to that of sub-001: one video's JSON under several "
        "participants (a folder copied?), so at most one of them has their own pose",
        "OpenPose files named after the video of sub-001, not this participant's: the JSON "
        "of another participant's video (folders swapped or copied?)"]
    assert flags["sub-003"] == ""


def test_two_swapped_folders_are_flagged_by_their_names(cohort, tmp_path):
    flags = _pose_flags(cohort, tmp_path, {"sub-001": cohort / "openpose/sub-002",
                                           "sub-002": cohort / "openpose/sub-001",
                                           "sub-003": cohort / "openpose/sub-003"})
    assert flags["sub-001"].startswith("OpenPose files named after the video of sub-002, ")
    assert flags["sub-002"].startswith("OpenPose files named after the video of sub-001, ")
    assert flags["sub-003"] == ""


def test_json_named_before_the_videos_were_pseudonymised_is_not_flagged(cohort, tmp_path):
    flags = _pose_flags(cohort, tmp_path, {
        pid: _renamed_json(cohort, pid, tmp_path / "json" / pid, f"visit {n} 2019")
        for n, pid in enumerate(("sub-001", "sub-002", "sub-003"))})
    assert flags == {"sub-001": "", "sub-002": "", "sub-003": ""}


def test_a_folder_with_the_json_of_two_videos_is_refused(cohort, tmp_path):
    """Frames 0-39 of one video and 40-79 of another: no frame twice, the count right."""
    folder = _copy_json(cohort, "sub-001", tmp_path / "json")
    for frame, path in openpose_io.frame_files(folder)[40:]:
        path.rename(folder / openpose_io.frame_filename("sub-002", frame))
    with pytest.raises(InputError, match=r"json: its files are named after 2 videos "
                                         r"\('sub-001', 'sub-002'\): the JSON of several "):
        extract_pose("openpose", cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                     openpose_dir=folder, progress=False)
