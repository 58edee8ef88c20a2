"""`model.gpus: N` makes the train job ask for N GPUs and start torchrun with N processes;
infer asks for one GPU, none with `inference.device: cpu`."""

import re

import yaml
from workflow_testkit import ROOT, job_counts, reduced_workdir, run_snakemake, set_keys


def test_train_job_with_two_gpus_runs_torchrun(tmp_path):
    wd = reduced_workdir(
        tmp_path, percent_time_source="model",
        model={"train": True, "path": "results/my model", "train_config": "train.yaml",
               "clips": "demo_data/clips", "clips_per_class": 1, "gpus": 2})
    (wd / "train.yaml").write_text("data: {root: demo_data/clips}\n")
    plan = run_snakemake(wd, "--dry-run", "--printshellcmds", "results/my model/model.json")
    assert plan.returncode == 0, plan.stderr[-3000:]
    log = plan.stdout + plan.stderr
    train_job = log[log.index("rule train:"):]
    assert re.search(r"^    resources: .*\bgpu=2\b", train_job, re.M), train_job[:1500]
    command = re.search(r"^Shell command: (.*)$", train_job, re.M).group(1)
    assert re.fullmatch(r"\S+ -m torch\.distributed\.run --standalone --nproc_per_node 2 "
                        r"-m microdualnet train --config train\.yaml --data-root \S+ "
                        r"--out 'results/my model' .*", command), command


def test_infer_asks_for_no_gpu_with_device_cpu(tmp_path):
    """infer's `gpu` resource (under SLURM: sbatch --gpus=1, which a cluster without GPUs
    refuses) is 1, and none with inference.device: cpu; the SLURM profile leaves it to the
    config (a `set-resources` entry would win over it)."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert "gpu" not in (profile.get("set-resources") or {}).get("infer", {}), profile
    for device, gpus in (("auto", 1), ("cpu", 0)):
        (tmp_path / device).mkdir()
        wd = reduced_workdir(
            tmp_path / device, percent_time_source="model",
            model={"train": True, "path": "results/model", "train_config": "train.yaml",
                   "clips": "demo_data/clips", "clips_per_class": 1})
        (wd / "train.yaml").write_text("data: {root: demo_data/clips}\n")
        set_keys(wd, "inference", device=device)
        plan = run_snakemake(wd, "--dry-run", "results/demo/windows/sub-001.parquet")
        assert plan.returncode == 0, plan.stderr[-3000:]
        log = plan.stdout + plan.stderr
        infer_job = log[log.index("rule infer:"):]
        resources = re.search(r"^    resources: (.*)$", infer_job, re.M).group(1)
        assert re.search(rf"\bgpu={gpus}\b", resources), (device, resources)


def test_a_study_model_trains_again_on_another_clip_folder(tmp_path):
    """Without the demo, model.clips is the study's own clip folder: an input of train, so
    pointing it at other data trains the model again instead of keeping the old one."""
    wd = reduced_workdir(
        tmp_path, percent_time_source="model", participants="study/participants.tsv",
        model={"train": True, "path": "results/model", "train_config": "train.yaml",
               "clips": "clips_a"})
    set_keys(wd, "demo", enabled=False)
    set_keys(wd, "pose", backend="mediapipe")
    (wd / "study").mkdir()
    (wd / "study/participants.tsv").write_text("participant_id\tgroup\tvideo\nsub-001\tASD\tv.mp4\n")
    (wd / "study/v.mp4").write_bytes(b"")
    (wd / "train.yaml").write_text("data: {root: clips_a}\n")
    for name in ("clips_a", "clips_b", "results/model"):
        (wd / name).mkdir(parents=True)
    for name in ("model.json", "model.safetensors"):
        (wd / "results/model" / name).write_text("trained on clips_a")
    target = "results/model/model.json"
    done = run_snakemake(wd, "--touch", "--forceall", target)  # as if train had run
    assert done.returncode == 0, done.stderr[-3000:]
    plan = run_snakemake(wd, "--dry-run", target)
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stderr[-3000:]
    set_keys(wd, "model", clips="clips_b")
    plan = run_snakemake(wd, "--dry-run", target)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout + plan.stderr) == {"train": 1}
