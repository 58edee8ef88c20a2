"""The ablation runner: several variants on the same data, one results table."""

from __future__ import annotations

import pytest

from microdualnet.training.ablation import run_ablation
from pipeio.errors import InputError


def test_ablation_table(tiny_clips, make_config, tmp_path):
    cfg = make_config(tiny_clips, optim={"epochs": 1})
    md = run_ablation(cfg, tmp_path, ["full", "pose-only", "rgb-only"])
    lines = md.splitlines()
    assert lines[0].startswith("| Variant | Body Top-1 | Action Top-1")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| full", "| pose-only", "| rgb-only"]
    tsv = (tmp_path / "ablation.tsv").read_text().splitlines()
    assert len(tsv) == 4 and tsv[0].endswith("F1_mean")
    for variant in ("full", "pose-only", "rgb-only"):
        assert (tmp_path / variant / "model.safetensors").is_file()
    # A second call reuses the finished runs (their resume state is complete).
    before = (tmp_path / "full" / "training" / "log.jsonl").read_text()
    run_ablation(cfg, tmp_path, ["full"])
    assert (tmp_path / "full" / "training" / "log.jsonl").read_text() == before


def test_unknown_variant(tiny_clips, make_config, tmp_path):
    with pytest.raises(InputError, match="unknown variant 'no-sem'"):
        run_ablation(make_config(tiny_clips), tmp_path, ["full", "no-sem"])


def test_cli_train_and_error_exit(tiny_clips, tmp_path, capsys):
    from microdualnet.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "progress: false\nthreads: 1\ndevice: cpu\n"
        "data: {root: x, workers: 0}\n"
        "model: {preset: demo, overrides: {num_frames: 4, frame_stride: 2, input_size: 48}}\n"
        "optim: {epochs: 1, batch_size: 4}\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "m"),
                 "--data-root", str(tiny_clips)]) == 0
    assert "test: Top-1" in capsys.readouterr().out
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "n")]) == 2
    assert "error: dataset folder x does not exist" in capsys.readouterr().err
