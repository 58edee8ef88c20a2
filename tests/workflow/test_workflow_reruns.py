"""Edits that must rerun what depends on them, where Snakemake's own checks (file times,
checksums of small files, parameters) would miss them: a result that depends on an edit is
never kept as if current."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_testkit import (
    ROOT,
    job_counts,
    make_random_model,
    model_workdir,
    reduced_workdir,
    run_snakemake,
    set_keys,
)

from microdualnet.cli import main

MODEL_JSON = "results/demo/model/model.json"


def _tiny_train_config(folder: Path) -> str:
    """The demo's training config cut to one epoch (the tests need a trained model's record,
    not a good model)."""
    cfg = yaml.safe_load((ROOT / "configs/train_demo.yaml").read_text())
    cfg["optim"].update(epochs=1, batch_size=8)
    cfg["data"].update(cache=False, workers=0)
    (folder / "train_tiny.yaml").write_text(yaml.safe_dump(cfg))
    return "train_tiny.yaml"


def _plan(wd: Path, *targets: str) -> dict[str, int]:
    plan = run_snakemake(wd, "--dry-run", *targets)
    log = plan.stdout + plan.stderr
    assert plan.returncode == 0, log[-3000:]
    return {} if "Nothing to be done" in log else job_counts(log)


def _run(wd: Path, *targets: str) -> subprocess.CompletedProcess:
    res = run_snakemake(wd, *targets)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    return res


def test_the_demo_reads_its_own_openpose_output_wherever_demo_out_points(tmp_path):
    """pose.openpose_dir is ignored with the demo (as `participants` is): another demo.out
    must not read the OpenPose JSON a cohort made earlier left in the old folder."""
    wd = reduced_workdir(tmp_path, percent_time_source="model")
    set_keys(wd, "demo", out="demo_data/elsewhere")
    res = run_snakemake(wd, "--dry-run", "--printshellcmds", "results/demo/pose/sub-001.npz")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    pose = [line for line in out.splitlines() if " -m microdualnet pose " in line]
    assert len(pose) == 1, out[-3000:]
    assert "--openpose-dir demo_data/elsewhere/openpose/sub-001 " in pose[0], pose[0]


def test_demo_clips_remade_by_a_run_stopped_before_train_still_train_again(tmp_path):
    """Another demo.width remakes the clips, whose lists stay the same: a run stopped between
    demo_clips and train (Ctrl-C) left a model of the old clips that must not count as
    current. The clip options (synth_config.json) are an input of train."""
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         model={"train": True, "path": "results/demo/model",
                                "train_config": _tiny_train_config(tmp_path),
                                "clips": "demo_data/clips", "clips_per_class": 1})
    _run(wd, MODEL_JSON)
    assert _plan(wd, MODEL_JSON) == {}
    set_keys(wd, "demo", width=80)
    _run(wd, "demo_data/clips/label_map.tsv")  # the clips alone, as a stopped run leaves them
    assert _plan(wd, MODEL_JSON) == {"train": 1}


def test_a_study_clip_list_corrected_in_place_trains_again(tmp_path):
    """model.train with a study's own clip folder: a split list rewritten in place leaves the
    folder's own time, all Snakemake compares for a folder, alone."""
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         model={"train": True, "path": "model",
                                "train_config": _tiny_train_config(tmp_path),
                                "clips": "clips", "clips_per_class": 1})
    assert main(["synth", "cohort", "--out", str(wd / "study"), "--per-group", "1",
                 "--seconds", "6", "--fps", "8", "--width", "64", "--height", "48",
                 "--workers", "1"]) == 0
    assert main(["synth", "clips", "--out", str(wd / "clips"), "--train-per-class", "1",
                 "--val-per-class", "1", "--test-per-class", "1", "--fps", "8",
                 "--width", "64", "--height", "48", "--workers", "1"]) == 0
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg["participants"] = "study/participants.tsv"
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    _run(wd, "model/model.json")
    assert _plan(wd, "model/model.json") == {}
    folder = wd / "clips"
    kept = folder.stat()
    listing = folder / "train_list_videos.txt"
    lines = listing.read_text().splitlines(keepends=True)
    listing.write_text("".join(lines[:-1]))  # a clip taken out of training, in place
    os.utime(folder, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert _plan(wd, "model/model.json") == {"train": 1}


def test_swapping_the_demo_width_and_height_remakes_the_cohort(tmp_path):
    """Snakemake compares a rule's parameter values sorted and without their names, so 64x48
    turned into 48x64 as two parameters would keep the old videos as current."""
    wd = reduced_workdir(tmp_path)
    sheet = "demo_data/cohort/participants.tsv"
    _run(wd, sheet)
    assert _plan(wd, sheet) == {}
    set_keys(wd, "demo", width=48, height=64)
    assert _plan(wd, sheet) == {"demo_cohort": 1}


def test_a_larger_demo_cohort_is_remade_on_the_truth_path(tmp_path):
    """demo.per_group 2 -> 3 adds videos Snakemake has no record of, and for a job with such
    an output it checks no parameter: unless the truth path asks for the videos, nothing is
    missing and the statistics and the coders' agreement run on the old cohort."""
    wd = reduced_workdir(tmp_path)  # the truth path, with the demo's coders
    _run(wd)
    assert _plan(wd) == {}
    set_keys(wd, "demo", per_group=3)
    plan = _plan(wd)
    assert {name: plan.get(name) for name in ("demo_cohort", "percent_time_from_truth",
                                              "demo_coders", "stats", "report")} == {
        "demo_cohort": 1, "percent_time_from_truth": 1, "demo_coders": 1, "stats": 1,
        "report": 1}
    assert _plan(wd, "results/demo/agreement/agreement.tsv") == {
        "demo_cohort": 1, "demo_coders": 1, "agreement": 1}


def test_batch_size_and_device_rerun_no_inference_but_window_s_does(tmp_path):
    """How an infer job runs (windows per forward pass, CPU or GPU) changes no number of its
    windows file beyond float32 rounding: tuning it for a cluster's GPUs must not rerun the
    cohort's inference. The windows file's provenance records what the job used."""
    wd = model_workdir(tmp_path, make_random_model(tmp_path / "random" / "demo"))
    set_keys(wd, "inference", batch_size=5, device="cpu")
    windows = "results/demo/windows/sub-001.parquet"
    _run(wd, windows)
    record = json.loads((wd / (windows + ".provenance.json")).read_text())
    assert (record["params"]["batch_size"], record["params"]["device"]) == (5, "cpu")
    set_keys(wd, "inference", batch_size=64, device="auto")
    assert _plan(wd, windows) == {}
    set_keys(wd, "inference", window_s=3.0)
    assert _plan(wd, windows) == {"infer": 1}


def test_a_trained_model_kept_as_it_is_reruns_inference_until_marked_current(tmp_path):
    """model.train: true -> false with model.path still the trained model: its files were an
    input of infer, its digest is now a parameter, so infer reruns (same bytes); `--touch` on
    the windows (docs/workflow.md) records the digest, so a model replaced later, even with
    older times, still reruns them."""
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         model={"train": True, "path": "results/demo/model",
                                "train_config": "train.yaml", "clips": "demo_data/clips",
                                "clips_per_class": 1})
    (wd / "train.yaml").write_text("data: {root: demo_data/clips}\n")
    _run(wd, "demo_data/clips/label_map.tsv")
    make_random_model(wd / "results/demo/model")
    _run(wd, "--touch", MODEL_JSON)  # as if train had written it
    windows = "results/demo/windows/sub-001.parquet"
    _run(wd, windows)
    set_keys(wd, "model", train=False)
    assert _plan(wd, windows) == {"infer": 1}
    _run(wd, "--touch", windows)
    assert _plan(wd, windows) == {}
    weights = wd / "results/demo/model/model.safetensors"
    kept = weights.stat()
    make_random_model(tmp_path / "other", seed=1)
    weights.write_bytes((tmp_path / "other/model.safetensors").read_bytes())
    os.utime(weights, ns=(kept.st_atime_ns, kept.st_mtime_ns - 10**12))
    assert _plan(wd, windows) == {"infer": 1}


def test_no_rule_passes_two_plain_numbers_as_separate_parameters(tmp_path):
    """The rule-level guard behind the test above: numbers a rule takes from the config travel
    as one mapping (whose keys Snakemake records), so no two of them can trade values
    unnoticed. Strings are left: every plain string parameter has its own kind of value
    (a backend name, a flag list, a path)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    wd = reduced_workdir(tmp_path, percent_time_source="model")
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1), snakefile=ROOT / "Snakefile",
            workdir=wd, config_settings=ConfigSettings(configfiles=[wd / "config.yaml"]))
        rules = {rule.name: [name for name, value in rule.params._allitems()
                             if name and isinstance(value, (int, float))]
                 for rule in workflow._workflow.rules}
    assert {"demo_cohort", "demo_clips", "infer", "pose"} <= set(rules)
    assert {name: numbers for name, numbers in rules.items() if len(numbers) > 1} == {}


@pytest.mark.parametrize("source, writer", [("model", "aggregate"),
                                            ("truth", "percent_time_from_truth")])
def test_one_rule_can_write_percent_time(tmp_path, source, writer):
    """On the model path only aggregate can write percent_time.tsv: a second rule that could
    would be Snakemake's way round an aggregate input it cannot make (a study's missing
    training clips once planned the demo cohort and analysed its true percent time as the
    study's, with no error)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    wd = reduced_workdir(tmp_path, percent_time_source=source)
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1), snakefile=ROOT / "Snakefile",
            workdir=wd, config_settings=ConfigSettings(configfiles=[wd / "config.yaml"]))
        writers = {rule.name for rule in workflow._workflow.rules
                   if any(str(out).endswith("/percent_time.tsv") for out in rule.output)}
    # aggregate stays defined on the truth path, where ruleorder prefers the truth.
    expected = {writer} if source == "model" else {"aggregate", writer}
    assert writers == expected
