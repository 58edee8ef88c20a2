"""`--on-error exclude`: a participant whose video or pose cannot be read gets an exclusion
record instead of a failed job, and the record's reason reaches the exclusions list."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.aggregate import Decision, aggregate
from microdualnet.cli import main
from microdualnet.pose.npz import PoseData, load_pose, save_pose
from pipeio.windows import read_windows


@pytest.fixture
def broken(cohort: Path, tmp_path: Path) -> dict[str, Path]:
    """A corrupt copy of a video, and an OpenPose folder that does not exist."""
    bad_video = tmp_path / "corrupt.mp4"
    bad_video.write_bytes(b"this is not an mp4 file\n" * 64)
    return {"video": bad_video, "openpose": tmp_path / "no_such_openpose"}


def _pose(args: list[str]) -> int:
    return main(["pose", "--backend", "openpose", "--no-progress", *args])


def test_pose_fails_by_default_on_a_corrupt_video(broken, cohort, tmp_path, capsys):
    out = tmp_path / "p.npz"
    rc = _pose(["--video", str(broken["video"]), "--openpose-dir",
                str(cohort / "openpose" / "sub-001"), "--out", str(out)])
    assert rc == 2
    assert "not readable" in capsys.readouterr().err
    assert not out.exists()


def test_pose_exclusion_record_for_a_corrupt_video(broken, cohort, tmp_path):
    out = tmp_path / "p.npz"
    rc = _pose(["--video", str(broken["video"]), "--openpose-dir",
                str(cohort / "openpose" / "sub-001"), "--out", str(out), "--on-error",
                "exclude"])
    assert rc == 0
    pose = load_pose(out)
    assert pose.excluded.startswith("pose: video ") and "not readable" in pose.excluded
    assert pose.keypoints.shape == (0, 25, 3)
    qc = json.loads((tmp_path / "p.qc.json").read_text())
    assert qc["excluded"] is True and qc["exclusion_reason"] == pose.excluded
    assert qc["failed_stage"] == "pose"


def test_pose_exclusion_record_for_missing_openpose(broken, cohort, tmp_path):
    out = tmp_path / "p.npz"
    rc = _pose(["--video", str(cohort / "videos" / "sub-001.mp4"), "--openpose-dir",
                str(broken["openpose"]), "--out", str(out), "--on-error", "exclude"])
    assert rc == 0
    assert "OpenPose folder" in load_pose(out).excluded


def test_settings_errors_fail_even_in_exclude_mode(cohort, tmp_path):
    out = tmp_path / "p.npz"
    rc = _pose(["--video", str(cohort / "videos" / "sub-001.mp4"), "--out", str(out),
                "--on-error", "exclude"])  # openpose backend without --openpose-dir
    assert rc == 2 and not out.exists()


@pytest.mark.parametrize(("option", "value"), [("--window-s", "0"), ("--hop-s", "-0.5"),
                                               ("--window-s", "nan"), ("--hop-s", "inf")])
def test_bad_window_settings_fail_even_in_exclude_mode(cohort, demo_model, tmp_path, capsys,
                                                       option, value):
    """Every participant would be excluded for them: a settings error, not an exclusion."""
    out = tmp_path / "p.npz"
    rc = _pose(["--video", str(cohort / "videos" / "sub-001.mp4"), "--openpose-dir",
                str(cohort / "openpose" / "sub-001"), "--out", str(out), "--only-sampled",
                str(demo_model), option, value, "--on-error", "exclude"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert f"{option} must be a positive number of seconds, got {float(value):g}" in err
    assert list(tmp_path.iterdir()) == []  # neither a pose file nor a QC record


def _infer(model: Path, video: Path, pose: Path, out: Path, *extra: str) -> int:
    return main(["infer", "--model", str(model), "--video", str(video), "--pose", str(pose),
                 "--out", str(out), "--threads", "1", "--workers", "0", "--batch-size", "5",
                 "--no-progress", *extra])


def test_infer_carries_the_pose_exclusion_on(broken, cohort, demo_model, tmp_path):
    pose = tmp_path / "p.npz"
    _pose(["--video", str(broken["video"]), "--openpose-dir",
           str(cohort / "openpose" / "sub-001"), "--out", str(pose), "--on-error", "exclude"])
    out = tmp_path / "sub-001.parquet"
    # Without exclude, an exclusion record is an error, not something to analyse.
    assert _infer(demo_model, broken["video"], pose, out) == 2
    assert not out.exists()
    assert _infer(demo_model, broken["video"], pose, out, "--on-error", "exclude") == 0
    table, meta = read_windows(out)
    assert len(table) == 0
    assert meta["excluded"] == load_pose(pose).excluded  # the pose stage's reason, unchanged
    assert meta["class_names"] == json.loads((demo_model / "model.json").read_text())[
        "class_names"]


def test_infer_excludes_on_a_pose_file_of_another_video(cohort, demo_model, poses, tmp_path):
    out = tmp_path / "sub-001.parquet"
    other = tmp_path / "other.npz"
    p = load_pose(poses["sub-001"])  # as if made from a video 3 frames shorter
    save_pose(other, PoseData(p.keypoints[:-3], p.frame_index[:-3], p.fps, p.width,
                              p.height, p.backend, p.video_frames - 3))
    assert _infer(demo_model, cohort / "videos" / "sub-001.mp4", other, out,
                  "--on-error", "exclude") == 0
    _, meta = read_windows(out)
    assert meta["excluded"].startswith("infer: pose file ")


def test_model_problems_fail_even_in_exclude_mode(cohort, demo_model, poses, tmp_path,
                                                 capsys):
    """A problem of the model, the device or the options concerns every participant: never
    an exclusion, and found before any video is decoded."""
    import shutil

    import torch

    video, pose = cohort / "videos" / "sub-001.mp4", poses["sub-001"]
    out = tmp_path / "sub-001.parquet"
    assert _infer(tmp_path / "no_model", video, pose, out, "--on-error", "exclude") == 2
    truncated = Path(shutil.copytree(demo_model, tmp_path / "truncated"))
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:len(weights.read_bytes()) // 2])
    other = Path(shutil.copytree(demo_model, tmp_path / "other"))
    meta = json.loads((other / "model.json").read_text())
    meta["config"]["dim"] = meta["config"]["dim"] * 2  # weights of another config
    (other / "model.json").write_text(json.dumps(meta))
    cases = [(truncated, [], "is damaged or incomplete"),
             (other, [], "has shape"),
             (demo_model, ["--window-s", "nan"], "--window-s must be a positive number"),
             (demo_model, ["--hop-s", "0"], "--hop-s must be a positive number")]
    if not torch.cuda.is_available():
        cases.append((demo_model, ["--device", "cuda"], "CUDA is not available"))
    for model, extra, needle in cases:
        capsys.readouterr()
        assert _infer(model, video, pose, out, "--on-error", "exclude", *extra) == 2, needle
        assert needle in capsys.readouterr().err
        assert not out.exists()


def test_aggregate_lists_the_excluded_participant_and_keeps_the_others(
        broken, cohort, demo_model, windows, participants, tmp_path):
    pose = tmp_path / "sub-002.npz"
    _pose(["--video", str(broken["video"]), "--openpose-dir",
           str(cohort / "openpose" / "sub-002"), "--out", str(pose), "--on-error", "exclude"])
    excluded = tmp_path / "sub-002.parquet"
    assert _infer(demo_model, broken["video"], pose, excluded, "--on-error", "exclude") == 0
    files = [windows["sub-001"], excluded, windows["sub-003"]]
    table, dropped = aggregate(files, participants, Decision())
    assert list(dropped["participant_id"]) == ["sub-002"]
    assert dropped["reason"].iloc[0].startswith("pose: video ")
    assert set(table["participant_id"]) == {"sub-001", "sub-003"}
    clean, _ = aggregate([windows["sub-001"], windows["sub-003"]],
                         participants[participants["participant_id"] != "sub-002"],
                         Decision())
    pd.testing.assert_frame_equal(table.reset_index(drop=True), clean.reset_index(drop=True))

    # The QC timeline of an excluded participant is drawn (empty, with the reason).
    from analysis.__main__ import main as analysis_main

    fig = tmp_path / "timeline.png"
    assert analysis_main(["timeline", "--windows", str(excluded), "--pose", str(pose),
                          "--out", str(fig)]) == 0
    assert fig.stat().st_size > 1000


def test_a_variable_frame_rate_recording_is_a_recorded_exclusion(cohort, tmp_path):
    """A phone recording that drops to half rate: excluded with the way out, not mistimed."""
    from fractions import Fraction

    import av
    import numpy as np

    video = tmp_path / "phone.mp4"
    with av.open(str(video), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 30)
        for i, t in enumerate([*range(40), *range(40, 120, 2)]):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 250, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 30)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    rc = _pose(["--video", str(video), "--openpose-dir", str(cohort / "openpose" / "sub-001"),
                "--out", str(tmp_path / "p.npz"), "--on-error", "exclude"])
    assert rc == 0
    reason = load_pose(tmp_path / "p.npz").excluded
    assert "variable frame rate" in reason and "ffmpeg" in reason and "phone.mp4" in reason


def test_mediapipe_missing_names_the_python_and_the_way_out(cohort, tmp_path, capsys,
                                                            monkeypatch):
    """Without mediapipe (on Python 3.13 no build exists): one line saying what to do, not
    an ImportError traceback."""
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` now fails
    rc = main(["pose", "--backend", "mediapipe", "--video",
               str(cohort / "videos/sub-001.mp4"), "--out", str(tmp_path / "p.npz"),
               "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "openpose" in err
    if sys.version_info >= (3, 13):
        assert "Python 3.11-3.12" in err
    else:  # a build exists: this environment was installed without it
        assert "lacks" in err and "requirements.lock" in err


def test_out_of_gpu_memory_is_exit_75_naming_the_participant_and_writes_nothing(
        cohort, poses, demo_model, tmp_path, capsys, monkeypatch):
    """`pipeio.gpu` retries exit 75 alone on the device; it is never an exclusion."""
    import torch

    from microdualnet.inference import runner

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(runner, "run_inference", out_of_memory)
    monkeypatch.setenv("MICRODUALNET_GPU_SHARE", "4")
    out = tmp_path / "w.parquet"
    rc = main(["infer", "--model", str(demo_model), "--video",
               str(cohort / "videos/sub-001.mp4"), "--pose", str(poses["sub-001"]), "--out",
               str(out), "--participant-id", "sub-001", "--on-error", "exclude",
               "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 75 and not out.exists()
    assert len(err.splitlines()) == 1
    assert "infer sub-001: out of GPU memory" in err and "shared by up to 4" in err


def test_pose_writes_a_provenance_record_beside_the_pose_file_also_when_excluding(
        broken, cohort, tmp_path):
    """Like infer's windows file: the step, its settings and the inputs' hashes."""
    video = cohort / "videos" / "sub-001.mp4"
    assert _pose(["--video", str(video), "--openpose-dir", str(cohort / "openpose" / "sub-001"),
                  "--out", str(tmp_path / "p.npz"), "--participant-side", "left"]) == 0
    record = json.loads((tmp_path / "p.npz.provenance.json").read_text())
    assert record["step"] == "pose" and record["params"]["backend"] == "openpose"
    assert record["params"]["participant_rule"] == "sheet: participant_side left"
    assert len(record["params"]["openpose_manifest"]) == 64
    assert list(record["inputs"]) == [str(video)]
    assert _pose(["--video", str(broken["video"]), "--openpose-dir",
                  str(cohort / "openpose" / "sub-001"), "--out", str(tmp_path / "x.npz"),
                  "--on-error", "exclude"]) == 0
    assert json.loads((tmp_path / "x.npz.provenance.json").read_text())["step"] == "pose"


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_min_upright_fraction_outside_0_1_fails_even_in_exclude_mode(cohort, tmp_path, capsys,
                                                                     value):
    rc = _pose(["--video", str(cohort / "videos" / "sub-001.mp4"), "--openpose-dir",
                str(cohort / "openpose" / "sub-001"), "--out", str(tmp_path / "p.npz"),
                "--min-upright-fraction", value, "--on-error", "exclude"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.endswith("--min-upright-fraction must lie within 0-1")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("extra", "needle"), [
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--min-pose-fraction", "-0.1"], "--min-pose-fraction must be within 0-1, got -0.1"),
    (["--min-pose-fraction", "1.5"], "--min-pose-fraction must be within 0-1, got 1.5"),
    (["--workers", "-1"], "--workers must be 0 or more, got -1"),
])
def test_bad_infer_options_are_one_line_even_in_exclude_mode(cohort, demo_model, poses,
                                                             tmp_path, capsys, extra, needle):
    """Options wrong for every participant: exit 2 with the option named, never an
    exclusion record."""
    out = tmp_path / "sub-001.parquet"
    rc = _infer(demo_model, cohort / "videos" / "sub-001.mp4", poses["sub-001"], out,
                "--on-error", "exclude", *extra)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == f"error: {needle}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_min_pose_fraction_of_0_and_1_are_accepted_and_applied(cohort, demo_model, poses,
                                                              tmp_path, capsys, fraction):
    """The bounds are inclusive: 0 classifies every window, even one without a person; 1 only
    windows with a person in every sampled frame."""
    pose = load_pose(poses["sub-001"])
    pose.keypoints[pose.frame_index < 35] = 0  # no person in the first 3.5 s
    save_pose(tmp_path / "p.npz", pose)
    out = tmp_path / "sub-001.parquet"
    assert _infer(demo_model, cohort / "videos" / "sub-001.mp4", tmp_path / "p.npz", out,
                  "--min-pose-fraction", str(fraction)) == 0
    table, meta = read_windows(out)
    assert meta["min_pose_fraction"] == fraction
    fractions = table["pose_fraction"]
    assert (fractions == 0).sum() > 0 and ((fractions > 0) & (fractions < 1)).sum() > 0
    expected = fractions >= 0 if fraction == 0 else fractions == 1
    assert (table["valid"] == expected).all()
    assert table.loc[table["valid"], "prob_no action"].notna().all()
    assert table.loc[~table["valid"], "prob_no action"].isna().all()
    # 13 windows (0-6 s by 0.5 s); the summary line counts the valid ones
    valid = {0.0: 13, 1.0: int((fractions == 1).sum())}[fraction]
    assert len(table) == 13 and 0 < (fractions == 1).sum() < 13
    assert capsys.readouterr().out.startswith(f"infer {out}: {valid}/13 windows valid; ")


def test_infer_threads_sets_torchs_threads_at_least_one(cohort, demo_model, poses, tmp_path,
                                                        monkeypatch):
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    video, pose = cohort / "videos" / "sub-001.mp4", poses["sub-001"]
    assert _infer(demo_model, video, pose, tmp_path / "a.parquet", "--threads", "3") == 0
    assert _infer(demo_model, video, pose, tmp_path / "b.parquet", "--threads", "0") == 0
    assert calls == [3, 1]  # the last --threads given (after _infer's own 1), at least 1


def test_infer_provenance_records_its_settings_and_inputs(cohort, demo_model, poses,
                                                          tmp_path):
    video, pose = cohort / "videos" / "sub-001.mp4", poses["sub-001"]
    out = tmp_path / "sub-001.parquet"
    assert _infer(demo_model, video, pose, out, "--on-error", "exclude") == 0
    record = json.loads((tmp_path / "sub-001.parquet.provenance.json").read_text())
    assert record["step"] == "infer"
    assert record["params"] == {"window_s": 2.0, "hop_s": 0.5, "batch_size": 5,
                                "device": "auto", "min_pose_fraction": 0.5,
                                "model_fps": None, "progress": False, "workers": 0,
                                "max_repeated_frames": 0.5, "on_error": "exclude"}
    # model.json (class names and order, frame rate, view) is an input as the weights are.
    assert list(record["inputs"]) == [str(video), str(pose),
                                      str(demo_model / "model.safetensors"),
                                      str(demo_model / "model.json")]
    # What `--device auto` became and in which precision (a GPU runs bfloat16/float16).
    assert (record["device_used"], record["gpu"], record["autocast"]) == ("cpu", None, None)
    # torch's CPU threads change the probabilities in their last bits (docs/inference.md)
    assert record["threads"] == 1


@pytest.mark.parametrize("quiet", [False, True])
def test_pose_and_infer_show_the_video_hash_progress_unless_told_not_to(
        cohort, demo_model, poses, tmp_path, capsys, monkeypatch, quiet):
    """The provenance record hashes the whole video after the step's work (tens of seconds
    for a long recording): the steps' bars say so, and --no-progress (the workflow's jobs,
    which log to a file) silences it like their other bars."""
    import pipeio.provenance as provenance

    monkeypatch.setattr(provenance, "PROGRESS_AFTER_S", 0)  # a bar even for a short video
    video = cohort / "videos" / "sub-001.mp4"
    flag = ["--no-progress"] if quiet else []
    assert main(["pose", "--backend", "openpose", "--video", str(video), "--openpose-dir",
                 str(cohort / "openpose" / "sub-001"), "--out", str(tmp_path / "p.npz"),
                 *flag]) == 0
    assert ("sha256 sub-001.mp4: 100%" in capsys.readouterr().err) is not quiet
    assert main(["infer", "--model", str(demo_model), "--video", str(video), "--pose",
                 str(poses["sub-001"]), "--out", str(tmp_path / "w.parquet"), "--threads", "1",
                 "--workers", "0", *flag]) == 0
    assert ("sha256 sub-001.mp4: 100%" in capsys.readouterr().err) is not quiet


def test_an_exclusion_reason_is_one_line_even_for_a_file_name_with_a_newline(
        broken, demo_model, poses, tmp_path):
    """The reason becomes a row of the exclusions TSV: whitespace runs are one space."""
    video = tmp_path / "odd\nname  here.mp4"
    video.write_bytes(broken["video"].read_bytes())
    out = tmp_path / "sub-001.parquet"
    assert _infer(demo_model, video, poses["sub-001"], out, "--on-error", "exclude") == 0
    reason = read_windows(out)[1]["excluded"]
    assert reason.startswith(f"infer: video {tmp_path}/odd name here.mp4 is not readable ")
    assert "\n" not in reason and "  " not in reason


@pytest.mark.parametrize(("message", "detail"), [
    ("CUDA out of memory.\nTried to allocate 2.00 GiB", "CUDA out of memory."),
    ("", "OutOfMemoryError"),  # an error without a message: still exit 75, no traceback
])
def test_out_of_gpu_memory_without_a_shared_pool_says_one_job(cohort, poses, demo_model,
                                                              tmp_path, capsys, monkeypatch,
                                                              message, detail):
    """Outside the workflow's GPU pool (no MICRODUALNET_GPU_SHARE) the device is its own; the
    id defaults to the --out file's name."""
    import torch

    from microdualnet.inference import runner

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError(message)

    monkeypatch.setattr(runner, "run_inference", out_of_memory)
    monkeypatch.delenv("MICRODUALNET_GPU_SHARE", raising=False)
    rc = _infer(demo_model, cohort / "videos/sub-001.mp4", poses["sub-001"],
                tmp_path / "sub-007.parquet")
    assert rc == 75 and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err == (
        "error: infer sub-007: out of GPU memory with the device shared by up to 1 job(s) "
        f"({detail}); lower --batch-size or gpu.share\n")


@pytest.mark.parametrize("message", [
    "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported",
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
])
def test_cuda_out_of_memory_outside_torchs_allocator_is_exit_75_too(
        cohort, poses, demo_model, tmp_path, capsys, monkeypatch, message):
    """On a full shared device CUDA's context or cuBLAS handle may fail to allocate: a plain
    RuntimeError, which failed the job (exit 1) instead of its retry alone on the device."""
    from microdualnet.inference import runner

    def out_of_memory(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(runner, "run_inference", out_of_memory)
    monkeypatch.setenv("MICRODUALNET_GPU_SHARE", "4")
    rc = _infer(demo_model, cohort / "videos/sub-001.mp4", poses["sub-001"],
                tmp_path / "sub-001.parquet", "--on-error", "exclude")
    assert rc == 75 and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err == (
        "error: infer sub-001: out of GPU memory with the device shared by up to 4 job(s) "
        f"({message.splitlines()[0]}); lower --batch-size or gpu.share\n")


def test_another_runtime_error_of_infer_is_no_out_of_memory(cohort, poses, demo_model,
                                                             tmp_path, monkeypatch):
    from microdualnet.inference import runner

    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(runner, "run_inference", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        _infer(demo_model, cohort / "videos/sub-001.mp4", poses["sub-001"],
               tmp_path / "sub-001.parquet")


def test_an_unreadable_pose_file_is_an_infer_exclusion_naming_it(cohort, demo_model,
                                                                 tmp_path, capsys):
    bad = tmp_path / "p.npz"
    bad.write_text("nope")
    out = tmp_path / "sub-001.parquet"
    assert _infer(demo_model, cohort / "videos/sub-001.mp4", bad, out,
                  "--on-error", "exclude") == 0
    table, meta = read_windows(out)
    assert len(table) == 0 and meta["participant_id"] == "sub-001"
    assert meta["excluded"].startswith(f"infer: pose file {bad} ")
    assert "not a readable .npz" in meta["excluded"]
    assert capsys.readouterr().out.startswith(
        f"infer {out}: 0/0 windows valid (excluded: {meta['excluded']})")


def test_an_exclusion_record_beside_a_good_video_is_named_as_such(cohort, demo_model,
                                                                  tmp_path, capsys):
    """The video is fine, the pose stage excluded the participant: without exclude, the
    error says so (not a frame-count mismatch); with it, the pose stage's reason stays."""
    from microdualnet.pose.npz import excluded_pose

    pose, out = tmp_path / "p.npz", tmp_path / "sub-001.parquet"
    save_pose(pose, excluded_pose("openpose", "pose: no person found"))
    video = cohort / "videos/sub-001.mp4"
    assert _infer(demo_model, video, pose, out) == 2
    assert capsys.readouterr().err == (f"error: pose file {pose} is the exclusion record of a "
                                       "participant without pose (pose: no person found)\n")
    assert not out.exists()
    assert _infer(demo_model, video, pose, out, "--on-error", "exclude") == 0
    assert read_windows(out)[1]["excluded"] == "pose: no person found"
