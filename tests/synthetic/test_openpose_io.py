"""OpenPose JSON written by the project reads back bit-exactly; bad files name themselves."""

import json

import numpy as np
import pytest

from microdualnet import openpose_io
from pipeio.errors import InputError


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(0, 1920, (7, 25, 2)), rng.uniform(0, 1, (7, 25, 1))],
                        -1).astype(np.float32)
    kp[3] = 0.0  # no person found in this frame
    kp[5, 4] = 0.0  # one joint missed
    openpose_io.write_sequence(tmp_path, "vid", kp)
    frames, people = openpose_io.read_sequence(tmp_path)
    assert list(frames) == list(range(7))
    assert len(people[3]) == 0
    back = np.stack([p[0] if len(p) else np.zeros((25, 3), np.float32) for p in people])
    assert back.dtype == np.float32
    assert np.array_equal(back, kp)
    name = openpose_io.frame_filename("vid", 2)
    assert name == "vid_000000000002_keypoints.json"
    assert "pose_keypoints_2d" in json.loads((tmp_path / name).read_text())["people"][0]


def test_truncated_array_names_the_file(tmp_path):
    bad = tmp_path / "v_000000000000_keypoints.json"
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 74}]}))
    with pytest.raises(InputError, match=r"v_000000000000_keypoints.json.*75 numbers.*got 74"):
        openpose_io.read_frame(bad)


def test_broken_json_and_missing_folder(tmp_path):
    bad = tmp_path / "v_000000000001_keypoints.json"
    bad.write_text('{"people": [')
    with pytest.raises(InputError, match="not a readable OpenPose JSON"):
        openpose_io.read_frame(bad)
    with pytest.raises(InputError, match="does not exist"):
        openpose_io.read_sequence(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no '\\*_<12-digit frame>_keypoints.json' files"):
        openpose_io.read_sequence(tmp_path / "empty")


def test_confidence_above_one_is_clipped_and_bad_values_name_the_joint(tmp_path):
    path = tmp_path / "v_000000000000_keypoints.json"
    values = [10.0, 20.0, 0.9] * 25
    values[2] = 1.40701  # OpenPose's heatmap peaks can exceed 1
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": values}]}))
    people = openpose_io.read_frame(path)
    assert people[0, 0, 2] == 1.0 and people[0, 1, 2] == np.float32(0.9)
    for bad in (None, "n/a"):
        values[4] = bad
        path.write_text(json.dumps({"people": [{"pose_keypoints_2d": values}]}))
        with pytest.raises(InputError, match=r"person 0 joint 1 is not three numbers"):
            openpose_io.read_frame(path)
    path.write_bytes(b'{"people": [\xff]}')
    with pytest.raises(InputError, match="not a readable OpenPose JSON"):
        openpose_io.read_frame(path)
    # 1e300 fits a JSON number but not float32: it was stored as infinity
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [10.0, 20.0, 0.9] * 8
                                            + [1e300, 20.0, 0.9] + [10.0, 20.0, 0.9] * 16}]}))
    with pytest.raises(InputError, match=r"person 0 joint 8 is not three numbers "
                       r"\(\[1e\+300, 20.0, 0.9\]\)"):
        openpose_io.read_frame(path)
    path.write_text('{"people": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="not a readable OpenPose JSON file \\(maximum "
                       "recursion depth exceeded"):  # was a RecursionError
        openpose_io.read_frame(path)


@pytest.mark.parametrize("text", ['{"version": 1.3}', '[{"pose_keypoints_2d": []}]',
                                  '{"people": {"pose_keypoints_2d": []}}'])
def test_json_without_a_people_list_names_the_file(tmp_path, text):
    path = tmp_path / "v_000000000000_keypoints.json"
    path.write_text(text)
    with pytest.raises(InputError, match=r"v_000000000000_keypoints.json: expected an object "
                                         r"with a 'people' list"):
        openpose_io.read_frame(path)


def test_a_person_that_is_not_an_object_names_the_file(tmp_path):
    path = tmp_path / "v_000000000000_keypoints.json"
    path.write_text(json.dumps({"people": [[1.0] * 75]}))
    with pytest.raises(InputError, match=r"person 0 'pose_keypoints_2d' must hold 75 numbers "
                                         r"\(BODY_25 x, y, c\), got NoneType"):
        openpose_io.read_frame(path)


@pytest.mark.parametrize(("person", "message"), [
    ({"pose_keypoints_2d": [1.0] * 54}, r"got 54, as OpenPose writes for COCO's 18 joints "
     r"\(--model_pose COCO\): run OpenPose with its default BODY_25 model"),
    ({"pose_keypoints_2d": [1.0] * 45}, r"got 45, as OpenPose writes for MPI's 15 joints"),
    ({"pose_keypoints_2d": [1.0] * 405}, r"got 405, as OpenPose writes for BODY_135's 135 "
     r"joints \(--model_pose BODY_135\)"),
    ({"pose_keypoints_2d": [1.0] * 51}, r"got 51, COCO's 17 joints, as other pose tools write "
     r"them in OpenPose's format: run OpenPose with its default BODY_25 model"),
    ({"pose_keypoints": [1.0] * 54, "face_keypoints": []}, r"got NoneType; 'pose_keypoints' "
     r"instead: JSON of an older OpenPose \(COCO's 18 joints by default\)"),
])
def test_another_openpose_model_or_version_is_named(tmp_path, person, message):
    """JSON of another body model or of an older OpenPose (which named the key
    `pose_keypoints`) says which, not only the count (or 'got NoneType')."""
    path = tmp_path / "v_000000000000_keypoints.json"
    path.write_text(json.dumps({"people": [person]}))
    with pytest.raises(InputError, match=message):
        openpose_io.read_frame(path)


def test_numbers_written_as_text_are_read(tmp_path):
    path = tmp_path / "v_000000000000_keypoints.json"
    values = ["12.5", "7", "0.25"] + [0.0] * 72
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": values}]}))
    np.testing.assert_array_equal(openpose_io.read_frame(path)[0, 0], [12.5, 7.0, 0.25])


def test_hidden_copies_are_not_frames(tmp_path):
    """macOS leaves `._<name>` files beside copies on some drives: not a second frame 0."""
    kp = np.ones((2, 25, 3), np.float32)
    openpose_io.write_sequence(tmp_path, "vid", kp)
    (tmp_path / ("._" + openpose_io.frame_filename("vid", 0))).write_bytes(b"\x00\x05")
    assert [i for i, _ in openpose_io.frame_files(tmp_path)] == [0, 1]
    (tmp_path / "vid_2_keypoints.json").write_text(openpose_io.frame_json(kp[:1]))  # not 12
    assert [i for i, _ in openpose_io.frame_files(tmp_path)] == [0, 1]


def test_people_digest_follows_the_frames_and_is_none_without_anyone():
    a, b = np.full((1, 25, 3), 0.5, np.float32), np.full((1, 25, 3), 0.25, np.float32)
    none = np.zeros((0, 25, 3), np.float32)
    assert openpose_io.people_digest([a, b]) == openpose_io.people_digest([a.copy(), b.copy()])
    # The same people, in other frames: another recording.
    assert openpose_io.people_digest([np.concatenate([a, b]), none]) != \
        openpose_io.people_digest([a, b])
    assert openpose_io.people_digest([b, a]) != openpose_io.people_digest([a, b])
    assert openpose_io.people_digest([none, none]) is None
    # Stored in QC files that later runs compare against: the same bytes (each frame's count,
    # then float32 values) whatever the arrays' dtype, or a copy goes unseen after an update.
    assert openpose_io.people_digest([a.astype(np.float64), none]) == (
        "be1be0f9129ac05fa9b13e9a760967da0c8156ccd3f1c3161ded2eb7acd3d7cc")
    assert openpose_io.file_stem("/x/visit 2_000000000012_keypoints.json") == "visit 2"
