"""The full model path of the workflow: clips -> train -> pose -> infer -> aggregate -> stats."""

import pandas as pd
import yaml
from workflow_testkit import ROOT, reduced_workdir, run_snakemake


def test_model_path_runs_end_to_end(tmp_path):
    train_cfg = yaml.safe_load((ROOT / "configs/train_demo.yaml").read_text())
    train_cfg["optim"].update(epochs=1, batch_size=8)
    train_cfg["data"].update(cache=False, workers=0)
    (tmp_path / "train_tiny.yaml").write_text(yaml.safe_dump(train_cfg))
    wd = reduced_workdir(
        tmp_path, percent_time_source="model",
        model={"train": True, "path": "results/demo/model", "train_config": "train_tiny.yaml",
               "clips": "demo_data/clips", "clips_per_class": 1},
    )
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-4000:]
    meta = yaml.safe_load((wd / "results/demo/model/model.json").read_text())
    assert "no action" in str(meta)
    windows = pd.read_parquet(wd / "results/demo/windows/sub-001.parquet")
    assert {"start_s", "end_s", "valid"} <= set(windows.columns) and len(windows) > 0
    table = pd.read_csv(wd / "results/demo/percent_time.tsv", sep="\t")
    assert table["participant_id"].nunique() == 6
    per_participant = table.groupby("participant_id")["percent_time"].sum()
    assert (per_participant <= 100 + 1e-3).all()
    assert (wd / "results/demo/stats/table_v.md").is_file()
    assert (wd / "results/demo/figures/timeline/sub-006.png").is_file()

    # A removed model file makes Snakemake run train again, removing model.safetensors too:
    # the job continues the finished run and writes the same weights, training nothing.
    model = wd / "results/demo/model"
    weights = (model / "model.safetensors").read_bytes()
    (model / "model.json").unlink()
    again = run_snakemake(wd, "results/demo/model/model.json")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "resuming after epoch 1" in (wd / "results/demo/logs/train.log").read_text()
    assert (model / "model.safetensors").read_bytes() == weights
