"""The inference rule's cores: one runs the model, the others decode the video."""

import shutil
import subprocess

from workflow_testkit import ROOT, SNAKEMAKE, reduced_workdir


def _infer_commands(tmp_path, cores: int, **inference) -> list[str]:
    wd = reduced_workdir(tmp_path, percent_time_source="model", inference=inference)
    shutil.copytree(ROOT / "configs", wd / "configs")  # the demo model's training config
    res = subprocess.run([*SNAKEMAKE, "--cores", str(cores), "--directory", str(wd), "-n",
                          "-p"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return [line for line in res.stdout.splitlines() if "microdualnet infer" in line]


def test_inference_threads_become_loader_workers(tmp_path):
    commands = _infer_commands(tmp_path, 8, threads=4)
    assert commands and all("--threads 1 --workers 3" in c for c in commands)


def test_fewer_cores_than_threads_leave_one_loader_worker(tmp_path):
    """Snakemake scales a job's threads down to --cores; the model keeps one of them."""
    commands = _infer_commands(tmp_path, 2, threads=6)
    assert commands and all("--workers 1" in c for c in commands)


def test_one_thread_decodes_in_the_model_process(tmp_path):
    """`threads: 1` (the demo's config): no loader process, so two jobs share 2 cores."""
    commands = _infer_commands(tmp_path, 2, threads=1)
    assert commands and all("--threads 1 --workers 0" in c for c in commands)


def test_the_configured_settings_reach_each_participants_infer_command(tmp_path):
    """Every inference key, the participant's own id and files and on_participant_error
    reach its command as given; aggregate is told the model so it refuses others' windows."""
    wd = reduced_workdir(tmp_path, percent_time_source="model", on_participant_error="exclude",
                         inference={"threads": 1, "window_s": 3.0, "hop_s": 0.75,
                                    "batch_size": 7, "device": "cpu"})
    shutil.copytree(ROOT / "configs", wd / "configs")
    res = subprocess.run([*SNAKEMAKE, "--cores", "2", "--directory", str(wd), "-n", "-p"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    infer = sorted(line for line in lines if "microdualnet infer" in line)
    pids = [f"sub-{i:03d}" for i in range(1, len(infer) + 1)]
    assert len(infer) >= 2
    assert infer == [
        'Shell command: "$MDN_PY" -m pipeio.gpu --devices none -- "$MDN_PY" -m microdualnet '
        f"infer --model results/demo/model --video demo_data/cohort/videos/{pid}.mp4 --pose "
        f"results/demo/pose/{pid}.npz --out results/demo/windows/{pid}.parquet "
        f"--participant-id {pid} --window-s 3.0 --hop-s 0.75 --batch-size 7 --device cpu "
        "--max-repeated-frames 0.5 --on-error exclude --threads 1 --workers 0 --no-progress > "
        f"results/demo/logs/infer/{pid}.log 2>&1" for pid in pids]
    pose = [line for line in lines if "microdualnet pose" in line]
    assert len(pose) == len(pids) and all(" --on-error exclude " in c for c in pose)
    aggregate = [line for line in lines if "-m analysis aggregate" in line]
    assert len(aggregate) == 1 and (" --model results/demo/model --covariates= --out "
                                   in aggregate[0])
