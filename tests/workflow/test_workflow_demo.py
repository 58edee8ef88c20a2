"""The Snakemake workflow runs the (reduced) demo end to end and rejects bad configs up front."""

import shutil

import pandas as pd
import yaml
from workflow_testkit import ROOT, job_counts, reduced_workdir, run_snakemake, set_keys

from analysis.__main__ import main as analysis_main
from analysis.config import load_stats_config


def test_demo_runs_end_to_end_and_a_rerun_does_nothing(tmp_path):
    wd = reduced_workdir(tmp_path)
    set_keys(wd, "stats", robust_se="HC1")
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    # The run's settings for reruns by hand: a statistician who switches the preset there
    # gets the new preset's values, and the run's own override stays.
    written = yaml.safe_load((wd / "results/demo/stats/stats_config.yaml").read_text())["stats"]
    paper = load_stats_config({**written, "preset": "paper"})
    assert paper.overrides() == {"robust_se": {"preset": "HC0", "used": "HC1"}}
    table = pd.read_csv(wd / "results/demo/percent_time.tsv", sep="\t")
    # The truth path analyses the percent time the cohort was made with.
    truth = pd.read_csv(wd / "demo_data/cohort/truth_percent_time.tsv", sep="\t")
    pd.testing.assert_frame_equal(table, truth)
    assert table["participant_id"].nunique() == 6
    assert set(table["group"]) == {"ASD", "PSY", "TDC"}
    assert table["percent_time"].between(0, 100).all()
    assert (wd / "results/demo/benchmarks/demo_cohort.tsv").is_file()
    hurdle = pd.read_csv(wd / "results/demo/stats/hurdle.tsv", sep="\t")
    # Two participants per group: every test is reported, none as estimable.
    assert len(hurdle) == 10 * 2 * 3 and not hurdle["estimable"].any()
    assert (wd / "results/demo/stats/table_v.tex").is_file()
    assert (wd / "results/demo/figures/overview.png").stat().st_size > 10_000
    again = run_snakemake(wd)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr

    # docs/statistics.md: the results folder alone reruns the statistics, byte for byte.
    shutil.rmtree(wd / "demo_data")  # the study's folder: the sheet, with its video paths
    run = wd / "results/demo"
    assert analysis_main(["stats", "--percent-time", str(run / "percent_time.tsv"),
                          "--participants", str(run / "stats/participants_used.tsv"),
                          "--config", str(run / "stats/stats_config.yaml"),
                          "--out", str(wd / "rerun/stats")]) == 0
    assert analysis_main(["plots", "--percent-time", str(run / "percent_time.tsv"),
                          "--hurdle", str(wd / "rerun/stats/hurdle.tsv"),
                          "--config", str(run / "stats/stats_config.yaml"),
                          "--out", str(wd / "rerun/figures")]) == 0
    for name in ("stats/hurdle.tsv", "stats/table_v.tsv", "stats/table_v.md",
                 "stats/table_v.tex", "stats/methods.md", "stats/exclusions.tsv",
                 "stats/participants_used.tsv", "figures/caption.md", "figures/overview.png"):
        assert (wd / "rerun" / name).read_bytes() == (run / name).read_bytes(), name


def test_unknown_config_key_stops_before_any_job(tmp_path):
    wd = reduced_workdir(tmp_path, colour="blue")
    res = run_snakemake(wd)
    assert res.returncode != 0
    assert "colour" in res.stderr
    assert not (wd / "demo_data").exists()


def test_bad_stats_key_is_named_before_any_job(tmp_path):
    wd = reduced_workdir(tmp_path, stats={"alpha": 2})
    res = run_snakemake(wd)
    assert res.returncode != 0
    assert "stats.alpha" in res.stderr
    assert "config: invalid statistics config: stats.alpha: " in res.stdout + res.stderr
    assert not (wd / "demo_data").exists()


def test_the_demo_cohort_has_per_group_participants_in_each_group(tmp_path):
    """.test/config.yaml: 2 per group, 3 groups (ASD, PSY, TDC): 6 pose and infer jobs."""
    wd = reduced_workdir(tmp_path, percent_time_source="model")
    (wd / "configs").mkdir()
    shutil.copy(ROOT / "configs/train_demo.yaml", wd / "configs")  # the train job's input
    res = run_snakemake(wd, "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout + res.stderr)
    assert counts["pose"] == counts["infer"] == 6, counts


def test_a_window_or_hop_shorter_than_the_bins_stops_before_any_job(tmp_path):
    """aggregate counts percent time in 0.1-s bins, each inside the span a window is
    credited to: a shorter span would be refused only after every participant's inference."""
    wd = reduced_workdir(tmp_path, percent_time_source="model")
    set_keys(wd, "inference", hop_s=0.05, credit="view")
    res = run_snakemake(wd, "--dry-run")
    assert res.returncode != 0
    assert ("config inference.hop_s: 0.05 s is shorter than the 0.1 s bins percent time is "
            "counted in") in res.stdout + res.stderr
    assert not (wd / "demo_data").exists()
    set_keys(wd, "inference", credit="window")  # the whole 2-s window is credited
    (wd / "configs").mkdir()
    shutil.copy(ROOT / "configs/train_demo.yaml", wd / "configs")
    res = run_snakemake(wd, "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]
    set_keys(wd, "inference", hop_s=0.1, credit="view")  # a hop of one bin is enough
    res = run_snakemake(wd, "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]


def test_a_coder_named_model_stops_before_any_job(tmp_path):
    """The agreement table calls the model `model`: the agreement job would refuse such a
    coder only after every participant's inference."""
    wd = reduced_workdir(tmp_path, agreement={"coders": {"model": "config.yaml"},
                                              "mapping": "config.yaml"})
    res = run_snakemake(wd, "--dry-run")
    assert res.returncode != 0
    assert ("config agreement.coders: coder name 'model' is the agreement table's name for "
            "the model; rename the coder") in res.stdout + res.stderr
    assert not (wd / "demo_data").exists()
