"""Recordings slower than the model samples (an old webcam's 5 fps) and variable-rate ones
(a screen recording of a call, ~2 frames a second while the picture is still)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from microdualnet.cli import main
from microdualnet.pose.npz import PoseData, save_pose
from microdualnet.video import probe, write_mp4
from microdualnet.windowplan import SamplingRule, low_rate_note, plan_windows
from pipeio.errors import InputError
from pipeio.windows import read_windows

WIDTH, HEIGHT = 64, 48
DEMO = SamplingRule(8, 3 / 25)  # configs/train_demo.yaml: stride 3 at 25 fps, 8.3 a second


def _recording(folder: Path, fps: float, seconds: float = 4.0) -> tuple[Path, Path]:
    """A video at `fps` and its pose file (a person in every frame)."""
    count = int(seconds * fps)
    rng = np.random.default_rng(0)
    frames = (rng.integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8) for _ in range(count))
    video = folder / "v.mp4"
    write_mp4(video, frames, fps, WIDTH, HEIGHT)
    joints = np.zeros((count, 25, 3), np.float32)
    joints[..., 0] = np.linspace(10, 50, 25)
    joints[..., 1] = np.linspace(5, 40, 25)
    joints[..., 2] = 0.9
    pose = folder / "p.npz"
    save_pose(pose, PoseData(joints, np.arange(count), fps, WIDTH, HEIGHT, "openpose", count))
    return video, pose


def _infer(model: Path, video: Path, pose: Path, out: Path, *extra: str) -> int:
    return main(["infer", "--model", str(model), "--video", str(video), "--pose", str(pose),
                 "--out", str(out), "--participant-id", "sub-9", "--no-progress", *extra])


@pytest.mark.parametrize(("fps", "share"), [(5, 0.33), (6, 0.25), (8, 0.02), (10, 0.0),
                                            (25, 0.0)])
def test_repeated_share_of_the_demo_model_at_low_rates(fps, share):
    plan = plan_windows(60 * fps, fps, DEMO, 2.0, 0.5)
    assert plan.repeated_share() == pytest.approx(share, abs=0.01)
    note = low_rate_note(plan, fps, DEMO)
    if share:
        assert f"the video is {fps} fps, slower than the 8.33 frames a second" in note
        assert f"{100 * share:.0f}% of the windows' frames repeat" in note
    else:
        assert note is None


@pytest.mark.parametrize(("stride_s", "window_s"), [(4 / 25, 2.0), (1 / 25, 0.5)])
def test_frames_repeated_only_at_the_video_end_are_no_low_rate(stride_s, window_s):
    """16 frames at 0.16 s span more than a 2-s window (at 0.04 s, one frame apart, more than
    0.5 s): the last window's frames are clipped to the video at any rate, which is not the
    recording's fault."""
    rule = SamplingRule(16, stride_s)
    plan = plan_windows(250, 25.0, rule, window_s, 0.5)
    assert plan.repeated_share() > 0 and low_rate_note(plan, 25.0, rule) is None


def test_a_slow_video_shorter_than_a_window_is_no_low_rate():
    """No windows, no frames repeated: nothing to warn about at any rate."""
    plan = plan_windows(5, 5.0, DEMO, 2.0, 0.5)
    assert plan.stride_frames < 1 and plan.repeated_share() == 0
    assert low_rate_note(plan, 5.0, DEMO) is None


def test_a_video_far_slower_than_the_model_samples_is_refused_with_the_way_out(
        demo_model, tmp_path, capsys):
    """5 fps against the test model's 25 frames a second: 75% of the frames repeat."""
    video, pose = _recording(tmp_path, 5)
    code = _infer(demo_model, video, pose, tmp_path / "w.parquet")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    for needle in (str(video), "is 5 fps", "25 frames a second", "75% of the windows' frames",
                   "--max-repeated-frames allows 50%", "--max-repeated-frames 1"):
        assert needle in err, err
    assert not (tmp_path / "w.parquet").exists()
    # --on-error exclude: a recorded exclusion saying why.
    assert _infer(demo_model, video, pose, tmp_path / "w.parquet", "--on-error",
                  "exclude") == 0
    table, meta = read_windows(tmp_path / "w.parquet")
    assert len(table) == 0 and meta["excluded"].startswith(f"infer: video {video}: the video "
                                                           "is 5 fps")


@pytest.mark.parametrize("allowed", ["1", "0.75"])  # 0.75: as many as allowed, not more
def test_a_slow_video_let_through_is_classified_with_a_warning_on_record(demo_model, tmp_path,
                                                                         capsys, allowed):
    video, pose = _recording(tmp_path, 5)
    out = tmp_path / "w.parquet"
    assert _infer(demo_model, video, pose, out, "--max-repeated-frames", allowed) == 0
    (warning,) = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("warning: infer sub-9: the video is 5 fps, slower than the 25 "
                              "frames a second the model samples (0.04 s apart): 75% of")
    table, meta = read_windows(out)
    assert table["valid"].all() and meta["excluded"] is None
    assert meta["repeated_frame_share"] == 0.75
    assert warning.endswith(meta["frame_rate_warning"])
    prov = json.loads(out.with_name(out.name + ".provenance.json").read_text())
    assert prov["params"]["max_repeated_frames"] == float(allowed)


def test_a_video_at_the_models_rate_has_no_warning(demo_model, tmp_path, capsys):
    video, pose = _recording(tmp_path, 25, seconds=2.5)
    assert _infer(demo_model, video, pose, tmp_path / "w.parquet") == 0
    assert "warning" not in capsys.readouterr().err
    _, meta = read_windows(tmp_path / "w.parquet")
    assert meta["repeated_frame_share"] == 0 and meta["frame_rate_warning"] is None


@pytest.mark.parametrize("bad", ["-0.1", "1.5", "nan"])
def test_max_repeated_frames_outside_0_1_is_refused(demo_model, tmp_path, capsys, bad):
    video, pose = _recording(tmp_path, 25, seconds=2.5)
    assert _infer(demo_model, video, pose, tmp_path / "w.parquet", "--max-repeated-frames",
                  bad) == 2
    assert "--max-repeated-frames must be within 0-1" in capsys.readouterr().err


def _variable_rate(path: Path, intervals_ms: list[int]) -> Path:
    """An H.264 mp4 whose frames are `intervals_ms` apart (a screen recorder's)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        pts = np.concatenate([[0], np.cumsum(intervals_ms)])
        for i, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), i % 250, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = int(t), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(("still", "moving", "moving_ms", "rate"), [
    (57, 3, 33, 25),   # still nearly throughout (median 500 ms): 25, not fps=2
    (20, 60, 33, 30),  # a call with movement (median 33 ms): its rate
    (20, 60, 35, 29),  # median 35 ms: 28.6 fps, rounded to the nearest rate
])
def test_a_variable_rate_recording_is_re_encoded_at_a_rate_the_model_can_use(
        tmp_path, still, moving, moving_ms, rate):
    """500-ms intervals (a still screen at 2 frames a second) and 33-ms ones (moving): the
    re-encode hint asks for a rate no model samples faster than."""
    video = _variable_rate(tmp_path / "call.mp4", [500] * still + [moving_ms] * moving)
    with pytest.raises(InputError, match="variable frame rate") as err:
        probe(video)
    assert f"-vf fps={rate} " in str(err.value), err.value
