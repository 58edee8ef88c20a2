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
