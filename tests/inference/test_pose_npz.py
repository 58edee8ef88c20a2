"""The pose file contract (`pose.npz`) and the QC summary's counts (`pose.qc`), on small
hand-made keypoints whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from microdualnet.body25 import INDEX
from microdualnet.pose.npz import PoseData, excluded_pose, has_person, load_pose, save_pose
from microdualnet.pose.qc import body_axis_upright, qc_summary, upright_problem
from pipeio.errors import InputError


def _pose(frames: int = 3) -> PoseData:
    kp = np.zeros((frames, 25, 3), np.float32)
    kp[..., 0] = np.arange(frames)[:, None] + 10
    kp[..., 1] = np.arange(25)[None, :] + 1
    kp[..., 2] = 0.9
    return PoseData(kp, np.arange(frames, dtype=np.int64) * 2, 10.0, 96, 72, "openpose", 40)


def test_a_pose_file_round_trips_with_its_video_frames_and_exclusion(tmp_path):
    pose = _pose()
    loaded = load_pose(save_pose(tmp_path / "p.npz", pose))
    np.testing.assert_array_equal(loaded.keypoints, pose.keypoints)
    np.testing.assert_array_equal(loaded.frame_index, [0, 2, 4])
    assert (loaded.fps, loaded.width, loaded.height, loaded.backend, loaded.video_frames,
            loaded.excluded) == (10.0, 96, 72, "openpose", 40, None)
    assert not loaded.complete
    gone = load_pose(save_pose(tmp_path / "x.npz", excluded_pose("mediapipe", "unreadable")))
    assert gone.excluded == "unreadable" and gone.keypoints.shape == (0, 25, 3)


def test_a_pose_file_without_video_frames_covers_its_own_rows(tmp_path):
    """Files written before `video_frames` was part of the contract: every row is a frame."""
    pose = _pose()
    np.savez(tmp_path / "old.npz", keypoints=pose.keypoints, frame_index=np.arange(3),
             fps=10.0, width=96, height=72, backend="openpose")
    old = load_pose(tmp_path / "old.npz")
    assert old.video_frames == 3 and old.complete


def test_keypoints_not_matching_the_frames_are_not_saved(tmp_path):
    pose = _pose()
    pose.frame_index = pose.frame_index[:2]
    with pytest.raises(ValueError, match=r"keypoints \(3, 25, 3\) do not match 2 frames"):
        save_pose(tmp_path / "p.npz", pose)
    assert not list(tmp_path.iterdir())


def _arrays() -> dict[str, np.ndarray]:
    pose = _pose()
    return {"keypoints": pose.keypoints, "frame_index": pose.frame_index, "fps": 10.0,
            "width": 96, "height": 72, "backend": "openpose", "video_frames": 40}


def _without(key: str) -> dict[str, np.ndarray]:
    arrays = _arrays()
    del arrays[key]
    return arrays


def _with(key: str, value) -> dict[str, np.ndarray]:
    return {**_arrays(), key: value}


def _conf(value: float) -> dict[str, np.ndarray]:
    kp = _pose().keypoints.copy()
    kp[1, 4, 2] = value
    return _with("keypoints", kp)


def _nan_x() -> dict[str, np.ndarray]:
    kp = _pose().keypoints.copy()
    kp[2, 0, 0] = np.nan
    return _with("keypoints", kp)


@pytest.mark.parametrize("arrays, needle", [
    (_without("backend"), r"key 'backend' is missing \(has \['fps', 'frame_index'"),
    (_with("keypoints", np.zeros((3, 18, 3), np.float32)),
     r"'keypoints' must be \[T, 25, 3\], got \(3, 18, 3\)"),
    (_with("frame_index", np.arange(2)), r"'frame_index' has shape \(2,\), expected \(3,\)"),
    (_with("frame_index", np.array([0, 2, 2])), "'frame_index' must be strictly increasing"),
    (_conf(-0.1), "keypoints must be finite with confidence in 0-1"),
    (_conf(1.5), "keypoints must be finite with confidence in 0-1"),
    (_nan_x(), "keypoints must be finite with confidence in 0-1"),
    (_with("fps", np.array([10.0, 10.0])), r"'fps' must be one number, got float64 \(2,\)"),
    (_with("width", "wide"), r"'width' must be one number, got <U4 \(\)"),
    (_with("video_frames", np.arange(3)), r"'video_frames' must be one number"),
    (_with("frame_index", np.array([-1, 2, 4])),
     r"'frame_index' runs -1..4, outside the video's frames 0..39"),
    (_with("frame_index", np.array([0, 2, 40])),
     r"'frame_index' runs 0..40, outside the video's frames 0..39"),
])
def test_a_bad_pose_file_names_the_file_and_the_key(tmp_path, arrays, needle):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=f"pose file .*bad.npz: {needle}"):
        load_pose(tmp_path / "bad.npz")


def test_a_missing_or_unreadable_pose_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"pose file .*none.npz does not exist"):
        load_pose(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(InputError, match=r"pose file .*text.npz is not a readable .npz"):
        load_pose(tmp_path / "text.npz")


def test_at_frames_gives_the_rows_of_the_frames_it_has_and_zeros_elsewhere():
    pose = _pose()  # rows for frames 0, 2, 4
    kp, have = pose.at_frames(np.array([[0, 1], [4, 9]]))
    np.testing.assert_array_equal(have, [[True, False], [True, False]])
    assert kp.shape == (2, 2, 25, 3) and kp.dtype == np.float32
    np.testing.assert_array_equal(kp[0, 0], pose.keypoints[0])
    np.testing.assert_array_equal(kp[1, 0], pose.keypoints[2])
    assert not kp[0, 1].any() and not kp[1, 1].any()
    kp, have = excluded_pose("openpose", "gone").at_frames(np.array([3, 5]))
    assert kp.shape == (2, 25, 3) and not kp.any() and not have.any()


def test_a_person_is_three_joints_above_the_confidence_threshold():
    kp = np.zeros((4, 25, 3), np.float32)
    kp[0, :3, 2] = 0.31  # three joints just above 0.3
    kp[1, :2, 2] = 0.9  # two joints only
    kp[2, :3, 2] = 0.3  # three joints at the threshold: not above it
    kp[3, :, 2] = 0.9
    assert has_person(kp).tolist() == [True, False, False, True]


def _axis_frames() -> np.ndarray:
    """Frames with known body axes (x right, y down, pixels):
    0, 1: neck straight above the mid-hip; 2: leaning 30 degrees (upright); 3: leaning 60
    degrees; 4: upside down; 5: upside down with level shoulders (the torso decides);
    6: shoulders only, level; 7: shoulders only, seen from behind (left and right swapped);
    8: shoulders only, steep; 9: nothing seen."""
    kp = np.zeros((10, 25, 3), np.float32)

    def torso(t: int, degrees: float, length: float = 60.0) -> None:
        a = np.radians(degrees)
        kp[t, INDEX["MidHip"]] = [50, 80, 0.9]
        kp[t, INDEX["Neck"]] = [50 + length * np.sin(a), 80 - length * np.cos(a), 0.9]

    def shoulders(t: int, right: tuple[float, float], left: tuple[float, float]) -> None:
        kp[t, INDEX["RShoulder"]] = [*right, 0.9]
        kp[t, INDEX["LShoulder"]] = [*left, 0.9]

    torso(0, 0)
    torso(1, 0)
    torso(2, 30)
    torso(3, 60)
    torso(4, 180)
    torso(5, 180)
    shoulders(5, (30, 30), (70, 30))
    shoulders(6, (30, 30), (70, 32))
    shoulders(7, (70, 30), (30, 30))
    shoulders(8, (50, 10), (55, 60))
    return kp


def test_body_axis_counts_frames_that_show_it_and_upright_ones():
    assert body_axis_upright(_axis_frames()) == (9, 5)  # upright: 0, 1, 2, 6, 7


def test_upright_problem_names_the_share_turned_and_the_setting():
    kp = _axis_frames()
    assert upright_problem(kp, 0.5) is None  # 5 of 9
    assert upright_problem(kp, 0.6) == (
        "the body axis is more than 45 degrees from upright in 44% of the 9 frames that show "
        "it (a recording turned sideways?); at least 60% upright is needed "
        "(pose.min_upright_fraction)")
    assert upright_problem(kp[[0, 3, 4, 6]], 0.5) is None  # 2 of 4: exactly enough
    assert upright_problem(kp[[9]], 0.9) is None  # no frame shows the axis: nothing to judge


def test_qc_summary_fractions_and_exclusion():
    kp = _axis_frames()
    kp[:4, INDEX["Nose"]] = [50, 10, 0.9]  # frames 0-3: neck, mid-hip and nose, a person
    pose = PoseData(kp, np.arange(10) * 3, 10.0, 96, 72, "openpose", 30)
    qc = qc_summary(pose, "v.mp4", {"participant_id": "p"})
    assert (qc["frames_processed"], qc["frames_with_person"], qc["fraction_with_person"]) == (
        10, 5, 0.5)  # 0-3 (neck, mid-hip, nose) and 5 (with both shoulders too)
    assert (qc["frames_with_body_axis"], qc["upright_fraction"]) == (9, 0.5556)
    assert qc["excluded"] is False and qc["exclusion_reason"] is None
    assert qc["participant_id"] == "p" and qc["video_frames"] == 30
    empty = qc_summary(PoseData(np.zeros((4, 25, 3), np.float32), np.arange(4), 10.0, 96, 72,
                                "openpose", 4), "v.mp4", {})
    assert empty["excluded"] is True and empty["upright_fraction"] is None
    assert empty["exclusion_reason"] == "no person detected in any processed frame"


def test_keypoints_of_another_shape_are_not_saved(tmp_path):
    pose = _pose()
    pose.keypoints = np.zeros((3, 18, 3), np.float32)
    with pytest.raises(ValueError, match=r"keypoints \(3, 18, 3\) do not match 3 frames"):
        save_pose(tmp_path / "p.npz", pose)
    assert not list(tmp_path.iterdir())


def test_a_one_element_array_is_not_one_number(tmp_path):
    """`fps` of shape (1,): a per-frame array of another contract, not a scalar."""
    np.savez(tmp_path / "bad.npz", **_with("fps", np.array([10.0])))
    with pytest.raises(InputError, match=r"bad.npz: 'fps' must be one number, got float64 \(1,\)"):
        load_pose(tmp_path / "bad.npz")


def test_a_truncated_pose_file_is_named(tmp_path):
    """A copy cut short (a full disk, an interrupted transfer) is still a zip's start."""
    data = save_pose(tmp_path / "p.npz", _pose()).read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"pose file .*cut.npz is not a readable .npz"):
        load_pose(tmp_path / "cut.npz")


def test_hips_not_seen_leave_the_axis_to_the_shoulders():
    """A neck without a mid-hip (a table hides the hips) is no body axis: level shoulders
    judge the frame, upright."""
    kp = np.zeros((1, 25, 3), np.float32)
    kp[0, INDEX["Neck"]] = [50, 20, 0.9]
    kp[0, INDEX["RShoulder"]] = [30, 20, 0.9]
    kp[0, INDEX["LShoulder"]] = [70, 21, 0.9]
    assert body_axis_upright(kp) == (1, 1)


def test_qc_fraction_with_person_keeps_four_decimals():
    kp = np.zeros((7, 25, 3), np.float32)
    kp[:3, :3, 2] = 0.9  # 3 of 7 frames with a person
    qc = qc_summary(PoseData(kp, np.arange(7), 10.0, 96, 72, "openpose", 7), "v.mp4", {})
    assert (qc["frames_with_person"], qc["fraction_with_person"]) == (3, 0.4286)


@pytest.mark.parametrize("arrays, needle", [
    (_with("fps", np.nan), r"'fps' must be a frame rate \(a finite number >= 0\), got nan"),
    (_with("fps", -10.0), r"'fps' must be a frame rate \(a finite number >= 0\), got -10"),
    (_with("frame_index", np.array([0, 1.5, 4])),
     r"'frame_index' must hold whole frame numbers, got float64 \[0.0, 1.5, 4.0\]"),
    (_with("frame_index", np.array([0, np.nan, 4])), "'frame_index' must hold whole frame"),
    (_with("frame_index", np.array(["0", "2", "4"])), "'frame_index' must hold whole frame"),
    (_with("keypoints", _pose().keypoints.astype(str)),
     "keypoints must be finite with confidence in 0-1"),
])
def test_values_that_are_no_frame_rate_or_frame_numbers_are_refused(tmp_path, arrays, needle):
    """These used to load: a NaN frame rate passes any comparison with the video's, and
    frame 1.5 silently became frame 1; text keypoints were a traceback."""
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=f"pose file .*bad.npz: {needle}"):
        load_pose(tmp_path / "bad.npz")


def test_whole_numbers_stored_as_floats_are_frame_numbers(tmp_path):
    np.savez(tmp_path / "f.npz", **_with("frame_index", np.array([0.0, 2.0, 4.0])))
    assert load_pose(tmp_path / "f.npz").frame_index.tolist() == [0, 2, 4]
