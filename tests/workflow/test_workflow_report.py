"""The demo run's reports (the workflow's HTML report and `snakemake --report`), reruns that
do nothing, and interrupted runs that restart to the same tables (truth mode: fast)."""

from __future__ import annotations

import base64
import html
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from workflow_testkit import (
    ROOT,
    SNAKEMAKE,
    final_tables,
    job_counts,
    reduced_workdir,
    run_snakemake,
    set_keys,
)

from analysis.tables import formatted

RESULTS = "results/demo"
# 12 participants per group and 20 s videos: enough for the planted differences to reach
# p < 0.05 (rows in Table V); in .test's 6 s videos the planted actions' 1-3 s events do not
# fit, so most are dropped and nothing differs.
PER_GROUP, SECONDS = 12, 20


def demo_workdir(tmp_path: Path) -> Path:
    wd = reduced_workdir(tmp_path)
    set_keys(wd, "demo", per_group=PER_GROUP, seconds=SECONDS)
    return wd


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wd = demo_workdir(tmp_path_factory.mktemp("demo_report"))
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    return wd


def test_report_html_holds_table_v_captions_and_only_the_plots(demo_run):
    text = (demo_run / RESULTS / "report.html").read_text()
    table = pd.read_csv(demo_run / RESULTS / "stats/table_v.tsv", sep="\t")
    assert len(table) > 0  # the check below must have rows to find
    for row in formatted(table).itertuples(index=False):
        cells = "".join(
            f'<td class="num">{html.escape(str(v))}</td>' if i >= 3
            else f"<td>{html.escape(str(v))}</td>" for i, v in enumerate(row))
        assert f"<tr>{cells}</tr>" in text, row
    # Captions: the caption files of workflow/report and the stages' own captions.
    for caption in ("Table V: pairwise group differences",
                    "Percent time by group for the analysed actions",
                    "Excluded participants and why", "Every hurdle-model test"):
        assert caption in text
    figure_caption = (demo_run / RESULTS / "figures/caption.md").read_text().strip()
    assert html.escape(figure_caption) in text
    assert "Pairwise group differences (p &lt; 0.05)" in text  # Table V's own caption
    assert "no participant was excluded" in text
    assert f"ASD n={PER_GROUP}, PSY n={PER_GROUP}, TDC n={PER_GROUP}" in text
    # Self-contained, and the only images are the run's plots (no video frames).
    assert "<script" not in text and not re.search(r"""src=["']?(https?:|file:)""", text)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', text)
    plots = {p.read_bytes() for p in (demo_run / RESULTS / "figures").glob("*.png")}
    bland_altman = {p.read_bytes()
                    for p in (demo_run / RESULTS / "agreement/figures").glob("*.png")}
    assert len(plots) == 11 and len(bland_altman) == 13  # overview + 10 violins; 13 actions
    assert len(images) == len(plots) + len(bland_altman)
    assert {base64.b64decode(i) for i in images} == plots | bland_altman


def test_report_compares_the_demo_coders(demo_run):
    """The demo's two synthetic coders (truth path: no model) agree as their noise allows."""
    text = (demo_run / RESULTS / "report.html").read_text()
    assert "<h2>Agreement with human coders</h2>" in text
    table = pd.read_csv(demo_run / RESULTS / "agreement/agreement.tsv", sep="\t")
    assert set(zip(table["reference"], table["compared"], strict=True)) == {("coder1", "coder2")}
    assert (table["n"] == 12).all()  # 12 coded participants, each in both coders' files
    # Jitter of 0.3 s, 10% missed and 0.5 extra events a minute: far from chance, short of 1.
    assert 0.5 < table["kappa"].median() < 0.95
    for row in table.itertuples():
        assert f"<td>{row.action}</td><td>coder2 vs coder1</td>" in text


def test_snakemake_report_builds_with_captions(demo_run, tmp_path):
    out = tmp_path / "snakemake_report.html"
    res = run_snakemake(demo_run, "--report", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    for name in ("table_v.tsv", "hurdle.tsv", "methods.md", "percent_time.tsv",
                 "overview.png", "report.html"):
        assert f"Adding {name}" in log
    text = out.read_text()
    assert "Table V: pairwise group differences" in text  # a result's caption
    assert "Micro-DualNet pipeline" in text  # the workflow description (report: directive)


def test_second_run_has_nothing_to_do(demo_run):
    res = run_snakemake(demo_run, "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stdout + res.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupted_run_restarts_to_identical_tables(demo_run, tmp_path, how):
    wd = demo_workdir(tmp_path)
    started = wd / RESULTS / "logs/stats.log"  # made by the stats job's shell as it starts
    with open(tmp_path / "first.log", "w") as log:
        # Default SIGINT handling in the child: a test run started in the background of a
        # non-interactive shell inherits SIGINT ignored, and Ctrl-C would then do nothing.
        proc = subprocess.Popen([*SNAKEMAKE, "--cores", "2", "--directory", str(wd)],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_default_sigint)
        deadline = time.monotonic() + 300
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if how == "ctrl-c":  # a terminal's Ctrl-C: Snakemake and its running job
            os.killpg(proc.pid, signal.SIGINT)
        else:  # `kill`, or a scheduler ending the main job: Snakemake only
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    first = (tmp_path / "first.log").read_text()
    assert proc.returncode != 0, first[-3000:]
    assert "Finished jobid" in first  # some jobs were done before the interruption
    assert not (wd / RESULTS / "report.html").exists()

    again = run_snakemake(wd)  # profiles/default brings --rerun-incomplete
    assert again.returncode == 0, again.stderr[-3000:]
    redone = job_counts(again.stdout + again.stderr)
    assert "demo_cohort" not in redone and "percent_time_from_truth" not in redone
    assert {"plots", "report"} <= set(redone)
    if how == "ctrl-c":
        assert "stats" in redone  # the job that was killed runs again
    assert final_tables(wd) == final_tables(demo_run)
