"""The training loop on a tiny clip set: outputs, resume equivalence, bad clips, config."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from microdualnet.model.checkpoint import load_checkpoint
from microdualnet.training.config import load_config
from microdualnet.training.loop import train
from microdualnet.training.schedule import lr_at
from pipeio.errors import InputError

# Table I's columns (the paper's titles) and the metric each shows.
TABLE_I_COLUMNS = {"Body Top-1": "body_top1", "Action Top-1": "top1", "Action Top-5": "top5",
                   "Body F1 Macro": "f1_body_macro", "Body F1 Micro": "f1_body_micro",
                   "Action F1 Macro": "f1_action_macro", "Action F1 Micro": "f1_action_micro",
                   "F1_mean": "f1_mean"}


@pytest.fixture(scope="module")
def finished_run(tiny_clips, make_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "model"
    metrics = train(make_config(tiny_clips), out)
    return out, metrics


def test_outputs_of_a_run(finished_run):
    out, metrics = finished_run
    loaded = load_checkpoint(out)
    meta = loaded.meta
    assert meta["class_names"] == ["nodding", "covering face", "no action"]
    assert meta["body_map"] == [1, 5, -1] and meta["frames"] == 4
    assert meta["metrics"]["label_ids"] == [9, 45, 52]
    assert meta["metrics"]["eval_split"] == "test" and "f1_mean" in meta["metrics"]["test"]
    assert 1 <= meta["metrics"]["best_epoch"] <= 3
    for name in ("log.jsonl", "curves.png", "confusion.png", "per_class.tsv", "table_row.tsv",
                 "table_row.md", "metrics.json", "config.yaml", "state.pt"):
        assert (out / "training" / name).stat().st_size > 0, name
    rows = [json.loads(x) for x in (out / "training" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"train_loss", "train_mac", "val_top1", "val_f1_mean", "lr", "clips_per_s"} <= set(rows[0])
    # The kept model is the first epoch with the best validation F1_mean, and each row says
    # which epoch was best so far.
    scores = [r["val_f1_mean"] for r in rows]
    best = scores.index(max(scores))
    assert meta["metrics"]["best_epoch"] == rows[best]["epoch"] == rows[-1]["best_epoch"]
    assert [r["best_epoch"] for r in rows] == [
        rows[scores.index(max(scores[:i + 1]))]["epoch"] for i in range(len(rows))]
    val = meta["metrics"]["val"]
    assert {f"val_{k}" for k in val} - {"val_n"} <= set(rows[best])
    for key, value in val.items():
        if key != "n":
            assert rows[best][f"val_{key}"] == pytest.approx(value, abs=1e-4), key
    header, *body = (out / "training" / "table_row.tsv").read_text().splitlines()
    assert header.split("\t")[-1] == "F1_mean" and len(body) == 1
    assert float(body[0].split("\t")[-1]) == pytest.approx(metrics["test"]["f1_mean"], abs=0.01)
    row = dict(zip(header.split("\t"), body[0].split("\t"), strict=True))
    assert list(row)[1:] == list(TABLE_I_COLUMNS)
    for title, key in TABLE_I_COLUMNS.items():
        assert float(row[title]) == pytest.approx(metrics["test"][key], abs=0.005), title
    per_class = (out / "training" / "per_class.tsv").read_text().splitlines()
    assert per_class[1].startswith("0\t9\tnodding\t2\t")
    assert (out / "labels.tsv").read_text().splitlines()[3] == "2\t52\tno action\t-1"
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["step"] == "train" and prov["params"]["optim"]["epochs"] == 3
    assert any(p.endswith("train_list_videos.txt") for p in prov["inputs"])


def test_resume_gives_the_same_weights(finished_run, tiny_clips, make_config, tmp_path,
                                       capsys):
    out, _ = finished_run
    cfg = make_config(tiny_clips)
    part = tmp_path / "resumed"
    assert train(cfg, part, stop_after_epoch=1) == {"stopped_after_epoch": 1}
    assert not (part / "training" / "confusion.png").exists()
    first = (part / "training" / "log.jsonl").read_text().splitlines()
    capsys.readouterr()
    train(cfg, part)  # picks up after epoch 1 (not a fresh run that happens to agree)
    assert "resuming after epoch 1 from" in capsys.readouterr().err
    assert (part / "training" / "log.jsonl").read_text().splitlines()[0] == first[0]
    full = torch.load(out / "training" / "state.pt", weights_only=True)["model"]
    resumed = torch.load(part / "training" / "state.pt", weights_only=True)["model"]
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.equal(full[key], resumed[key]), key
    log = (part / "training" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in log] == [1, 2, 3]


def test_resume_refuses_a_changed_config(tiny_clips, make_config, tmp_path):
    train(make_config(tiny_clips, optim={"epochs": 1}), tmp_path)
    with pytest.raises(InputError, match=r"different config \(optim.epochs: 1 in the state, "
                                          r"2 now\); use --no-resume"):
        train(make_config(tiny_clips, optim={"epochs": 2, "lr": 0.5}), tmp_path)
    with pytest.raises(InputError, match=r"\(model.overrides.num_frames: 4 in the state, 6 "
                                          r"now\)"):
        train(make_config(tiny_clips, optim={"epochs": 1},
                          model={"overrides": {"num_frames": 6, "frame_stride": 2,
                                               "input_size": 48}}), tmp_path)


def test_resume_with_other_worker_counts(tiny_clips, make_config, tmp_path, capsys):
    """data.workers changes no model (augmentations are drawn per clip): a run resumes with
    another worker count, e.g. on a bigger machine."""
    train(make_config(tiny_clips, optim={"epochs": 1}), tmp_path)
    capsys.readouterr()
    train(make_config(tiny_clips, optim={"epochs": 1}, data={"workers": 1}), tmp_path)
    assert "resuming after epoch 1 from" in capsys.readouterr().err


def test_resume_with_the_data_root_written_another_way(tiny_clips, make_config, tmp_path,
                                                      capsys, monkeypatch):
    """The same dataset folder named relative to the working directory resumes; another
    folder does not."""
    out = tmp_path / "run"
    train(make_config(tiny_clips, optim={"epochs": 1}), out)
    monkeypatch.chdir(tiny_clips.parent)
    capsys.readouterr()
    train(make_config(Path(tiny_clips.name), optim={"epochs": 1}), out)
    assert "resuming after epoch 1 from" in capsys.readouterr().err
    other = Path(shutil.copytree(tiny_clips, tmp_path / "copy"))
    with pytest.raises(InputError, match=rf"\(data.root: '{tiny_clips}' in the state, "
                                         rf"'{other}' now\)"):
        train(make_config(other, optim={"epochs": 1}), out)


def test_no_resume_removes_the_previous_runs_model(tiny_clips, make_config, tmp_path, capsys):
    """--no-resume into a finished run's folder: interrupted, the folder used to keep the old
    run's model.safetensors/model.json (a "finished run") beside the new run's training/."""
    train(make_config(tiny_clips, optim={"epochs": 1}), tmp_path)
    assert (tmp_path / "model.json").is_file()
    capsys.readouterr()
    train(make_config(tiny_clips, optim={"epochs": 2, "lr": 0.5}), tmp_path, resume=False,
          stop_after_epoch=1)
    assert "starting over (--no-resume)" in capsys.readouterr().err
    assert not (tmp_path / "model.json").exists()
    assert not (tmp_path / "model.safetensors").exists()
    # the state is the new run's: the same command without --no-resume continues it
    train(make_config(tiny_clips, optim={"epochs": 2, "lr": 0.5}), tmp_path)
    assert "resuming after epoch 1 from" in capsys.readouterr().err
    assert (tmp_path / "model.json").is_file()


def test_bad_data_root_leaves_no_output_folder(make_config, tmp_path):
    with pytest.raises(InputError, match="dataset folder .* does not exist"):
        train(make_config(tmp_path / "nope"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_more_threads_than_cores_is_one_warning_line(capsys):
    import os

    from microdualnet.training.loop import warn_if_oversubscribed

    warn_if_oversubscribed("threads", 1)
    assert capsys.readouterr().err == ""
    warn_if_oversubscribed("threads", 10_000)
    cores = len(os.sched_getaffinity(0))
    assert capsys.readouterr().err == (f"warning: threads=10000 is more than the {cores} CPU "
                                       f"cores available; expect a slower run (at most {cores} "
                                       "is usually fastest)\n")


def test_clips_made_again_under_the_same_names_are_other_data(clips_copy, make_config,
                                                              tmp_path):
    """Clips rendered again (another frame rate, say) keep their names and lists; their
    files differ in size, and the run is not continued on them."""
    out = tmp_path / "model"
    cfg = make_config(clips_copy, optim={"epochs": 1})
    train(cfg, out)
    videos = sorted(clips_copy.rglob("*.mp4"), key=lambda v: v.stat().st_size)
    videos[0].write_bytes(videos[-1].read_bytes())  # same name, another clip's file
    with pytest.raises(InputError, match="other training data"):
        train(cfg, out)


def test_a_run_from_before_training_best_is_continued(finished_run, make_config, tiny_clips,
                                                       tmp_path, capsys):
    """A finished run written when the best epoch lived in the model folder itself (no
    training/best): continued from there, not refused or retrained."""
    out, metrics = finished_run
    copy = Path(shutil.copytree(out, tmp_path / "model"))
    shutil.rmtree(copy / "training/best")
    weights = (copy / "model.safetensors").read_bytes()
    capsys.readouterr()
    again = train(make_config(tiny_clips), copy)
    assert "resuming after epoch 3 from" in capsys.readouterr().err
    assert (copy / "training/best/model.safetensors").read_bytes() == weights
    assert (copy / "model.safetensors").read_bytes() == weights
    assert again["test"] == metrics["test"]


def test_the_workflow_asks_for_a_restart_through_the_environment(monkeypatch):
    from microdualnet.training.cli import RESTART_ENV, restart_from_env

    monkeypatch.delenv(RESTART_ENV, raising=False)
    assert not restart_from_env()
    monkeypatch.setenv(RESTART_ENV, "1")
    assert restart_from_env()
    workflow = (Path(__file__).resolve().parents[2] / "Snakefile").read_text()
    assert f"export {RESTART_ENV}=1;" in workflow


def test_the_model_folder_is_written_when_training_ends(tiny_clips, make_config, tmp_path):
    """While training runs the best epoch is kept under training/best; the model folder's
    own files appear at the end, so a model folder is never half a run."""
    out = tmp_path / "model"
    train(make_config(tiny_clips), out, stop_after_epoch=1)
    assert (out / "training/best/model.json").is_file()
    assert not (out / "model.json").exists() and not (out / "model.safetensors").exists()


def test_a_finished_run_whose_model_files_were_removed_writes_them_again(
        finished_run, make_config, tiny_clips, tmp_path, capsys):
    """Snakemake removes a job's outputs before it runs the job again (its code changed, say):
    the rerun continues the finished run and writes the same model, training nothing."""
    out, metrics = finished_run
    copy = Path(shutil.copytree(out, tmp_path / "model"))
    weights = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").unlink()
    (copy / "model.json").unlink()
    log = (copy / "training/log.jsonl").read_text()
    capsys.readouterr()
    again = train(make_config(tiny_clips), copy)
    assert "resuming after epoch 3 from" in capsys.readouterr().err
    assert (copy / "model.safetensors").read_bytes() == weights
    assert (copy / "training/log.jsonl").read_text() == log  # no epoch trained again
    assert again["test"] == metrics["test"]


def test_other_training_data_is_refused_or_restarts(clips_copy, make_config, tmp_path, capsys):
    """A resume state from other clips (the workflow's clips_per_class changed) is not
    continued: refused, or with restart_if_changed (the workflow) trained afresh."""
    out = tmp_path / "model"
    cfg = make_config(clips_copy, optim={"epochs": 1})
    train(cfg, out)
    listing = clips_copy / "train_list_videos.txt"
    listing.write_text("".join(listing.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(InputError, match=r"state.pt was written for other training data "
                       r"\(the split lists, label map, clip files' sizes or frame rate "
                       r"differ\); use --no-resume"):
        train(cfg, out)
    capsys.readouterr()
    train(cfg, out, restart_if_changed=True, stop_after_epoch=1)
    assert "starting over: " in capsys.readouterr().err
    # The old run's model is gone until this one ends: a model folder is a finished run.
    assert not (out / "model.json").exists()
    train(cfg, out, restart_if_changed=True)
    rows = [json.loads(x) for x in (out / "training/log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1]
    # A changed config restarts too under restart_if_changed.
    capsys.readouterr()
    train(make_config(clips_copy, optim={"epochs": 1, "lr": 0.5}), out, restart_if_changed=True)
    assert "different config (optim.lr: 0.02 in the state, 0.5 now)" in capsys.readouterr().err


def test_bad_clips_stop_the_run_or_are_skipped(clips_copy, make_config, damage, tmp_path,
                                               capsys):
    records = damage(clips_copy)
    with pytest.raises(InputError, match=r"unusable clips, more than data.max_bad_clips=2"):
        train(make_config(clips_copy, optim={"epochs": 1}, data={"max_bad_clips": 2}),
              tmp_path / "a")
    metrics = train(make_config(clips_copy, optim={"epochs": 1},
                                data={"max_bad_clips": 4, "workers": 1}), tmp_path / "b")
    assert metrics["bad_clips"] == 4
    err = capsys.readouterr().err
    assert any(line.startswith("skipping bad clip: ") and str(records[0].video) in line
               for line in err.splitlines())
    assert "Traceback" not in err


def test_schedule_warmup_then_cosine():
    kw = {"steps_per_epoch": 10, "epochs": 12, "lr": 0.01, "warmup_epochs": 2,
          "warmup_start_lr": 0.001}
    assert lr_at(0, **kw) == pytest.approx(0.001)
    assert lr_at(10, **kw) == pytest.approx(0.0055)
    assert lr_at(20, **kw) == pytest.approx(0.01)
    assert lr_at(70, **kw) == pytest.approx(0.005)
    assert lr_at(119, **kw) == pytest.approx(0.0, abs=1e-5)
    # A floor: warmup is unchanged, the cosine runs from lr down to min_lr and stays there.
    kw["min_lr"] = 0.002
    assert lr_at(0, **kw) == pytest.approx(0.001)  # warmup may start below the floor
    assert lr_at(10, **kw) == pytest.approx(0.0055)
    assert lr_at(20, **kw) == pytest.approx(0.01)
    assert lr_at(70, **kw) == pytest.approx(0.006)  # half way: (0.01 + 0.002) / 2
    assert lr_at(45, **kw) == pytest.approx(0.002 + 0.004 * (1 + math.cos(math.pi / 4)))
    assert lr_at(120, **kw) == pytest.approx(0.002)
    assert lr_at(500, **kw) == pytest.approx(0.002)


def test_config_file_errors_name_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\noptim: {epochs: 0}\n")
    with pytest.raises(InputError, match="key optim.epochs"):
        load_config(path)
    path.write_text("data: {root: x, cahce: true}\n")
    with pytest.raises(InputError, match="key data.cahce"):
        load_config(path)
    with pytest.raises(InputError, match=r"key data.cahce: unknown key \(known here: format, "
                                          r"root, .*cache"):
        load_config(path)
    path.write_text("data: {root: x}\nthread: 2\n")
    with pytest.raises(InputError, match=r"key thread: unknown key \(known here: .*threads"):
        load_config(path)
    path.write_text("data: {root: x}\n")
    cfg = load_config(path, ["optim.lr=0.5", "model.overrides.num_frames=4"])
    assert cfg.optim.lr == 0.5 and cfg.model.overrides == {"num_frames": 4}
    # YAML syntax errors (in the file or a --set value): one line naming line and column,
    # not PyYAML's several lines about "<unicode string>" (--set: a traceback)
    with pytest.raises(InputError, match=r"--set 'optim.lr=\[': the value is not valid YAML "
                                          r"\(line 1, column 2: ") as err:
        load_config(path, ["optim.lr=["])
    assert "\n" not in str(err.value)
    path.write_text("data:\n  root: x\n\toptim: 3\n")
    with pytest.raises(InputError, match=r"c.yaml: not valid YAML \(line 3, column 1: found "
                                          r"character '\\t'") as err:
        load_config(path)
    assert "\n" not in str(err.value) and "unicode string" not in str(err.value)


@pytest.mark.parametrize(("setting", "message"), [
    ("model.overrides.num_classes=5", r"model.overrides.num_classes: not settable \(the number "
                                      "of classes comes from the label map"),
    ("model.overrides.pixel_mean=[0,0,0]", r"model.overrides.pixel_mean: not settable \(the "
                                           "loaders normalise with ImageNet"),
    ("model.overrides.num_frames='8'", r"model config num_frames='8': expected a whole number"),
    # These ended in a torch traceback at the first forward pass, after the data had loaded.
    ("model.overrides.dropout=1.5", r"model config dropout=1.5: a dropout probability must "
                                    "be at least 0 and below 1"),
    ("model.overrides.global_proj_dim=0", r"model config global_proj_dim=0: expected a whole "
                                          "number of at least 1"),
    ("model.overrides.keypoint_threshold=2", r"model config keypoint_threshold=2: a "
                                             "confidence threshold must be between 0 and 1"),
])
def test_model_overrides_the_run_cannot_honour_are_refused(tmp_path, setting, message):
    """pixel_mean was recorded in a model folder that every reader then refused, after the
    whole training run; num_classes and wrong types ended in tracebacks."""
    from microdualnet.training.loop import model_config

    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\n")
    with pytest.raises(InputError, match=message):
        model_config(load_config(path, [setting]), num_classes=3)


def test_a_model_override_out_of_range_stops_when_the_config_is_read(tmp_path):
    """Before any data is loaded: `load_config` itself refuses it, naming the key."""
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\n")
    with pytest.raises(InputError, match=r"c.yaml: key model: model config dropout=1.5: a "
                       "dropout probability"):
        load_config(path, ["model.overrides.dropout=1.5"])
    with pytest.raises(InputError, match=r"key model: model config: unknown key 'dropuot'"):
        load_config(path, ["model.overrides.dropuot=0.1"])


def test_resume_state_that_is_not_ours_is_one_line_and_never_unpickled(tmp_path):
    from microdualnet.training.state import load_state

    torch.save({"model": InputError("not a tensor")}, tmp_path / "objects.pt")
    with pytest.raises(InputError, match=r"objects.pt: the resume state holds objects other "
                       "than tensors and numbers .* refused without loading them") as err:
        load_state(tmp_path / "objects.pt")
    assert "weights_only" not in str(err.value)
    for junk in (b"junk", b"\x80\x02junk" * 10):
        (tmp_path / "junk.pt").write_bytes(junk)
        with pytest.raises(InputError, match=r"junk.pt: unreadable resume state \(") as err:
            load_state(tmp_path / "junk.pt")
        assert "\n" not in str(err.value) and "weights_only" not in str(err.value)


def test_shipped_demo_config_is_valid():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "train_demo.yaml")
    assert cfg.model.preset == "demo" and cfg.data.cache


def test_shipped_paper_configs_use_the_paper_presets():
    from pathlib import Path

    from microdualnet.training.loop import model_config

    root = Path(__file__).resolve().parents[2] / "configs"
    ma52 = load_config(root / "train_paper_ma52.yaml")
    imigue = load_config(root / "train_paper_imigue.yaml")
    assert (ma52.model.preset, ma52.data.format, ma52.data.test_split) == (
        "paper-ma52", "ma52", None)
    assert (imigue.model.preset, imigue.data.format) == ("paper-imigue", "imigue")
    for cfg in (ma52, imigue):  # IV-B's optimiser
        o = cfg.optim
        assert (o.name, o.epochs, o.batch_size, o.lr, o.warmup_epochs, o.warmup_start_lr,
                o.momentum, o.weight_decay) == ("sgd", 120, 12, 0.01, 10, 0.001, 0.9, 5e-4)
    m = model_config(imigue, 32)
    assert (m.num_frames, m.frame_stride, m.num_entities, m.num_classes) == (16, 4, 5, 32)
    m = model_config(ma52, 52)
    assert (m.num_frames, m.frame_stride, m.num_entities) == (8, 8, 6)
    quick = load_config(root / "train_ablation_quick.yaml")
    assert quick.model.preset == "demo" and quick.device == "cpu"


def test_model_variant_is_checked_when_the_config_is_read(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\nmodel: {variant: ts-only+bogus}\n")
    with pytest.raises(InputError, match="key model.variant: unknown variant 'bogus' in "
                                         "'ts-only\\+bogus'; known: "):
        load_config(path)
    cfg = load_config(path, ["model.variant=ts-only + no-sem"])
    assert cfg.model.variant == "ts-only+no-sem"


def test_dummy_test_labels_are_refused_before_training(clips_copy, make_config, tmp_path):
    """MA-52's public test list labels every clip 0: its 'test scores' would measure nothing."""
    listing = clips_copy / "test_list_videos.txt"
    listing.write_text("".join(f"{line.split()[0]} 9\n"
                               for line in listing.read_text().splitlines()))
    with pytest.raises(InputError, match=rf"^{listing}: all 6 clips carry label 9 "
                                         r"\('nodding'\), as MA-52's public test labels do "
                                         r"\(dummies\); set data.test_split to a split with "
                                         r"real labels \(null: the test scores are val's\)$"):
        train(make_config(clips_copy, optim={"epochs": 1}), tmp_path / "run")
    assert not (tmp_path / "run" / "training").exists()
    metrics = train(make_config(clips_copy, optim={"epochs": 1}, data={"test_split": None}),
                    tmp_path / "ok")
    assert (tmp_path / "ok" / "model.json").is_file() and metrics["eval_split"] == "val"
