"""Windowed inference: the sampling rule, the Parquet contract, validity and bad input."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch
from inference_testkit import FPS, SECONDS

from microdualnet.cli import main
from microdualnet.contract import read_contract
from microdualnet.data.clipio import read_video
from microdualnet.data.records import ClipRecord
from microdualnet.data.transforms import eval_view
from microdualnet.inference.runner import InferenceOptions, run_inference
from microdualnet.model.checkpoint import load_checkpoint
from microdualnet.pose.npz import PoseData, load_pose, save_pose
from microdualnet.windowplan import SamplingRule, plan_windows
from pipeio.errors import InputError
from pipeio.windows import read_windows

OPTS = InferenceOptions(window_s=2.0, hop_s=0.5, batch_size=4, device="cpu", progress=False)


def test_plan_windows_times_and_frames_on_one_grid():
    plan = plan_windows(100, 10.0, SamplingRule(4, 0.2), window_s=2.0, hop_s=0.5)
    assert len(plan) == 17  # starts 0, 0.5, ..., 8.0; the last ends at 10 s
    np.testing.assert_allclose(plan.start_s[[0, -1]], [0.0, 8.0])
    np.testing.assert_allclose(plan.end_s - plan.start_s, 2.0)
    assert plan.stride_frames == 2
    # Window 0 shows frames 0-19, middle 9.5 = grid step 4.75: steps 3-6 (middle 4.5) -> 6-12.
    np.testing.assert_array_equal(plan.frames[0], [6, 8, 10, 12])
    # Window 1: frames 5-24, middle 14.5 = step 7.25 -> steps 6-9 (7.5 is nearer than 6.5).
    np.testing.assert_array_equal(plan.frames[1], [12, 14, 16, 18])
    np.testing.assert_array_equal(plan.frames[-1], [86, 88, 90, 92])


@pytest.mark.parametrize(("fps", "stride_s"), [(25.0, 0.12), (30.0, 0.12), (30.0, 8 / 30),
                                               (60.0, 8 / 30), (29.97, 2 / 30)])
def test_windows_share_one_grid_and_stay_near_their_middle(fps, stride_s):
    """Every sampled frame is a grid point (the frame nearest g * stride_s), so a 3-min video
    needs one frame per grid point, not T per window; each window's frames sit within half a
    stride (plus half a frame) of its middle."""
    rule = SamplingRule(8, stride_s)
    frames = int(180 * fps)
    plan = plan_windows(frames, fps, rule, 2.0, 0.5)
    grid = np.floor(np.arange(int(180 / stride_s) + 2) * rule.stride_frames(fps) + 0.5)
    # on the grid, or the video's last frame where a window's span runs past its end
    assert (np.isin(plan.frames, grid) | (plan.frames == frames - 1)).all()
    assert len(plan.unique_frames()) <= 180 / stride_s + 1
    if 8 * stride_s > 0.5 + stride_s:  # windows overlap by more than a grid step: shared
        assert len(plan.unique_frames()) < 0.75 * plan.frames.size
    inside = plan.frames[:, -1] < frames - 1
    sampled_mid = (plan.frames[inside, 0] + plan.frames[inside, -1]) / 2 / fps
    window_mid = (plan.start_s + plan.end_s)[inside] / 2
    assert np.abs(sampled_mid - window_mid).max() <= stride_s / 2 + 1 / fps


def test_stride_in_seconds_follows_the_video_frame_rate():
    rule = SamplingRule(8, 8 / 25)  # stride 8 at 25 fps = 0.32 s
    assert rule.stride_frames(25) == 8
    assert rule.stride_frames(50) == 16
    assert rule.stride_frames(12.5) == 4


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0, 29.97])
def test_sampled_frames_span_the_training_time_at_any_frame_rate(fps):
    """A model trained at 30 fps with stride 2 sees 8 frames over 7 x 67 ms: every recording
    rate gets the frames nearest those times, not a whole-frame stride 20% off at 25 fps."""
    rule = SamplingRule(8, 2 / 30)
    plan = plan_windows(int(60 * fps), fps, rule, 2.0, 0.5)
    times = plan.frames / fps
    np.testing.assert_allclose(times[:, -1] - times[:, 0], 7 * 2 / 30, atol=1 / fps)
    offsets = (times - times[:, :1]) - np.arange(8) * 2 / 30
    assert np.abs(offsets).max() <= 1 / fps
    if fps == 25.0:  # 1.67 frames apart: steps of 1 and 2, 11-12 frames in all
        assert set(np.diff(plan.frames).ravel().tolist()) == {1, 2}
        assert set((plan.frames[:, -1] - plan.frames[:, 0]).tolist()) <= {11, 12}
    if fps == 30.0:  # the training rate: exactly the training stride
        assert (np.diff(plan.frames, axis=1) == 2).all()


@pytest.mark.parametrize(("fps", "stride_s", "view"), [(25.0, 3 / 25, 0.96),
                                                        (30.0, 8 / 30, 64 / 30),
                                                        (60.0, 8 / 30, 64 / 30)])
def test_view_is_one_stride_per_sampled_frame_around_them(fps, stride_s, view):
    """The demo preset's 8 frames 0.12 s apart view 0.96 s of a 2-s window; the paper
    preset's 8 frames 0.27 s apart view 2.13 s, at any recording rate; clipped to the video
    at its start and end."""
    frames = int(60 * fps)
    plan = plan_windows(frames, fps, SamplingRule(8, stride_s), 2.0, 0.5)
    start, end = plan.view_s(fps, frames / fps)
    inside = (start > 0) & (end < frames / fps)
    np.testing.assert_allclose((end - start)[inside], view, atol=1 / fps)
    times = plan.frames / fps
    assert (start <= times[:, 0]).all() and (end >= times[:, -1]).all()
    assert start.min() >= 0 and end.max() <= frames / fps
    if view > 2.0:  # the paper preset: the first window's view starts at the video's start
        assert start[0] == 0.0 and not inside[0]


def test_video_shorter_than_one_window_has_no_windows():
    assert len(plan_windows(15, 10.0, SamplingRule(8, 0.04), 2.0, 0.5)) == 0
    assert len(plan_windows(20, 10.0, SamplingRule(8, 0.04), 2.0, 0.5)) == 1


def test_windows_near_the_video_ends_stay_on_the_grid_inside_the_video():
    """Sampled frames spanning more than a window (8 frames 0.5 s apart, 2-s windows): the
    first window takes grid points 0-7 rather than ones before the video starts; the last
    one's grid runs past the end and is clipped to the last frame."""
    plan = plan_windows(100, 10.0, SamplingRule(8, 0.5), window_s=2.0, hop_s=1.0)
    assert len(plan) == 9 and plan.stride_frames == 5
    np.testing.assert_array_equal(plan.frames[0], [0, 5, 10, 15, 20, 25, 30, 35])
    np.testing.assert_array_equal(plan.frames[-1], [70, 75, 80, 85, 90, 95, 99, 99])


def test_a_window_midway_between_two_grid_points_takes_the_later_one():
    """Window 1 shows frames 2-22 (2.1 s): its middle is grid step 6, so steps 4.5-7.5
    would be centred; halves go up (steps 5-8), not to the even step as numpy rounds."""
    plan = plan_windows(100, 10.0, SamplingRule(4, 0.2), window_s=2.1, hop_s=0.2)
    np.testing.assert_array_equal(plan.frames[:3], [[8, 10, 12, 14], [10, 12, 14, 16],
                                                    [12, 14, 16, 18]])


def test_ties_go_up_also_where_the_stride_is_no_whole_number_of_frames():
    """At 25 fps a 30-fps model's 2-frame stride is 5/3 frames. Window 1 (0.3-1.3 s) shows
    frames 8-32, middle 20 = grid step 12: steps 11-14, not 10-13 (20 / 1.666666667 was
    11.99999999). A 29.97-fps model's stride 2 is 1001/600 frames: grid step 300 (20.02 s)
    lies midway between frames 500 and 501 and takes 501."""
    plan = plan_windows(50, 25.0, SamplingRule(4, 2 / 30), window_s=1.0, hop_s=0.3)
    np.testing.assert_array_equal(plan.frames[1], [18, 20, 22, 23])
    plan = plan_windows(1542, 25.0, SamplingRule(8, 2 / (30000 / 1001)), 2.0, 0.5)
    np.testing.assert_array_equal(plan.frames[38], [494, 495, 497, 499, 501, 502, 504, 506])


def _documented_plan(frames: int, fps: Fraction, num_frames: int, stride_s: Fraction,
                     window_s: Fraction, hop_s: Fraction) -> np.ndarray:
    """docs/inference.md's rule in exact arithmetic, window by window: frame k shown at
    k / fps; the T grid steps whose middle is nearest the middle of the frames shown in
    [start, end), halves up; grid step g is the frame nearest g * stride_s, halves up."""
    rows, i = [], 0
    while i * hop_s + window_s <= frames / fps:
        start, end = i * hop_s, i * hop_s + window_s
        first, last = math.ceil(start * fps), min(math.ceil(end * fps) - 1, frames - 1)
        middle = Fraction(first + last, 2) / fps
        g0 = max(math.floor(middle / stride_s - Fraction(num_frames - 1, 2) + Fraction(1, 2)), 0)
        rows.append([min(math.floor(g * stride_s * fps + Fraction(1, 2)), frames - 1)
                     for g in range(g0, g0 + num_frames)])
        i += 1
    return np.array(rows, np.int64).reshape(-1, num_frames)


@pytest.mark.parametrize("fps", ["25", "30000/1001", "30", "50", "60000/1001", "60"])
def test_plan_equals_the_documented_rule_in_exact_arithmetic(fps):
    """Every window of 20 s of video, for models at 25, 29.97, 30 and 60 fps and windows
    that start between frames: the plan (floating point) equals the rule in fractions."""
    rate = Fraction(fps)
    frames = int(rate * Fraction("20.3"))
    models = [(8, 3, Fraction(25)), (8, 8, Fraction(30)), (8, 2, Fraction(30000, 1001)),
              (4, 2, Fraction(30)), (16, 1, Fraction(60))]
    settings = [("2.0", "0.5"), ("1.0", "0.3"), ("1.5", "0.25"), ("3.0", "0.7")]
    for (t, stride, model_fps), (window, hop) in itertools.product(models, settings):
        plan = plan_windows(frames, float(rate), SamplingRule(t, stride / float(model_fps)),
                            float(window), float(hop))
        want = _documented_plan(frames, rate, t, stride / model_fps, Fraction(window),
                                Fraction(hop))
        np.testing.assert_array_equal(plan.frames, want, err_msg=f"{t}x{stride} at "
                                      f"{model_fps} fps, {window}/{hop} s")
        np.testing.assert_allclose(plan.start_s, np.arange(len(want)) * float(hop))


def test_a_stride_under_a_millionth_of_a_frame_is_refused():
    with pytest.raises(InputError, match=r"under a millionth of a frame of a 25 fps video"):
        plan_windows(100, 25.0, SamplingRule(4, 1e-9), 2.0, 0.5)


def test_window_count_is_not_lost_to_rounding_of_the_hop():
    """(2.3 - 2.0) / 0.1 is 2.999... in floating point: still four windows (0-0.3 s)."""
    plan = plan_windows(23, 10.0, SamplingRule(4, 0.2), window_s=2.0, hop_s=0.1)
    np.testing.assert_allclose(plan.start_s, [0.0, 0.1, 0.2, 0.3])


def test_stride_in_frames_is_free_of_floating_point_noise():
    assert SamplingRule(8, 0.07).stride_frames(100) == 7  # 0.07 * 100 is 7.000000000000001


@pytest.mark.parametrize("frames, fps, window_s, hop_s, needle", [
    (100, 10.0, 2.0, 0.0, r"window and hop must be positive \(got 2.0 s, 0.0 s\)"),
    (100, 10.0, float("nan"), 0.5, r"window and hop must be positive \(got nan s"),
    (100, 10.0, 2.0, float("inf"), r"window and hop must be positive"),
    (0, 10.0, 2.0, 0.5, r"video must have frames and a positive frame rate \(got 0 frames"),
    (100, 0.0, 2.0, 0.5, r"\(got 100 frames at 0.0 fps\)"),
    (100, float("nan"), 2.0, 0.5, r"\(got 100 frames at nan fps\)"),
    (100, float("inf"), 2.0, 0.5, r"\(got 100 frames at inf fps\)"),
])
def test_plan_windows_refuses_settings_it_cannot_plan(frames, fps, window_s, hop_s, needle):
    with pytest.raises(InputError, match=needle):
        plan_windows(frames, fps, SamplingRule(4, 0.2), window_s, hop_s)


def test_a_window_between_frames_counts_the_frames_shown_inside_it():
    """At 15 fps window 1 (0.3-1.3 s) shows frames 5-19 (frame 4 is at 0.27 s, frame 20 at
    1.33 s): middle 12 = grid step 4 (3 frames a step), so steps 3-6."""
    plan = plan_windows(150, 15.0, SamplingRule(4, 0.2), window_s=1.0, hop_s=0.3)
    np.testing.assert_array_equal(plan.frames[1], [9, 12, 15, 18])


def test_windows_parquet_contract(windows, demo_model):
    table, meta = read_windows(windows["sub-001"])
    contract = read_contract(demo_model)
    classes = list(contract.class_names)
    assert meta["participant_id"] == "sub-001" and meta["class_names"] == classes
    assert meta["model_fps"] == contract.fps and meta["view"] == {"kind": "full"}
    assert list(table.columns[:6]) == ["start_s", "end_s", "view_start_s", "view_end_s",
                                       "valid", "pose_fraction"]
    plan = plan_windows(SECONDS * FPS, FPS, contract.sampling_rule, 2.0, 0.5)
    assert len(table) == len(plan)
    view_start, view_end = plan.view_s(FPS, SECONDS)
    np.testing.assert_allclose(table["view_start_s"], view_start)
    np.testing.assert_allclose(table["view_end_s"], view_end)
    probs = table[[f"prob_{c}" for c in classes]].to_numpy()
    assert table["valid"].all()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    for entity in meta["entities"]:
        st, ts = table[f"route_st_{entity}"], table[f"route_ts_{entity}"]
        np.testing.assert_allclose(st + ts, 1.0, atol=1e-5)
        assert st.between(0, 1).all()


def test_batched_windows_equal_the_model_on_each_window(cohort, poses, demo_model, windows):
    """Decode-once, batching and the loader process change nothing: window 5 recomputed
    alone from the frames training would read through eval_view matches its row."""
    table, meta = read_windows(windows["sub-002"])
    loaded = load_checkpoint(demo_model)
    plan = plan_windows(SECONDS * FPS, FPS, read_contract(demo_model).sampling_rule, 2.0, 0.5)
    video = cohort / "videos/sub-002.mp4"
    frames, _ = read_video(ClipRecord("w5", video, 0), lambda n: plan.frames[5])
    kp, _ = load_pose(poses["sub-002"]).at_frames(plan.frames[5])
    view, kp_view = eval_view(frames, kp, loaded.config.input_size)
    with torch.inference_mode():
        out = loaded.model(torch.from_numpy(view)[None], torch.from_numpy(kp_view)[None])
    expected = torch.softmax(out.logits, -1)[0].numpy()
    got = table.loc[5, [f"prob_{c}" for c in meta["class_names"]]].to_numpy(np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Routing columns: the model's [T, K, 2] weights averaged over the sampled frames;
    # column 0 is alpha_ST, column 1 alpha_TS (per entity, in model order).
    route = out.routing.float().mean(1)[0].numpy()  # [K, 2]
    assert route.shape == (len(meta["entities"]), 2)
    assert not np.allclose(route[:, 0], route[:, 1], atol=1e-3)  # a swap would show
    for k, entity in enumerate(meta["entities"]):
        assert table.loc[5, f"route_st_{entity}"] == pytest.approx(route[k, 0], abs=1e-5)
        assert table.loc[5, f"route_ts_{entity}"] == pytest.approx(route[k, 1], abs=1e-5)


def test_batch_size_does_not_change_results(cohort, poses, demo_model, windows):
    table, _ = read_windows(windows["sub-003"])
    one = run_inference(demo_model, cohort / "videos/sub-003.mp4", poses["sub-003"],
                        InferenceOptions(batch_size=1, device="cpu", progress=False)).table
    np.testing.assert_allclose(one.drop(columns="valid").to_numpy(np.float64),
                               table.drop(columns="valid").to_numpy(np.float64), atol=1e-5)


def test_windows_without_enough_pose_are_invalid_not_guessed(cohort, poses, demo_model,
                                                             tmp_path):
    pose = load_pose(poses["sub-001"])
    pose.keypoints[pose.frame_index < 35] = 0  # no person in the first 3.5 s
    save_pose(tmp_path / "p.npz", pose)
    table = run_inference(demo_model, cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                          OPTS).table
    early = table["end_s"] <= 3.5
    assert not table.loc[early, "valid"].any() and table.loc[~early & (table["start_s"] >= 3.5),
                                                             "valid"].all()
    assert table.loc[~table["valid"], "prob_no action"].isna().all()
    assert table.loc[table["valid"], "prob_no action"].notna().all()
    assert (table["valid"] == (table["pose_fraction"] >= OPTS.min_pose_fraction)).all()


def test_a_window_with_exactly_the_minimum_pose_fraction_is_classified(cohort, poses,
                                                                       demo_model, tmp_path):
    """min_pose_fraction is inclusive: half the sampled frames with a person is enough."""
    pose = load_pose(poses["sub-001"])
    plan = plan_windows(SECONDS * FPS, FPS, read_contract(demo_model).sampling_rule, 2.0, 0.5)
    last = plan.frames[-1]  # the last window's own frames, half of them emptied
    assert len(last) % 2 == 0
    pose.keypoints[np.isin(pose.frame_index, last[: len(last) // 2])] = 0
    save_pose(tmp_path / "p.npz", pose)
    table = run_inference(demo_model, cohort / "videos/sub-001.mp4", tmp_path / "p.npz",
                          OPTS).table
    assert table["pose_fraction"].iloc[-1] == 0.5
    assert table["valid"].iloc[-1] and pd.notna(table["prob_no action"].iloc[-1])
    assert (table["valid"] == (table["pose_fraction"] >= 0.5)).all()
    assert table.loc[table["valid"], "prob_no action"].notna().all()
    assert table.loc[~table["valid"], "prob_no action"].isna().all()


def test_pose_of_sampled_frames_only_gives_the_same_windows(cohort, poses, demo_model, windows,
                                                            tmp_path):
    pose = load_pose(poses["sub-001"])
    plan = plan_windows(SECONDS * FPS, FPS, read_contract(demo_model).sampling_rule, 2.0, 0.5)
    keep = np.isin(pose.frame_index, plan.unique_frames())
    subset = PoseData(pose.keypoints[keep], pose.frame_index[keep], pose.fps, pose.width,
                      pose.height, pose.backend, pose.video_frames)
    save_pose(tmp_path / "s.npz", subset)
    got = run_inference(demo_model, cohort / "videos/sub-001.mp4", tmp_path / "s.npz", OPTS).table
    want, _ = read_windows(windows["sub-001"])
    np.testing.assert_allclose(got.drop(columns="valid").to_numpy(np.float64),
                               want.drop(columns="valid").to_numpy(np.float64), atol=1e-5)
    other = plan_windows(SECONDS * FPS, FPS, read_contract(demo_model).sampling_rule, 1.0, 0.3)
    missing = np.setdiff1d(other.unique_frames(), plan.unique_frames())
    assert len(missing) > 1  # the message names the count and the first one
    with pytest.raises(InputError, match=rf"s\.npz lacks {len(missing)} frames the windows "
                       rf"sample \(first: {missing[0]}\); it was made for other window settings"):
        run_inference(demo_model, cohort / "videos/sub-001.mp4", tmp_path / "s.npz",
                      InferenceOptions(window_s=1.0, hop_s=0.3, device="cpu", progress=False))


@pytest.mark.parametrize("change", [-5, 3])
def test_pose_frame_count_not_matching_the_video_is_an_error(cohort, poses, demo_model,
                                                             tmp_path, capsys, change):
    """Made from a shorter or a longer video than this one: refused either way."""
    pose = load_pose(poses["sub-001"])
    keep = slice(None, change if change < 0 else None)
    other = PoseData(pose.keypoints[keep], pose.frame_index[keep], pose.fps, pose.width,
                     pose.height, pose.backend, len(pose.frame_index) + change)
    save_pose(tmp_path / "p.npz", other)
    code = main(["infer", "--model", str(demo_model), "--video",
                 str(cohort / "videos/sub-001.mp4"), "--pose", str(tmp_path / "p.npz"),
                 "--out", str(tmp_path / "w.parquet"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err == (
        f"error: pose file {tmp_path / 'p.npz'} covers {80 + change} frames, video "
        f"{cohort / 'videos/sub-001.mp4'} has 80; re-run the pose stage for this video\n")
    assert not (tmp_path / "w.parquet").exists()


@pytest.mark.parametrize(("change", "needles"), [
    ({"width": 128}, ("is for 128x72 frames", "is 96x72")),
    ({"height": 60}, ("is for 96x60 frames", "is 96x72")),
    ({"fps": 12.5}, ("says 12.5 fps", "has 10.0 fps")),
])
def test_pose_file_of_another_frame_size_or_rate_is_an_error(cohort, poses, demo_model,
                                                             tmp_path, capsys, change,
                                                             needles):
    """Same frame count, but made from a resized or re-timed copy of the video: refused."""
    pose = load_pose(poses["sub-001"])
    fields = {"fps": pose.fps, "width": pose.width, "height": pose.height, **change}
    save_pose(tmp_path / "p.npz", PoseData(pose.keypoints, pose.frame_index, fields["fps"],
                                           fields["width"], fields["height"], pose.backend,
                                           pose.video_frames))
    code = main(["infer", "--model", str(demo_model), "--video",
                 str(cohort / "videos/sub-001.mp4"), "--pose", str(tmp_path / "p.npz"),
                 "--out", str(tmp_path / "w.parquet"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert all(needle in err for needle in needles), err
    assert not (tmp_path / "w.parquet").exists()


def test_video_shorter_than_one_window_is_a_documented_exclusion(cohort, poses, demo_model,
                                                                 tmp_path):
    code = main(["infer", "--model", str(demo_model), "--video",
                 str(cohort / "videos/sub-001.mp4"), "--pose", str(poses["sub-001"]),
                 "--out", str(tmp_path / "w.parquet"), "--window-s", "9", "--no-progress"])
    table, meta = read_windows(tmp_path / "w.parquet")
    assert code == 0 and len(table) == 0
    assert meta["excluded"].startswith("infer: video is ")  # the report's stage column
    assert "shorter than one 9.0 s window" in meta["excluded"]


@pytest.mark.parametrize("damage, needle", [
    (lambda src, dst: None, "does not exist"),
    (lambda src, dst: dst.write_bytes(src.read_bytes()[:4000]), "not readable"),
    (lambda src, dst: dst.write_bytes(b"\x00" * 1000), "not readable"),
])
def test_bad_video_is_a_one_line_error(cohort, poses, demo_model, tmp_path, capsys, damage,
                                       needle):
    video = tmp_path / "v.mp4"
    damage(cohort / "videos/sub-001.mp4", video)
    code = main(["infer", "--model", str(demo_model), "--video", str(video), "--pose",
                 str(poses["sub-001"]), "--out", str(tmp_path / "w.parquet"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1


def test_bad_pose_file_is_a_one_line_error(cohort, demo_model, tmp_path, capsys):
    bad = tmp_path / "p.npz"
    bad.write_text("nope")
    code = main(["infer", "--model", str(demo_model), "--video",
                 str(cohort / "videos/sub-001.mp4"), "--pose", str(bad), "--out",
                 str(tmp_path / "w.parquet"), "--no-progress"])
    assert code == 2 and "not a readable .npz" in capsys.readouterr().err


def test_run_reports_where_its_time_went(cohort, poses, demo_model, tmp_path, capsys):
    result = run_inference(demo_model, cohort / "videos/sub-001.mp4", poses["sub-001"], OPTS)
    t = result.timing
    assert t["forward_s"] > 0 and t["model_load_s"] > 0 and t["wait_s"] >= 0
    assert t["forward_s"] + t["model_load_s"] + t["wait_s"] <= t["total_s"]
    out = tmp_path / "sub-001.parquet"
    assert main(["infer", "--model", str(demo_model), "--video",
                 str(cohort / "videos/sub-001.mp4"), "--pose", str(poses["sub-001"]), "--out",
                 str(out), "--device", "cpu", "--no-progress"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"infer {out}: ") and "(model " in line
    assert "waiting for frames" in line
    # the options left out take their documented defaults (recorded beside the file)
    params = json.loads((tmp_path / "sub-001.parquet.provenance.json").read_text())["params"]
    assert params == {"window_s": 2.0, "hop_s": 0.5, "batch_size": 16, "device": "cpu",
                      "min_pose_fraction": 0.5, "model_fps": None, "progress": False,
                      "workers": 1, "max_repeated_frames": 0.5, "on_error": "fail"}


def test_a_failed_write_leaves_the_previous_windows_file(cohort, poses, demo_model, tmp_path,
                                                         monkeypatch):
    """The windows file is replaced whole or not at all: a write failing half-way (disk
    full) leaves the previous file as it was and no partial file beside it."""
    import pyarrow.parquet as pq

    out = tmp_path / "sub-001.parquet"
    args = ["infer", "--model", str(demo_model), "--video", str(cohort / "videos/sub-001.mp4"),
            "--pose", str(poses["sub-001"]), "--out", str(out), "--device", "cpu",
            "--workers", "0", "--no-progress"]
    assert main(args) == 0
    before = out.read_bytes()

    def half_then_fail(table, where, **kwargs):
        with open(where, "wb") as fh:  # the half-written file of a failed write
            fh.write(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="No space left on device"):
        main(args)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sub-001.parquet", "sub-001.parquet.provenance.json"]


def test_windows_metadata_records_the_video_the_model_and_the_settings(cohort, demo_model,
                                                                        windows):
    """What the report and aggregate read back from a windows file, by value: the cohort's
    8-s 96x72 10-fps video, the demo model's 8 frames 1/25 s apart (a stride of 0.4 frames
    at 10 fps) and the CLI's default window settings."""
    from pipeio.modelfiles import model_digest

    _, meta = read_windows(windows["sub-001"])
    assert meta["video"] == str(cohort / "videos/sub-001.mp4")
    assert meta["model"] == str(demo_model)
    assert meta["model_sha256"] == model_digest(demo_model) and len(meta["model_sha256"]) == 64
    assert (meta["window_s"], meta["hop_s"], meta["min_pose_fraction"]) == (2.0, 0.5, 0.5)
    assert (meta["fps"], meta["video_frames"], meta["duration_s"]) == (10.0, 80, 8.0)
    assert (meta["width"], meta["height"]) == (96, 72)
    assert (meta["frames_per_window"], meta["stride_frames"]) == (8, 0.4)
    assert meta["pose_backend"] == "openpose" and meta["excluded"] is None


@pytest.mark.parametrize(("fps", "want"), [(10.000000000000002, [6, 8, 10, 12]),
                                         (10.000000001, [6, 8, 10, 12]),
                                         (25.000000000000004, [15, 20, 25, 30])])
def test_a_video_one_window_long_by_a_rate_with_rounding_noise_has_its_window(fps, want):
    """A frame rate measured from timestamps can come out a hair high: 20 frames at
    10.000000000000002 fps last 1.9999999999999996 s, still one 2-s window, which shows
    frames 0-19 (middle 9.5 = step 4.75: steps 3-6), not a frame past the video's end."""
    frames = round(2 * fps)
    assert frames / fps < 2.0
    plan = plan_windows(frames, fps, SamplingRule(4, 0.2), window_s=2.0, hop_s=0.5)
    assert len(plan) == 1
    np.testing.assert_array_equal(plan.frames[0], want)


def test_window_edges_on_a_frame_are_not_moved_by_rounding_noise():
    """Starts of 0.1-s hops compute to 0.30000000000000004 s, 1.4000000000000001 s, ...:
    window 3 still shows frames 3-12 (middle 7.5: steps 6-9) and window 14 frames 14-23
    (middle 18.5: steps 17-20), not a frame later at either end."""
    plan = plan_windows(300, 10.0, SamplingRule(4, 0.1), window_s=1.0, hop_s=0.1)
    assert plan.start_s[3] != 0.3 and plan.end_s[14] != 2.4  # the noise is there
    np.testing.assert_array_equal(plan.frames[3], [6, 7, 8, 9])
    np.testing.assert_array_equal(plan.frames[14], [17, 18, 19, 20])


def _behind_audio(video: Path, out: Path, delay_s: float) -> Path:
    """`video`'s packets remuxed into an mp4 whose video track starts `delay_s` after its
    sound (a camera's, or `ffmpeg -itsoffset`): the same frames, a player shows them late."""
    with av.open(str(video)) as src, av.open(str(out), "w", format="mp4") as dst:
        source = src.streams.video[0]
        picture = dst.add_stream_from_template(source)
        sound = dst.add_stream("aac", rate=16000)
        sound.layout = "mono"
        for start in range(0, int(16000 * (SECONDS + delay_s)), 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, Fraction(1, 16000)
            dst.mux(sound.encode(chunk))
        dst.mux(sound.encode())
        shift = int(round(delay_s / source.time_base))
        for packet in src.demux(source):
            if packet.dts is None:  # the demuxer's end marker
                continue
            packet.pts, packet.dts, packet.stream = packet.pts + shift, packet.dts + shift, picture
            dst.mux(packet)
    return out


def test_window_times_are_the_players_for_a_video_that_starts_after_its_sound(
        cohort, poses, demo_model, windows, tmp_path):
    """A coder's player shows this video's first frame at 0.5 s, so its windows, review files
    and codings meet there: the same frames and probabilities as the video without the
    lead-in, every time 0.5 s later, and the first frame's time recorded."""
    late = _behind_audio(cohort / "videos/sub-001.mp4", tmp_path / "late.mp4", 0.5)
    result = run_inference(demo_model, late, poses["sub-001"], OPTS)
    table, meta = read_windows(windows["sub-001"])
    assert (result.meta["first_frame_s"], meta["first_frame_s"]) == (0.5, 0.0)
    assert result.meta["duration_s"] == meta["duration_s"] == SECONDS
    times = ["start_s", "end_s", "view_start_s", "view_end_s"]
    np.testing.assert_allclose(result.table[times], table[times] + 0.5)
    rest = [c for c in table.columns if c not in times]
    pd.testing.assert_frame_equal(result.table[rest], table[rest], atol=1e-5)
