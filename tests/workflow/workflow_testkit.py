"""Helpers for the workflow tests: a reduced demo copy of the workflow and a runner."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The files a finished run's statistics consist of: they must not depend on how the run got
# there (interrupted, restarted, partly re-run).
FINAL_TABLES = ("percent_time.tsv", "stats/hurdle.tsv", "stats/table_v.tsv",
                "stats/table_v.md", "stats/table_v.tex", "stats/methods.md",
                "stats/exclusions.tsv", "stats/participants_used.tsv")


def reduced_workdir(tmp_path: Path, **overrides) -> Path:
    """A copy of the workflow files with a reduced demo config."""
    for name in ("Snakefile", "workflow", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    # The small cohort of .test/config.yaml, at config.yaml's paths (which the tests name).
    small = yaml.safe_load((ROOT / ".test/config.yaml").read_text())
    cfg["demo"].update({k: v for k, v in small["demo"].items() if k != "out"})
    cfg["percent_time_source"] = small["percent_time_source"]  # the model path: own tests
    cfg.update(overrides)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def set_keys(workdir: Path, section: str, **values) -> None:
    """Change keys of one section of a reduced workdir's config."""
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg[section].update(values)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))


def run_snakemake(workdir: Path, *args: str,
                  env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """`snakemake --cores 2` in `workdir`; `env` changes the environment (None: unset)."""
    changed = {**os.environ, **(env or {})}
    return subprocess.run([*SNAKEMAKE, "--cores", "2", "--directory", str(workdir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in changed.items() if v is not None})


def job_counts(log: str) -> dict[str, int]:
    """The `Job stats` table Snakemake prints before running (or in a dry run)."""
    match = re.search(r"^job\s+count\n-+\s+-+\n(.*?)^total\s+\d+", log, re.M | re.S)
    assert match is not None, log[-3000:]
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", match.group(1), re.M)}


def job_wildcards(log: str) -> list[str]:
    """The `wildcards:` line of every job a run or dry run lists."""
    return re.findall(r"^\s+wildcards: (.+)$", log, re.M)


def final_tables(workdir: Path, results: str = "results/demo") -> dict[str, bytes]:
    return {name: (workdir / results / name).read_bytes() for name in FINAL_TABLES}


def make_random_model(folder: Path, seed: int = 0,
                      class_names: list[str] | None = None) -> Path:
    """A randomly initialised demo-preset model over the synthetic classes + background, or
    `class_names` (no training: the tests of the workflow's mechanics do not need a good
    model), sampling every 0.12 s as the workflow's demo model (configs/train_demo.yaml), so
    that infer does not refuse the 8-fps test cohorts as slower than it samples."""
    import torch

    from microdualnet.contract import View
    from microdualnet.model.checkpoint import save_checkpoint
    from microdualnet.model.config import make_config
    from microdualnet.model.network import MicroDualNet
    from microdualnet.synthetic.actions import ACTIONS, BACKGROUND_NAME

    names = class_names or [a.name for a in ACTIONS] + [BACKGROUND_NAME]
    torch.manual_seed(seed)
    model = MicroDualNet(make_config("demo", num_classes=len(names), frame_stride=3))
    return save_checkpoint(model, folder, fps=25.0, view=View("full"), class_names=names)


def model_workdir(tmp_path: Path, model: Path) -> Path:
    """A reduced workdir on the model path with a copy of `model` (model.train: false)."""
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         model={"train": False, "path": "model", "train_config": "unused.yaml",
                                "clips": "demo_data/clips", "clips_per_class": 1})
    shutil.copytree(model, wd / "model")
    return wd
