"""Helpers for the workflow tests: a reduced demo copy of the workflow and a runner."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def reduced_workdir(tmp_path: Path, **overrides) -> Path:
    """A copy of the workflow files with a reduced demo config."""
    for name in ("Snakefile", "workflow"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["demo"].update(per_group=2, seconds=6, fps=8, width=64, height=48)
    cfg["percent_time_source"] = "truth"  # the model path has its own, slower test
    cfg.update(overrides)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--cores", "2", "--directory", str(workdir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
