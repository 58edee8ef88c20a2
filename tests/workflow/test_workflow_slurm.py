"""The reduced demo runs on a single-node SLURM cluster, every job submitted with sbatch."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from workflow_testkit import ROOT, reduced_workdir

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("slurmctld") is None or shutil.which("munged") is None,
    reason="needs root and Debian's slurm-wlm + munge (scripts/system_packages.sh)",
)


@pytest.fixture(scope="module")
def slurm_cluster():
    script = ROOT / "scripts" / "slurm_localhost.sh"
    up = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True,
                        timeout=120)
    if up.returncode != 0 and "belongs to a real cluster" in up.stderr:
        pytest.skip("a real SLURM configuration is installed here")
    assert up.returncode == 0, up.stderr
    yield
    subprocess.run(["bash", str(script), "stop"], capture_output=True, timeout=60)


def test_reduced_demo_through_slurm(tmp_path, slurm_cluster):
    wd = reduced_workdir(tmp_path)
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(ROOT / "profiles/slurm"),
         "--directory", str(wd)],
        cwd=wd, capture_output=True, text=True, timeout=900,
    )
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    planned = re.search(r"^total\s+(\d+)$", log, re.M)
    assert planned is not None
    # Every job but the `all` target went through sbatch.
    assert len(submitted) == int(planned.group(1)) - 1 >= 5
    assert (wd / "results/demo/stats/table_v.md").is_file()
    assert (wd / "results/demo/figures/overview.png").is_file()
