"""The ablation runner: several variants (or a paper table's rows) on the same data, one table."""

from __future__ import annotations

import json

import pytest

from microdualnet.model.config import parse_variant
from microdualnet.training.ablation import run_ablation, run_table
from microdualnet.training.paper_tables import TABLES
from pipeio.errors import InputError

# Table I's columns (the paper's titles) and the metric each shows.
TABLE_I_COLUMNS = {"Body Top-1": "body_top1", "Action Top-1": "top1", "Action Top-5": "top5",
                   "Body F1 Macro": "f1_body_macro", "Body F1 Micro": "f1_body_micro",
                   "Action F1 Macro": "f1_action_macro", "Action F1 Micro": "f1_action_micro",
                   "F1_mean": "f1_mean"}


def test_ablation_table(tiny_clips, make_config, tmp_path):
    cfg = make_config(tiny_clips, optim={"epochs": 2})
    md = run_ablation(cfg, tmp_path, ["full", "pose-only", "rgb-only"])
    lines = md.splitlines()
    assert lines[0].startswith("| Variant | Body Top-1 | Action Top-1")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| full", "| pose-only", "| rgb-only"]
    tsv = (tmp_path / "ablation.tsv").read_text().splitlines()
    assert len(tsv) == 4 and tsv[0].endswith("F1_mean")
    for variant in ("full", "pose-only", "rgb-only"):
        assert (tmp_path / variant / "model.safetensors").is_file()
    # Each row holds its own run's numbers, column by column.
    header = tsv[0].split("\t")
    assert header == ["Variant", *TABLE_I_COLUMNS]
    shown = {}
    for line in tsv[1:]:
        name, *values = line.split("\t")
        result = json.loads((tmp_path / name / "training" / "metrics.json").read_text())
        metrics = result[result["eval_split"]]
        shown[name] = values
        for title, value in zip(header[1:], values, strict=True):
            assert value == f"{metrics[TABLE_I_COLUMNS[title]]:.2f}", (name, title)
    assert len({tuple(v) for v in shown.values()}) > 1  # the runs differ: rows can be told apart
    record = json.loads((tmp_path / "ablation.provenance.json").read_text())
    assert record["step"] == "train-ablation"
    assert record["params"]["variants"] == ["full", "pose-only", "rgb-only"]
    assert record["params"]["config"]["optim"]["epochs"] == 2
    assert sorted(record["inputs"]) == sorted(
        str(tmp_path / v / "training" / "metrics.json") for v in ("full", "pose-only", "rgb-only"))
    # A second call reuses the finished runs (their resume state is complete).
    before = (tmp_path / "full" / "training" / "log.jsonl").read_text()
    run_ablation(cfg, tmp_path, ["full"])
    assert (tmp_path / "full" / "training" / "log.jsonl").read_text() == before


def test_unknown_variant(tiny_clips, make_config, tmp_path):
    with pytest.raises(InputError, match="unknown variant 'no-such' in 'ts-only\\+no-such'; "
                                         "known: avg-pool, centre-crop"):
        run_ablation(make_config(tiny_clips), tmp_path, ["full", "ts-only+no-such"])
    assert not (tmp_path / "full").exists()  # every spec is checked before any training


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


def test_table_rows_beside_the_papers_numbers(tiny_clips, make_config, tmp_path):
    cfg = make_config(tiny_clips, optim={"epochs": 1})
    md = run_table(cfg, tmp_path, "iv-mac")  # any letter case
    lines = md.splitlines()
    assert lines[0].startswith("Table IV (temporal modelling and frame sampling): MAC "
                               "granularity: ours trained on ")
    assert "(MA-52) typed in from the paper" in lines[0]
    assert lines[2] == ("| Paper row | Variant | ours (test) Top-1 | ours (test) F1_mean | "
                        "paper (MA-52) Top-1 | paper (MA-52) F1_mean |")
    frame, video = (line.split(" | ") for line in lines[4:])
    assert frame[0] == "| Entity temporal granularity: Frame-level MAC"
    assert frame[1] == "frame-mac" and frame[4:] == ["62.7", "65.7 |"]
    assert video[1] == "full" and video[4:] == ["65.1", "68.7 |"]
    assert (tmp_path / "frame-mac" / "model.json").is_file()
    assert json.loads((tmp_path / "frame-mac" / "model.json").read_text())["config"][
        "mac_level"] == "frame"
    tsv = (tmp_path / "ablation.tsv").read_text().splitlines()
    assert len(tsv) == 3 and tsv[0].split("\t")[:2] == ["Paper row", "Variant"]
    assert json.loads((tmp_path / "ablation.provenance.json").read_text())["params"][
        "table"] == "iv-mac"


def test_rows_with_the_same_model_share_one_run(tiny_clips, make_config, tmp_path):
    cfg = make_config(tiny_clips, optim={"epochs": 1})  # 4 frames at stride 2
    md = run_ablation(cfg, tmp_path, ["full", "frames-4"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["full"]
    full, frames = md.splitlines()[2:]
    assert full.split(" | ")[1:] == frames.split(" | ")[1:]


def test_paper_tables_are_complete():
    assert list(TABLES) == ["I", "II", "III", "IV", "IV-frames", "IV-aggregation", "IV-mac"]
    assert len(TABLES["II"].rows) == 7 and len(TABLES["IV"].rows) == 11
    for table in TABLES.values():
        for row in table.rows:
            parse_variant(row.variant)
            assert len(row.paper) == len(table.columns)
    assert [r.variant for r in TABLES["IV-frames"].rows] == [
        "frames-4", "frames-8", "frames-16", "frames-32"]


def test_unknown_table(tiny_clips, make_config, tmp_path, capsys):
    from microdualnet.cli import main

    with pytest.raises(InputError, match="unknown table 'V'; known: I, II, III, IV, "
                                         "IV-frames, IV-aggregation, IV-mac"):
        run_table(make_config(tiny_clips), tmp_path, "V")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {root: x}\n")
    assert main(["train-ablation", "--config", str(cfg), "--out", str(tmp_path / "o"),
                 "--table", "V"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown table 'V'; known: I, II") and err.count("\n") == 1
    assert main(["train-ablation", "--config", str(cfg), "--out", str(tmp_path / "o"),
                 "--variants", "full,ts-only+bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown variant 'bogus' in 'ts-only+bogus'; known: ")
    assert err.count("\n") == 1


def test_table_ii_trains_every_row(tiny_clips, make_config, tmp_path):
    """Every Table II model goes through the real training loop and lands in the table."""
    md = run_table(make_config(tiny_clips, optim={"epochs": 1}), tmp_path, "II")
    rows = [line.split(" | ")[:2] for line in md.splitlines()[4:]]
    assert rows == [["| " + r.label, r.variant] for r in TABLES["II"].rows]
    configs = {r.variant: json.loads((tmp_path / r.variant / "model.json").read_text())
               for r in TABLES["II"].rows}
    base, no_sem = configs["tsm-baseline"], configs["ts-only+no-sem"]
    assert base["config"]["paths"] == "none" and base["entities"] == []
    assert no_sem["config"]["entity_source"] == "frame" and no_sem["entities"] == ["frame"]
    assert configs["no-mac+no-routing"]["config"]["fusion"] == "average"


def test_paper_table_text_by_hand():
    """The table text from given results: the evaluated split in the headings, our numbers
    to 2 decimals, the paper's to the table's own, "-" where the paper gives none, and
    F1_mean only when every run has it."""
    from microdualnet.training.ablation import paper_table_text
    from microdualnet.training.paper_tables import (
        IMIGUE_TOP1,
        MA52_TOP1,
        PaperRow,
        PaperTable,
    )

    table = PaperTable("X", "Table X", (MA52_TOP1, IMIGUE_TOP1), (
        PaperRow("Row A", "full", (61.25, None)),
        PaperRow("Row B", "pose-only", (60.0, 70.456)),
    ))
    with_f1 = [("val", {"top1": 50.0, "f1_mean": 40.126}),
               ("val", {"top1": 12.3456, "f1_mean": 7.0})]
    tsv, md = paper_table_text(table, with_f1, "data/x (ma52 layout)")
    assert tsv == ("Paper row\tVariant\tours (val) Top-1\tours (val) F1_mean\t"
                   "paper (MA-52) Top-1\tpaper (iMiGUE) Top-1\n"
                   "Row A\tfull\t50.00\t40.13\t61.25\t-\n"
                   "Row B\tpose-only\t12.35\t7.00\t60.00\t70.46\n")
    assert md.splitlines()[0] == (
        "Table X: ours trained on data/x (ma52 layout), evaluated on its val split; the "
        "paper's numbers (MA-52, iMiGUE) typed in from the paper, in percent.")
    assert md.splitlines()[4] == "| Row A | full | 50.00 | 40.13 | 61.25 | - |"
    one_without = [("test", {"top1": 50.0, "f1_mean": 40.0}), ("test", {"top1": 10.0})]
    tsv, _ = paper_table_text(table, one_without, "d")
    assert tsv.splitlines()[0].split("\t")[2:4] == ["ours (test) Top-1", "paper (MA-52) Top-1"]
    assert tsv.splitlines()[1] == "Row A\tfull\t50.00\t61.25\t-"
    # Tables I and II print the paper's numbers with 2 decimals, III and IV with 1.
    assert [TABLES[n].decimals for n in ("I", "II", "III", "IV")] == [2, 2, 1, 1]


def test_each_distinct_model_is_trained_once_and_reported_on_its_split(make_config, tmp_path,
                                                                        monkeypatch):
    """train() replaced by a recorder: one run per distinct model, named after its spec in
    canonical form, and each row reports the split that run evaluated (val here)."""
    from microdualnet.training import ablation
    from microdualnet.training.paper_tables import get_table

    calls = []

    def fake_train(cfg, out):
        calls.append((cfg.name, cfg.model.variant, out))
        out.joinpath("training").mkdir(parents=True)
        out.joinpath("training", "metrics.json").write_text("{}")
        score = 10.0 * len(calls)
        return {"eval_split": "val", "val": {"top1": score, "top5": score + 1},
                "test": {"top1": -1.0, "top5": -1.0}}

    monkeypatch.setattr(ablation, "train", fake_train)
    cfg = make_config(tmp_path, optim={"epochs": 1})  # 4 frames at stride 2: frames-4 is full
    md = ablation.run_ablation(cfg, tmp_path, ["ts-only + no-sem", "frames-4", "full"])
    assert calls == [("ts-only+no-sem", "ts-only+no-sem", tmp_path / "ts-only+no-sem"),
                     ("frames-4", "frames-4", tmp_path / "frames-4")]
    rows = [line.split(" | ") for line in md.splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [("| ts-only+no-sem", "10.00"), ("| frames-4", "20.00"),
                                           ("| full", "20.00")]
    record = json.loads((tmp_path / "ablation.provenance.json").read_text())
    assert sorted(record["inputs"]) == sorted(
        str(tmp_path / v / "training" / "metrics.json") for v in ("ts-only+no-sem", "frames-4"))
    # A paper table by any spelling of its name, its rows on the split that was evaluated.
    calls.clear()
    md = ablation.run_table(cfg, tmp_path / "t", " iv-MAC ")
    assert get_table(" iv-MAC ") is TABLES["IV-mac"]
    assert [c[1] for c in calls] == ["frame-mac", "full"]
    assert f"ours trained on {tmp_path} (ma52 layout), evaluated on its val split" in md
    assert md.splitlines()[2].startswith("| Paper row | Variant | ours (val) Top-1 | paper ")
    assert md.splitlines()[4].split(" | ")[2] == "10.00"
