"""What parsing the workflow costs a cluster job. Under the SLURM executor every job runs
Snakemake again (`--target-jobs <rule>:pid=<id> --mode remote`), which parses the Snakefile,
reads the sheet and evaluates that job's parameters: for the paper's 290 children, three jobs
each, anything done per parse is paid about 1,700 times (bench/workflow_overhead.py).

Snakemake runs here in a child interpreter after a few lines of setup that watch what the
parse calls."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_testkit import ROOT, make_random_model

from microdualnet.cli import main
from pipeio.modelfiles import model_digest

# Snakemake's own entry point, after `setup` (Python code) has run in the same interpreter.
RUN_AFTER = "import runpy\n{setup}\nrunpy.run_module('snakemake', run_name='__main__')\n"
# What SLURM's job step runs for one job (snakemake-executor-plugin-slurm-jobstep), as a dry
# run: the whole workflow parsed, the DAG of this job alone.
CLUSTER_JOB = ("--allowed-rules", "{rule}", "--target-jobs", "{rule}:pid=sub-001", "--force",
               "--nolock", "--mode", "remote", "--dry-run")
# Each call to pipeio.modelfiles.model_digest (the SHA-256 of the model's files), one line
# to the file the environment names.
COUNT_DIGESTS = """
import os
import pipeio.modelfiles as modelfiles
real_digest = modelfiles.model_digest
def counted_digest(folder):
    with open(os.environ["DIGEST_LOG"], "a") as log:
        log.write(f"{folder}\\n")
    return real_digest(folder)
modelfiles.model_digest = counted_digest
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three participants as a study's own data (sheet, videos, OpenPose JSON) and a model
    used as it is (model.train: false), so infer's parameters hold the model's SHA-256."""
    wd = tmp_path_factory.mktemp("overhead")
    make_random_model(wd / "model")
    assert main(["synth", "cohort", "--out", str(wd / "study"), "--per-group", "1",
                 "--seconds", "6", "--fps", "8", "--width", "64", "--height", "48",
                 "--workers", "1"]) == 0
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg.update(participants="study/participants.tsv", percent_time_source="model")
    cfg["model"].update(train=False, path="model")
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def _snakemake_after(setup: str, wd: Path, *args: str,
                     env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`snakemake --cores 1 --directory wd args` in a child interpreter that ran `setup`."""
    return subprocess.run(
        [sys.executable, "-c", RUN_AFTER.format(setup=setup), "--cores", "1",
         "--directory", str(wd), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("rule", ["pose", "timeline", "infer"])
def test_a_cluster_job_does_not_hash_the_model(study, tmp_path, rule):
    """The paper's weights are 226 MB: read and hashed by a job's parse they cost about 0.2
    CPU-s and a read of the whole file from the cluster's file system, twice a job under
    SLURM (the job step's Snakemake, then srun's). The digest is a parameter for the main
    process, which records it (below); infer's command hashes the files it loads itself."""
    log = tmp_path / "digests.txt"
    log.touch()
    res = _snakemake_after(COUNT_DIGESTS, study,
                           *(arg.format(rule=rule) for arg in CLUSTER_JOB),
                           env={"DIGEST_LOG": str(log)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"rule {rule}:" in res.stdout + res.stderr
    assert log.read_text().splitlines() == []


def test_a_pose_job_on_the_models_frames_hashes_the_model_without_infer(study, tmp_path):
    """The demo's percentages from its true codings (no infer job), a pose file asked for
    with pose.only_sampled and a model used as it is: the job reads only the frames the
    model samples, so its parameters hold the model's SHA-256 (a replaced model reruns it)."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg.update(percent_time_source="truth")
    cfg["model"].update(train=False, path="model")
    cfg["pose"]["only_sampled"] = True
    sampled = tmp_path / "sampled.yaml"
    sampled.write_text(yaml.safe_dump(cfg))
    log = tmp_path / "digests.txt"
    log.touch()
    res = _snakemake_after(COUNT_DIGESTS, study, "--configfile", str(sampled), "--dry-run",
                           f"{cfg['results']}/pose/sub-001.npz",
                           env={"DIGEST_LOG": str(log)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "--only-sampled model " in res.stdout
    assert log.read_text().splitlines() == ["model"]


def test_the_whole_dag_hashes_the_model_once(study, tmp_path):
    """Once, and into no command: a cluster job, which does not hash it, runs the same
    commands."""
    log = tmp_path / "digests.txt"
    log.touch()
    res = _snakemake_after(COUNT_DIGESTS, study, "--dry-run", "--printshellcmds",
                           env={"DIGEST_LOG": str(log)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "infer " in res.stdout  # the job stats list three infer jobs
    assert log.read_text().splitlines() == ["model"]
    assert "microdualnet infer --model" in res.stdout
    assert model_digest(study / "model") not in res.stdout


def test_a_study_jobs_parse_skips_the_costly_parts_it_does_not_need(study, tmp_path):
    """pandas' iterrows builds a Series per row: at 290 rows half the sheet checks' 0.25
    CPU-s. The synthetic world's modules (its renderer and PyAV, for the demo's group names)
    took 0.4 s. Every cluster job paid both; the checks themselves are
    test_bad_inputs.py's and test_workflow_sheet.py's."""
    modules = tmp_path / "modules.txt"
    setup = ("import atexit, os, sys\n"
             "import pandas\n"
             "def refuse(self):\n"
             "    raise AssertionError('DataFrame.iterrows called')\n"
             "pandas.DataFrame.iterrows = refuse\n"
             "atexit.register(lambda: open(os.environ['MODULES'], 'w').write("
             "'\\n'.join(sorted(sys.modules))))\n")
    res = _snakemake_after(setup, study, *(arg.format(rule="pose") for arg in CLUSTER_JOB),
                           env={"MODULES": str(modules)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "rule pose:" in res.stdout + res.stderr
    loaded = set(modules.read_text().splitlines())
    assert "microdualnet.synthetic" in loaded  # the demo's group names, and nothing more
    assert not {"microdualnet.synthetic.cohort", "microdualnet.video", "av"} & loaded
