"""A full-view model on a recording with someone beside the participant (the interviewer in
frame): infer measures how often another person is inside the model's square and warns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microdualnet.cli import main
from microdualnet.contract import View
from microdualnet.data.views import FullView, PersonView
from microdualnet.inference.runner import OTHERS_WARN, others_in_view
from microdualnet.pose.npz import PoseData, load_pose, save_pose
from microdualnet.video import write_mp4
from microdualnet.windowplan import SamplingRule, plan_windows
from pipeio.errors import InputError
from pipeio.windows import read_windows

# 4:3 like a 640x480 webcam: the full view's square is x 8..56 (the centre 48x48 px).
WIDTH, HEIGHT, FPS = 64, 48, 25
LEFT = (2.0, 6.0, 28.0, 46.0)  # the participant, on the left half
RIGHT = (36.0, 6.0, 62.0, 46.0)  # the interviewer beside them: 20 of its 26 px wide inside
EDGE = (57.0, 6.0, 64.0, 46.0)  # someone at the frame's edge, outside the square


def _pose(count: int, others: list[tuple[float, ...]] | None,
          looked: np.ndarray | None = None) -> PoseData:
    """The participant on the left in every frame; `others` the other boxes in each frame
    (None: a file that does not say)."""
    joints = np.zeros((count, 25, 3), np.float32)
    joints[..., 0] = np.linspace(LEFT[0], LEFT[2], 25)
    joints[..., 1] = np.linspace(LEFT[1], LEFT[3], 25)
    joints[..., 2] = 0.9
    pose = PoseData(joints, np.arange(count), FPS, WIDTH, HEIGHT, "openpose", count)
    if others is not None:
        pose.others_looked = np.ones(count, bool) if looked is None else looked
        pose.others_boxes = np.full((count, len(others), 4), np.nan, np.float32)
        if others:
            pose.others_boxes[:] = others
    return pose


def _recording(folder: Path, others: list[tuple[float, ...]] | None) -> tuple[Path, Path]:
    count = int(2.5 * FPS)
    rng = np.random.default_rng(0)
    video = folder / "v.mp4"
    write_mp4(video, (rng.integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8) for _ in range(count)),
              FPS, WIDTH, HEIGHT)
    return video, save_pose(folder / "p.npz", _pose(count, others))


def _infer(model: Path, folder: Path, others: list[tuple[float, ...]] | None, capsys
           ) -> tuple[dict, str]:
    video, pose = _recording(folder, others)
    out = folder / "w.parquet"
    assert main(["infer", "--model", str(model), "--video", str(video), "--pose", str(pose),
                 "--out", str(out), "--participant-id", "sub-7", "--no-progress"]) == 0
    return read_windows(out)[1], capsys.readouterr().err


def test_the_interviewer_beside_the_participant_is_warned_and_recorded(demo_model, tmp_path,
                                                                        capsys):
    meta, err = _infer(demo_model, tmp_path, [RIGHT], capsys)
    assert meta["others_in_view_share"] == 1.0
    (line,) = err.strip().splitlines()
    assert line == f"warning: infer sub-7: {meta['others_in_view_warning']}"
    for needle in ("another person is in the full-view model's input", "centre square, x 8-56 y 0-48 px",
                   "in 100% of the ", "person-view model (docs/training.md)",
                   "crop the recordings"):
        assert needle in line, line


@pytest.mark.parametrize("others", [[], [EDGE]], ids=["alone", "someone outside the square"])
def test_a_participant_alone_in_the_square_gets_no_warning(demo_model, tmp_path, capsys,
                                                           others):
    meta, err = _infer(demo_model, tmp_path, others, capsys)
    assert meta["others_in_view_share"] == 0.0 and meta["others_in_view_warning"] is None
    assert "warning" not in err


def test_a_pose_file_that_does_not_say_is_not_measured(demo_model, tmp_path, capsys):
    """A pose file written without the other people (older, or made elsewhere): not a 0."""
    meta, err = _infer(demo_model, tmp_path, None, capsys)
    assert meta["others_in_view_share"] is None and meta["others_in_view_warning"] is None
    assert "warning" not in err


def _plan(count: int):
    return plan_windows(count, FPS, SamplingRule(8, 1 / FPS), 2.0, 0.5)


def test_the_share_counts_sampled_frames_looked_at_and_warns_only_above_the_threshold():
    count = 200
    plan = _plan(count)
    sampled = plan.unique_frames()
    view = FullView(32)
    for share in (OTHERS_WARN / 2, 3 * OTHERS_WARN):
        pose = _pose(count, [RIGHT])
        pose.others_boxes[sampled[int(share * len(sampled)):]] = np.nan  # gone after that
        measured, warning = others_in_view(pose, plan, view, (HEIGHT, WIDTH))
        assert measured == pytest.approx(share, abs=1 / len(sampled))
        assert (warning is None) == (share < OTHERS_WARN)
    # Only the frames looked at count (mediapipe: the first few).
    looked = np.zeros(count, bool)
    looked[sampled[:4]] = True
    pose = _pose(count, [RIGHT], looked)
    pose.others_boxes[sampled[2:]] = np.nan
    share, warning = others_in_view(pose, plan, view, (HEIGHT, WIDTH))
    assert share == 0.5 and "of the 4 sampled frames pose looked at" in warning
    # A person view crops around the participant: not this measure.
    assert others_in_view(_pose(count, [RIGHT]), plan, PersonView(32, View("person")),
                          (HEIGHT, WIDTH)) == (None, None)


@pytest.mark.parametrize(("inside", "warned"), [(1, False), (2, True)])
def test_more_than_ten_percent_of_the_frames_looked_at_is_warned(inside, warned):
    """Someone in the square in 1 of the 10 sampled frames looked at (10%) is no warning, in 2
    (20%) one; a box of no width (two joints one above the other) outside the square is
    never inside it."""
    count = 200
    plan = _plan(count)
    sampled = plan.unique_frames()
    looked = np.zeros(count, bool)
    looked[sampled[:10]] = True
    pose = _pose(count, [RIGHT, (60.0, 6.0, 60.0, 46.0)], looked)
    pose.others_boxes[sampled[inside:], 0] = np.nan
    share, warning = others_in_view(pose, plan, FullView(32), (HEIGHT, WIDTH))
    assert share == inside / 10 and (warning is not None) == warned


def test_the_full_views_square_in_video_pixels():
    """The centre square of the shorter side, as the crop of the resized frame (whole
    pixels: 640x480 becomes 149x112, cropped from x 18) maps back."""
    assert FullView(112).square((480, 640)) == pytest.approx((77.3, 0, 558.4, 480), abs=0.1)
    assert FullView(112).square((1080, 1920)) == pytest.approx((414.9, 0, 1495.5, 1080),
                                                               abs=0.1)


def test_the_other_people_keys_round_trip_and_a_broken_pair_is_named(tmp_path):
    path = save_pose(tmp_path / "p.npz", _pose(10, [RIGHT, EDGE]))
    back = load_pose(path)
    assert back.others_looked.all() and back.others_boxes.shape == (10, 2, 4)
    boxes, looked = back.others_at(np.array([3, 11]))
    assert looked.tolist() == [True, False]
    np.testing.assert_array_equal(boxes[0], [RIGHT, EDGE])
    with np.load(path) as data:
        arrays = dict(data)
    del arrays["others_boxes"]
    np.savez(tmp_path / "half.npz", **arrays)
    with pytest.raises(InputError, match=r"half.npz: 'others_looked' without its pair"):
        load_pose(tmp_path / "half.npz")
    arrays["others_boxes"] = np.zeros((9, 1, 4), np.float32)
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(InputError, match=r"short.npz: 'others_boxes' must be \[10, M, 4\]"):
        load_pose(tmp_path / "short.npz")
