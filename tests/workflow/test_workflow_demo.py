"""The Snakemake workflow runs the (reduced) demo end to end and rejects bad configs up front."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _workdir(tmp_path: Path, **overrides) -> Path:
    """A copy of the workflow files with a reduced demo config."""
    for name in ("Snakefile", "workflow"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["demo"].update(per_group=2, seconds=6, fps=8, width=64, height=48)
    cfg.update(overrides)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def _run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--cores", "2", "--directory", str(workdir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_demo_runs_end_to_end_and_a_rerun_does_nothing(tmp_path):
    wd = _workdir(tmp_path)
    res = _run(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    table = pd.read_csv(wd / "results/demo/percent_time.tsv", sep="\t")
    assert table["participant_id"].nunique() == 6
    assert set(table["group"]) == {"ASD", "PSY", "TDC"}
    assert table["percent_time"].between(0, 100).all()
    assert (wd / "results/demo/benchmarks/demo_cohort.tsv").is_file()
    hurdle = pd.read_csv(wd / "results/demo/stats/hurdle.tsv", sep="\t")
    # Two participants per group: every test is reported, none as estimable.
    assert len(hurdle) == 10 * 2 * 3 and not hurdle["estimable"].any()
    assert (wd / "results/demo/stats/table_v.tex").is_file()
    assert (wd / "results/demo/figures/overview.png").stat().st_size > 10_000
    again = _run(wd)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_unknown_config_key_stops_before_any_job(tmp_path):
    wd = _workdir(tmp_path, colour="blue")
    res = _run(wd)
    assert res.returncode != 0
    assert "colour" in res.stderr
    assert not (wd / "demo_data").exists()


def test_bad_stats_key_is_named_before_any_job(tmp_path):
    wd = _workdir(tmp_path, stats={"alpha": 2})
    res = _run(wd)
    assert res.returncode != 0
    assert "stats.alpha" in res.stderr
    assert not (wd / "demo_data").exists()
