"""`model.gpus: N` makes the train job ask for N GPUs and start torchrun with N processes."""

import re

from workflow_testkit import reduced_workdir, run_snakemake


def test_train_job_with_two_gpus_runs_torchrun(tmp_path):
    wd = reduced_workdir(
        tmp_path, percent_time_source="model",
        model={"train": True, "path": "results/my model", "train_config": "train.yaml",
               "clips": "demo_data/clips", "clips_per_class": 1, "gpus": 2})
    (wd / "train.yaml").write_text("data: {root: demo_data/clips}\n")
    plan = run_snakemake(wd, "--dry-run", "--printshellcmds", "results/my model/model.json")
    assert plan.returncode == 0, plan.stderr[-3000:]
    log = plan.stdout + plan.stderr
    train_job = log[log.index("rule train:"):]
    assert re.search(r"^    resources: .*\bgpu=2\b", train_job, re.M), train_job[:1500]
    command = re.search(r"^Shell command: (.*)$", train_job, re.M).group(1)
    assert re.fullmatch(r"\S+ -m torch\.distributed\.run --standalone --nproc_per_node 2 "
                        r"-m microdualnet train --config train\.yaml --data-root \S+ "
                        r"--out 'results/my model' .*", command), command
