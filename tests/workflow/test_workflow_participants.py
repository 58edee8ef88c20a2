"""Per-participant jobs on the model path (a random, untrained model: these tests are about
the workflow's mechanics): reruns touch only what changed, and a participant whose video or
pose cannot be read is excluded, listed with the reason, and changes no one else's result."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from workflow_testkit import (
    final_tables,
    job_counts,
    job_wildcards,
    make_random_model,
    model_workdir,
    run_snakemake,
    set_keys,
)

from analysis.inference_quality import read_inference_quality
from analysis.pose_quality import read_quality

RESULTS = "results/demo"
PIDS = [f"sub-{i:03d}" for i in range(1, 7)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_model(tmp_path_factory.mktemp("model") / "demo")


@pytest.fixture(scope="module")
def model_run(tmp_path_factory: pytest.TempPathFactory, model: Path) -> tuple[Path, dict]:
    """A finished model-path run and its final tables as they first came out. A faked GPU
    (MICRODUALNET_GPU_COUNT) makes each infer job take a slot of the pool, in a lock folder
    whose name needs shell quoting and Snakemake's brace escaping."""
    wd = model_workdir(tmp_path_factory.mktemp("model_run"), model)
    set_keys(wd, "gpu", lock_dir="gpu {locks}")
    res = run_snakemake(wd, env={"MICRODUALNET_GPU_COUNT": "1", "CUDA_VISIBLE_DEVICES": None,
                                 "SLURM_JOB_ID": None, "CUDA_DEVICE_ORDER": None})
    assert res.returncode == 0, res.stderr[-4000:]
    return wd, final_tables(wd)


def test_second_run_has_nothing_to_do(model_run):
    wd, _ = model_run
    res = run_snakemake(wd, "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stdout + res.stderr


def test_the_same_environment_at_another_path_reruns_nothing(model_run, tmp_path):
    """The interpreter is no rule parameter: moving the checkout or its environment changes
    no result, so every pose and infer job stays done."""
    import subprocess
    import sys

    from workflow_testkit import ROOT

    wd, _ = model_run
    moved = tmp_path / "moved-venv"
    moved.symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    res = subprocess.run([str(moved / "bin" / Path(sys.executable).name), "-m", "snakemake",
                          "--cores", "2", "--directory", str(wd), "--dry-run"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stdout + res.stderr


def test_the_gpu_pool_settings_reach_the_jobs_and_changing_them_reruns_nothing(model_run):
    """They say where a job runs, not what it computes."""
    wd, _ = model_run
    for pid in PIDS:
        log = (wd / RESULTS / "logs/infer" / f"{pid}.log").read_text()
        assert "gpu: CUDA_VISIBLE_DEVICES=0 (pool 0, 4 job(s) per device)" in log, log
    locks = {p.name for p in (wd / "gpu {locks}").iterdir()}  # slots are taken lowest first
    assert "gpu-0.0.lock" in locks and locks <= {f"gpu-0.{k}.lock" for k in range(4)}, locks
    config = (wd / "config.yaml").read_text()
    try:
        set_keys(wd, "gpu", devices=[0], share=2, min_free_mib=100, lock_dir="elsewhere")
        res = run_snakemake(wd, "--dry-run")
        assert res.returncode == 0, res.stderr[-3000:]
        assert "Nothing to be done" in res.stdout + res.stderr
    finally:
        (wd / "config.yaml").write_text(config)


COHORT_STEPS = {"aggregate": 1, "agreement": 1, "stats": 1, "plots": 1, "report": 1, "all": 1}
ONE_PARTICIPANT = {"pose": 1, "infer": 1, "timeline": 1, "pose_quality": 1, **COHORT_STEPS}


def test_a_changed_video_reruns_only_that_participant(model_run):
    wd, _ = model_run
    video = wd / "demo_data/cohort/videos/sub-004.mp4"
    original, stat = video.read_bytes(), video.stat()
    video.write_bytes(original + b"\0")  # new content (a touch alone is not a change)
    try:
        plan = run_snakemake(wd, "--dry-run")
        log = plan.stdout + plan.stderr
        assert plan.returncode == 0, log[-3000:]
        assert job_counts(log) == ONE_PARTICIPANT
        assert job_wildcards(log) == ["pid=sub-004"] * 3
    finally:
        video.write_bytes(original)
        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "Nothing to be done" in run_snakemake(wd, "--dry-run").stdout


def test_redoing_one_participant_reruns_only_its_jobs_and_the_cohort_steps(model_run):
    wd, tables = model_run
    others = {pid: (wd / RESULTS / f"windows/{pid}.parquet").stat().st_mtime_ns
              for pid in PIDS if pid != "sub-003"}
    pose = f"{RESULTS}/pose/sub-003.npz"
    (wd / pose).unlink()
    # A deleted intermediate alone is not rebuilt while the results made from it are current
    # (Snakemake's rule); --forcerun on it redoes that participant and what depends on it.
    idle = run_snakemake(wd, "--dry-run")
    assert "Nothing to be done" in idle.stdout, idle.stdout[-3000:]
    plan = run_snakemake(wd, "--dry-run", "--forcerun", pose)
    log = plan.stdout + plan.stderr
    assert plan.returncode == 0, log[-3000:]
    assert job_counts(log) == ONE_PARTICIPANT
    assert job_wildcards(log) == ["pid=sub-003"] * 3

    res = run_snakemake(wd, "--forcerun", pose)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert job_counts(log) == ONE_PARTICIPANT
    assert job_wildcards(log) == ["pid=sub-003"] * 3
    assert {pid: (wd / RESULTS / f"windows/{pid}.parquet").stat().st_mtime_ns
            for pid in others} == others
    assert final_tables(wd) == tables
    assert "Nothing to be done" in run_snakemake(wd, "--dry-run").stdout


def test_unreadable_participants_are_excluded_and_listed(tmp_path, model, model_run):
    wd = model_workdir(tmp_path, model)
    made = run_snakemake(wd, "demo_cohort")
    assert made.returncode == 0, made.stderr[-3000:]
    cohort = wd / "demo_data/cohort"
    (cohort / "videos/sub-002.mp4").write_bytes(b"not a video\n" * 100)  # corrupt video
    shutil.rmtree(cohort / "openpose/sub-005")  # pose output missing

    res = run_snakemake(wd, "--keep-going")
    assert res.returncode == 0, res.stderr[-4000:]
    # The run ends by naming the report and who was excluded.
    assert f"Report: {RESULTS}/report.html" in res.stderr
    assert "Excluded: 2 participant(s) (sub-002, sub-005); reasons in " in res.stderr

    table = pd.read_csv(wd / RESULTS / "percent_time.tsv", sep="\t")
    kept = ["sub-001", "sub-003", "sub-004", "sub-006"]
    assert sorted(table["participant_id"].unique()) == kept
    # The others' results do not depend on the excluded participants.
    reference = pd.read_csv(model_run[0] / RESULTS / "percent_time.tsv", sep="\t")
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True),
        reference[reference["participant_id"].isin(kept)].reset_index(drop=True))

    excluded = pd.read_csv(wd / RESULTS / "percent_time_exclusions.tsv", sep="\t")
    reasons = dict(zip(excluded["participant_id"], excluded["reason"], strict=True))
    assert sorted(reasons) == ["sub-002", "sub-005"]
    assert reasons["sub-002"].startswith("pose: video ") and "not readable" in reasons["sub-002"]
    assert reasons["sub-005"].startswith("pose: OpenPose folder ")
    qc = json.loads((wd / RESULTS / "pose/sub-002.qc.json").read_text())
    # The list is shared: the paths the working files keep are <path> in it.
    video = "demo_data/cohort/videos/sub-002.mp4"
    assert qc["excluded"] is True and video in qc["exclusion_reason"]
    assert reasons["sub-002"] == qc["exclusion_reason"].replace(video, "<path>")
    assert "openpose/sub-005" not in reasons["sub-005"]
    assert (wd / RESULTS / "figures/timeline/sub-005.png").is_file()

    report = (wd / RESULTS / "report.html").read_text()
    assert "analysed: 4" in report and "excluded: 2." in report
    # aggregate's table of infer's warnings: everyone, the excluded with nothing recorded.
    warnings = read_inference_quality(wd / RESULTS / "percent_time_quality.tsv")
    assert warnings["participant_id"].tolist() == [f"sub-00{i}" for i in range(1, 7)]
    assert warnings.set_index("participant_id").loc[["sub-002", "sub-005"]].isna().all(axis=None)
    assert "<h2>Inference warnings</h2>" in report
    quality = read_quality(wd / RESULTS / "pose_quality.tsv").set_index("participant_id")
    assert quality["excluded"].to_dict() == {f"sub-00{i}": i in (2, 5) for i in range(1, 7)}
    assert (quality["flags"] == "").all() and (quality.loc[kept, "person_pct"] > 95).all()
    assert "<h2>Pose quality</h2>" in report and "Pose QC of 4 participants" in report
    assert "no participant was flagged" in report and "Pose quality: " not in report
    sheet = pd.read_csv(cohort / "participants.tsv", sep="\t")
    group = dict(zip(sheet["participant_id"], sheet["group"], strict=True))
    for pid in reasons:  # the list's reasons, which name no file
        row = (f"<tr><td>{pid}</td><td>{group[pid]}</td><td>pose</td>"
               f"<td>{html.escape(reasons[pid])}</td></tr>")
        assert row in report
        assert f"videos/{pid}.mp4" not in report and f"openpose/{pid}" not in report
