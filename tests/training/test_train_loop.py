"""The training loop on a tiny clip set: outputs, resume equivalence, bad clips, config."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

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
    # the training time reported is that of all 3 epochs; the provenance records it, the
    # model folder does not (a rerun of the config would otherwise be another model)
    assert metrics["train_seconds"] == pytest.approx(sum(r["seconds"] for r in rows), abs=0.051)
    assert json.loads((out / "provenance.json").read_text())["run"]["train_seconds"] == (
        metrics["train_seconds"])
    assert "train_seconds" not in meta["metrics"]
    assert json.loads((out / "training" / "metrics.json").read_text()) == meta["metrics"]
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
    assert row["Method"] == "micro-dualnet (test)"  # the config's name and the split scored
    for title, key in TABLE_I_COLUMNS.items():
        assert float(row[title]) == pytest.approx(metrics["test"][key], abs=0.005), title
    per_class = (out / "training" / "per_class.tsv").read_text().splitlines()
    assert per_class[1].startswith("0\t9\tnodding\t2\t")
    assert (out / "labels.tsv").read_text().splitlines()[3] == "2\t52\tno action\t-1"
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["step"] == "train" and prov["params"]["optim"]["epochs"] == 3
    assert any(p.endswith("train_list_videos.txt") for p in prov["inputs"])
    # what the config does not fix: the device and AMP used, each session's code, the data
    run = prov["run"]
    assert (run["device"], run["amp"], run["processes"], run["epochs_run"]) == ("cpu", False,
                                                                                1, 3)
    assert [x["first_epoch"] for x in run["sessions"]] == [1]
    assert run["clips"] == {"train": 12, "val": 6, "test": 6} and run["fps"] == 8.0
    assert run["data_digest"] == torch.load(out / "training/state.pt",
                                            weights_only=True)["data"]


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
    # The model folder is the same file for file: the windows files' model digest is too.
    for name in ("model.safetensors", "model.json"):
        assert (part / name).read_bytes() == (out / name).read_bytes(), name
    log = (part / "training" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in log] == [1, 2, 3]
    # the provenance says the run was made in two sessions (which could run other code)
    prov = json.loads((part / "provenance.json").read_text())
    assert [x["first_epoch"] for x in prov["run"]["sessions"]] == [1, 2]


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
    # Nor do the progress bar and the thread count (threads: null leaves torch's as it is).
    train(make_config(tiny_clips, optim={"epochs": 1}, progress=True, threads=None), tmp_path)
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
    warn_if_oversubscribed("threads", len(os.sched_getaffinity(0)))  # one per core: fine
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


def test_clips_at_another_frame_rate_are_other_data(clips_copy, make_config, tmp_path,
                                                   monkeypatch):
    """The clips' measured rate is part of what the resume state was trained on: the same
    files measured at another rate (re-encoded to the same sizes) are not continued."""
    from microdualnet.training import loop

    out = tmp_path / "model"
    cfg = make_config(clips_copy, optim={"epochs": 1})
    train(cfg, out)
    measured = loop.training_fps
    monkeypatch.setattr(loop, "training_fps", lambda records: 2 * measured(records))
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
    # Continued after its last epoch (the model files rewritten), it still counts them.
    (tmp_path / "b" / "model.json").unlink()
    assert train(make_config(clips_copy, optim={"epochs": 1},
                             data={"max_bad_clips": 4, "workers": 1}),
                 tmp_path / "b")["bad_clips"] == 4
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
    path.write_text("# to be filled in\n")  # empty: the keys it lacks, as for any other
    with pytest.raises(InputError, match=r"c.yaml: key data: Field required$"):
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
    with pytest.raises(InputError, match=r"c.yaml is not valid YAML \(line 3, column 1: found "
                                          r"character '\\t'") as err:
        load_config(path)
    assert "\n" not in str(err.value) and "unicode string" not in str(err.value)
    path.write_bytes(b"name: Caf\xe9 run\ndata: {root: x}\n")  # Latin-1: was a traceback
    with pytest.raises(InputError, match=r"^training config .*c.yaml: line 1, column 10: byte "
                                          "0xe9 is not UTF-8 text; save the file as UTF-8$"):
        load_config(path)
    path.write_text("data: {root: x}\noptim: {lr: 0.1}\nseed: 1\noptim: {epochs: 3}\n")
    with pytest.raises(InputError, match=r"^training config .*c.yaml, line 4: 'optim' is given "
                                          r"twice \(also on line 2\)"):
        load_config(path)  # PyYAML alone would drop lr: 0.1 without a word


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
    # scored on val, which also chose the epoch: the Table I row says so
    row = (tmp_path / "ok" / "training" / "table_row.tsv").read_text().splitlines()[1]
    assert row.startswith("micro-dualnet (val)\t")


def test_config_defaults_are_the_documented_ones(tmp_path):
    """docs/training.md's table of defaults (the paper's IV-B optimiser) is what a config
    that sets only data.root gets."""
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\n")
    cfg = load_config(path)
    assert (cfg.name, cfg.seed, cfg.device, cfg.amp, cfg.threads, cfg.progress) == (
        "micro-dualnet", 0, "auto", True, None, True)
    d = cfg.data
    assert (d.format, d.train_split, d.val_split, d.test_split, d.workers, d.cache,
            d.max_bad_clips, d.view, d.margin, d.shift, d.scale, d.flip_p) == (
        "ma52", "train", "val", "test", 2, False, 0, "full", 1.5, 0.1, (1.0, 1.15), 0.5)
    assert (cfg.model.preset, cfg.model.variant, cfg.model.overrides,
            cfg.model.pretrained) == ("demo", "full", {}, None)
    o = cfg.optim
    assert (o.name, o.epochs, o.batch_size, o.eval_batch_size, o.lr, o.warmup_epochs,
            o.warmup_start_lr, o.min_lr, o.momentum, o.weight_decay, o.grad_clip) == (
        "sgd", 120, 12, 32, 0.01, 10, 0.001, 0.0, 0.9, 5e-4, 20.0)
    # An empty file is a config without data.root, not "no mapping".
    path.write_text("")
    with pytest.raises(InputError, match=r"c.yaml: key data: Field required"):
        load_config(path)


@pytest.mark.parametrize(("setting", "key"), [
    ("data.scale=[0.9, 1.1]", "data"),  # full view: never below the short side
    ("data.scale=[1.1, 1.05]", "data"),  # low above high
    ("data.scale=[1.0, 2.1]", "data"),
    ("data.margin=0.9", "data.margin"),
    ("data.shift=0.6", "data.shift"),
    ("data.flip_p=1.1", "data.flip_p"),
    ("data.workers=-1", "data.workers"),
    ("data.max_bad_clips=-1", "data.max_bad_clips"),
    ("optim.epochs=0", "optim.epochs"),
    ("optim.batch_size=0", "optim.batch_size"),
    ("optim.eval_batch_size=0", "optim.eval_batch_size"),
    ("optim.lr=0", "optim.lr"),
    ("optim.warmup_epochs=-1", "optim.warmup_epochs"),
    ("optim.warmup_start_lr=-0.001", "optim.warmup_start_lr"),
    ("optim.min_lr=-0.001", "optim.min_lr"),
    ("optim.momentum=1", "optim.momentum"),
    ("optim.weight_decay=-0.1", "optim.weight_decay"),
    ("optim.grad_clip=0", "optim.grad_clip"),
    ("threads=0", "threads"),
    ("seed=-1", "seed"),  # was a traceback from numpy at the first training clip
    ("seed=4294967296", "seed"),
    ("data.val_split=train", "data"),  # scores of the training clips chose the best epoch
    ("data.test_split=train", "data"),
])
def test_out_of_range_settings_are_refused_naming_the_key(tmp_path, setting, key):
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\n")
    with pytest.raises(InputError, match=rf"c.yaml: key {key}: "):
        load_config(path, [setting])


def test_settings_at_the_edge_of_their_range_are_accepted(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\n")
    cfg = load_config(path, ["data.scale=[1.0, 2.0]", "data.margin=1", "data.shift=0.5",
                             "data.flip_p=1", "optim.momentum=0", "optim.grad_clip=null",
                             "optim.warmup_epochs=0", "seed=4294967295"])
    assert cfg.data.scale == (1.0, 2.0) and cfg.optim.grad_clip is None
    # The person view crops around the joints and may zoom out to half the square.
    cfg = load_config(path, ["data.view=person", "data.scale=[0.5, 0.8]"])
    assert cfg.data.scale == (0.5, 0.8)
    with pytest.raises(InputError, match=r"key data: scale must be \[low, high\] with 0.5 "):
        load_config(path, ["data.view=person", "data.scale=[0.4, 0.8]"])


def test_set_options_are_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\noptim: {lr: 0.5}\n")
    assert load_config(path, ["optim.lr = 0.25"]).optim.lr == 0.25  # spaces around "="
    with pytest.raises(InputError, match=r"--set '=3': expected key.path=value"):
        load_config(path, ["=3"])
    with pytest.raises(InputError, match=r"--set 'optim.lr': expected key.path=value"):
        load_config(path, ["optim.lr"])
    with pytest.raises(InputError, match=r"--set optim.lr.x: 'lr' is not a section"):
        load_config(path, ["optim.lr.x=1"])


def test_the_learning_rate_follows_the_schedule_step_by_step(finished_run):
    """The tiny run: 12 training clips in batches of 4 (3 steps an epoch, 9 in all), lr 0.02
    after one warmup epoch from 0.002. Each log row holds the LR of its epoch's last step,
    and the optimiser (the resume state) used it."""
    out, _ = finished_run
    rows = [json.loads(x) for x in (out / "training" / "log.jsonl").read_text().splitlines()]
    # step 2 (warmup): 0.002 + 0.018 * 2/3; steps 5 and 8: cosine over the 6 steps after
    # warmup at 2/6 and 5/6 of the way, 0.01 * (1 + cos(pi * progress)).
    expected = [0.014, 0.01 * (1 + math.cos(math.pi / 3)),
                0.01 * (1 + math.cos(5 * math.pi / 6))]
    assert [r["lr"] for r in rows] == pytest.approx(expected)
    saved = torch.load(out / "training" / "state.pt", weights_only=True)
    assert saved["optimizer"]["param_groups"][0]["lr"] == pytest.approx(expected[-1])


def test_val_labels_are_checked_and_an_empty_split_is_refused(clips_copy, make_config,
                                                              tmp_path):
    """A val split of dummy labels would pick the best epoch by noise: refused as the test
    split's is; a split listing no clip is refused by name."""
    listing = clips_copy / "val_list_videos.txt"
    lines = listing.read_text().splitlines()
    listing.write_text("".join(f"{line.split()[0]} 9\n" for line in lines))
    with pytest.raises(InputError, match=rf"^{listing}: all 6 clips carry label 9 .*; set "
                                         r"data.val_split to a split with real labels$"):
        train(make_config(clips_copy, optim={"epochs": 1}), tmp_path / "run")
    listing.write_text("")
    with pytest.raises(InputError, match=r"split 'val' has no usable clips"):
        train(make_config(clips_copy, optim={"epochs": 1}), tmp_path / "run")
    assert not (tmp_path / "run" / "training").exists()


def test_an_evaluation_without_one_readable_clip_is_one_line():
    """Every clip of a split unreadable (a high data.max_bad_clips lets a run get there)."""
    from microdualnet.training.badclips import BadClips
    from microdualnet.training.loop import predict

    class NoClips(SimpleNamespace):  # a batch whose only clip could not be read
        def __len__(self) -> int:
            return 0

    bad = BadClips(10)
    batch = NoClips(failures=[SimpleNamespace(index=3, reason="unreadable")])
    with pytest.raises(InputError, match=r"^val split: no readable clips to evaluate$"):
        predict(torch.nn.Identity(), [batch], torch.device("cpu"), False, bad, "val")
    assert bad.count == 1


def test_a_state_whose_best_weights_are_gone_everywhere_is_refused(finished_run, make_config,
                                                                   tiny_clips, tmp_path):
    """Resumed, it would end with no best epoch to report: refused, naming training/best.
    (A state of the best epoch itself holds its weights: made to name an earlier one.)"""
    out, _ = finished_run
    copy = Path(shutil.copytree(out, tmp_path / "model"))
    shutil.rmtree(copy / "training/best")
    (copy / "model.safetensors").unlink()
    saved = torch.load(copy / "training/state.pt", weights_only=True)
    torch.save({**saved, "best_epoch": saved["epoch"] - 1}, copy / "training/state.pt")
    with pytest.raises(InputError, match=rf"state.pt has no best-epoch weights beside it "
                                         rf"\({copy / 'training/best'} is missing\); use "
                                         r"--no-resume"):
        train(make_config(tiny_clips), copy)


def test_the_seed_and_the_device_are_honoured(tmp_path):
    from microdualnet.training.loop import pick_device, seed_everything

    draws = []
    for seed in (5, 5, 6):
        seed_everything(seed)
        draws.append(torch.rand(4))
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: x}\ndevice: cuda\n")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match=r"^device: cuda requested but CUDA is not "
                                             r"available$"):
            pick_device(load_config(path))
    assert pick_device(load_config(path, ["device=cpu"])) == torch.device("cpu")


def test_a_batch_larger_than_the_training_set_is_refused(tiny_clips, make_config, tmp_path):
    """12 training clips: a batch of 12 is one step an epoch, 13 none at all."""
    with pytest.raises(InputError, match=r"^optim.batch_size=13 is larger than the training "
                                         r"set \(12 clips\)$"):
        train(make_config(tiny_clips, optim={"epochs": 1, "batch_size": 13}), tmp_path / "a")


def test_the_kept_epoch_is_the_first_with_the_best_val_f1_mean(tiny_clips, make_config,
                                                                tmp_path, monkeypatch):
    """Validation scripted: F1_mean 30, 50, 50 with Top-1 60, 40, 70. F1_mean decides (not
    Top-1), and a tie keeps the earlier epoch."""
    from microdualnet.training import loop

    keys = ("body_top1", "top5", "f1_body_macro", "f1_body_micro", "f1_action_macro",
            "f1_action_micro")
    script = iter([(60.0, 30.0), (40.0, 50.0), (70.0, 50.0), (1.0, 2.0)])  # 3 val, 1 test

    def scripted(scores, labels, body_map=None):
        top1, f1 = next(script)
        return {**dict.fromkeys(keys, 0.0), "top1": top1, "f1_mean": f1, "n": len(labels)}

    monkeypatch.setattr(loop, "classification_metrics", scripted)
    out = tmp_path / "model"
    metrics = train(make_config(tiny_clips), out)
    rows = [json.loads(x) for x in (out / "training" / "log.jsonl").read_text().splitlines()]
    assert [r["best_epoch"] for r in rows] == [1, 2, 2]
    assert metrics["best_epoch"] == 2 and metrics["val"]["top1"] == 40.0
    assert metrics["test"]["f1_mean"] == 2.0


class _Clips(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.labels)


def _one_weight_model(monkeypatch, batches: list[_Clips], factors: list[float]
                      ) -> torch.nn.Linear:
    """A one-weight model (weight 1) that `loop._train_epoch` trains on `batches`: the
    forward gives each batch's scripted logits and step i's loss is `factors[i]` times the
    weight, so its gradient is `factors[i]`."""
    from microdualnet.model.losses import LossTerms
    from microdualnet.training import loop

    model = torch.nn.Linear(1, 1, bias=False)
    model.cfg = None
    with torch.no_grad():
        model.weight.fill_(1.0)
    scripted = iter(factors)
    monkeypatch.setattr(loop, "_train_loader", lambda *args: batches)
    monkeypatch.setattr(loop, "forward", lambda net, batch, *args: SimpleNamespace(
        logits=torch.tensor(batch.logits)))

    def compute_loss(out, labels, cfg):
        total = next(scripted) * model.weight.sum()
        return LossTerms(total, total, total.new_zeros(()))

    monkeypatch.setattr(loop, "compute_loss", compute_loss)
    return model


def test_one_epoch_steps_by_hand(make_config, tmp_path, monkeypatch):
    """_train_epoch on a one-weight model with scripted losses: each step sets the scheduled
    LR, clears the gradient, clips it to optim.grad_clip and steps SGD; the row averages
    over clips. Losses 30w then 5w: gradients 30 (clipped to 20) and 5."""
    from microdualnet.training import loop
    from microdualnet.training.badclips import BadClips
    from microdualnet.training.distributed import ONE

    batches = [_Clips(labels=torch.tensor([0, 1]), failures=[],
                      logits=[[2.0, 1.0], [3.0, 0.0]]),
               _Clips(labels=torch.tensor([1, 1]), failures=[],
                      logits=[[0.0, 1.0], [1.0, 0.0]])]
    model = _one_weight_model(monkeypatch, batches, [30.0, 5.0])
    cfg = make_config(tmp_path, optim={"epochs": 2, "batch_size": 2, "lr": 0.1,
                                       "warmup_epochs": 0, "grad_clip": 20.0})
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # every step sets its own LR
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    row = loop._train_epoch(model, SimpleNamespace(set_epoch=lambda epoch: None), optimizer,
                            scaler, cfg, 1, 2, 0, torch.device("cpu"), False, BadClips(0), ONE)
    # 4 steps in all, no warmup: LR 0.1 at step 0, 0.05 * (1 + cos(pi / 4)) at step 1.
    lr1 = 0.05 * (1 + math.cos(math.pi / 4))
    w1 = 1.0 - 0.1 * 20.0
    assert float(model.weight.detach()) == pytest.approx(w1 - lr1 * 5.0, abs=1e-5)
    assert row["lr"] == pytest.approx(lr1)
    # losses 30 * 1 and 5 * w1, two clips each; 2 of 4 clips right (argmax 0, 0 then 1, 0)
    assert row["train_loss"] == pytest.approx((30.0 * 2 + 5.0 * w1 * 2) / 4, abs=1e-5)
    assert row["train_ce"] == pytest.approx(row["train_loss"]) and row["train_mac"] == 0.0
    assert row["train_top1"] == 50.0 and row["epoch"] == 1


def _amp_epoch(make_config, tmp_path, monkeypatch, losses: list[float],
               grad_clip: float | None = None):
    """_train_epoch with mixed precision on a one-weight model (CPU's GradScaler, which skips
    and rescales as CUDA's does): step i's loss is `losses[i]` times the weight, so an
    infinite factor gives the infinite gradient that float16 overflow gives. Returns the
    model, the scaler and the epoch's row (or raises what the epoch raised)."""
    from microdualnet.training import loop
    from microdualnet.training.badclips import BadClips
    from microdualnet.training.distributed import ONE

    batches = [_Clips(labels=torch.tensor([0]), failures=[], logits=[[1.0, 0.0]])
               for _ in losses]
    model = _one_weight_model(monkeypatch, batches, losses)
    cfg = make_config(tmp_path, optim={"epochs": 1, "batch_size": 1, "lr": 0.1,
                                       "warmup_epochs": 0, "grad_clip": grad_clip})
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = torch.amp.GradScaler("cpu")
    assert scaler.get_scale() == 2.0**16  # the scale GradScaler starts from on CUDA too
    row = loop._train_epoch(model, SimpleNamespace(set_epoch=lambda epoch: None), optimizer,
                            scaler, cfg, 1, len(losses), 0, torch.device("cpu"), True,
                            BadClips(0), ONE)
    return model, scaler, row


def test_mixed_precision_skipping_every_step_stops_the_run(make_config, tmp_path,
                                                           monkeypatch):
    """A loss that is NaN at every step under AMP: GradScaler skips each step and halves
    its scale, so the run used to 'train' all its epochs without changing a weight and end
    normally with the untrained model. It stops once a step is skipped at scale 1 (step 17
    from 2**16), as a run without AMP stops at its first NaN gradient."""
    with pytest.raises(InputError, match=r"^training diverged in epoch 1, step 17 of 20 "
                                         r"\(learning rate 0\.\d+\): the loss is nan and "
                                         r"mixed precision skipped the step with its loss "
                                         r"scale down to 1 \(float16 overflows, or the "
                                         r"gradients are NaN\); no epoch was saved\. Set "
                                         r"amp: false \(float32, no mixed precision\) or "
                                         r"lower optim.lr, and start over with --no-resume$"):
        _amp_epoch(make_config, tmp_path, monkeypatch, [math.nan] * 20)


@pytest.mark.parametrize("grad_clip", [None, 1.0])
def test_mixed_precision_warm_up_skips_are_not_divergence(make_config, tmp_path,
                                                          monkeypatch, grad_clip):
    """AMP skips steps at its start until the scaled gradients fit float16; 16 skipped in a
    row (from 2**16 down to scale 1, far more than a warm-up skips) still train on, also
    where the gradients are clipped (their norm, unscaled, is then infinite at each skip)."""
    model, scaler, row = _amp_epoch(make_config, tmp_path, monkeypatch,
                                    [math.inf] * 16 + [2.0] * 4, grad_clip)
    assert scaler.get_scale() == 1.0
    assert float(model.weight.detach()) < 1.0 and row["epoch"] == 1  # the last 4 stepped


def test_predict_gives_class_probabilities(monkeypatch):
    """Scores are softmax probabilities (predictions.tsv shows them): logits 0 and ln 3
    give 1/4 and 3/4."""
    from microdualnet.training import loop
    from microdualnet.training.badclips import BadClips

    class Clips(SimpleNamespace):
        def __len__(self) -> int:
            return len(self.labels)

    batch = Clips(labels=torch.tensor([1, 0]), indices=torch.tensor([4, 7]), failures=[])
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    monkeypatch.setattr(loop, "forward", lambda *args: SimpleNamespace(logits=logits))
    scores, labels, index = loop.predict(torch.nn.Identity(), [batch], torch.device("cpu"),
                                         False, BadClips(0), "val")
    assert scores.ravel().tolist() == pytest.approx([0.25, 0.75, 0.75, 0.25])
    assert labels.tolist() == [1, 0] and index.tolist() == [4, 7]


def test_an_epoch_is_the_whole_batches_of_the_training_set(tiny_clips, make_config, tmp_path):
    """12 training clips in batches of 5: the last, partial batch is dropped, so an epoch is
    2 steps (not 3) and the schedule runs on that count: the LR of step 1 (warmup, 1 of 2)
    is 0.002 + 0.018 / 2, of step 3 (cosine, half way through the 2 steps after warmup)
    0.01 * (1 + cos(pi / 2))."""
    train(make_config(tiny_clips, optim={"epochs": 2, "batch_size": 5}), tmp_path / "run")
    rows = [json.loads(x)
            for x in (tmp_path / "run" / "training" / "log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == pytest.approx([0.011, 0.01])


def test_config_numbers_in_exponent_form_and_home_folders(tmp_path, monkeypatch):
    """PyYAML reads `5e-2` as text: a model override so written was refused as 'expected a
    number' (optim.lr=1e-3 was already read as 0.001); `~/data` was taken as a folder named
    `~` in the working directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "c.yaml"
    path.write_text("data: {root: ~/clips}\nmodel: {overrides: {mac_weight: 5e-2}}\n"
                    "optim: {lr: 1e-3}\n")
    cfg = load_config(path, ["model.overrides.dropout=2E-1", "model.pretrained=~/r50.pth"])
    assert cfg.model.overrides == {"mac_weight": 0.05, "dropout": 0.2}
    assert cfg.optim.lr == 0.001
    assert cfg.data.root == tmp_path / "home" / "clips"
    assert cfg.model.pretrained == tmp_path / "home" / "r50.pth"
    with pytest.raises(InputError, match=r"model config num_frames='1e1': expected a whole"):
        load_config(path, ["model.overrides.num_frames=1e1"])  # whole-number fields stay strict


def test_a_diverging_run_stops_at_the_step_keeping_the_last_epoch(tiny_clips, make_config,
                                                                  tmp_path, monkeypatch):
    """A loss that turns NaN in epoch 2 (as a too-high learning rate makes it): the run used
    to go on for every epoch with NaN weights and fail only at the end, on its NaN 'best'
    model. It stops at that step naming it; epoch 1's state and best model stay."""
    from microdualnet.training import loop

    calls = {"n": 0}
    real = loop.compute_loss

    def nan_from_epoch_2(out, labels, cfg):  # 3 steps an epoch
        calls["n"] += 1
        terms = real(out, labels, cfg)
        if calls["n"] > 3:
            terms = type(terms)(terms.total * math.nan, terms.ce, terms.mac)
        return terms

    monkeypatch.setattr(loop, "compute_loss", nan_from_epoch_2)
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"^training diverged in epoch 2, step 1 of 3 \("
                                         r"learning rate .*\): the loss is nan and its "
                                         r"gradient norm nan; training/state.pt still holds "
                                         r"epoch 1"):
        train(make_config(tiny_clips), out)
    assert torch.load(out / "training/state.pt", weights_only=True)["epoch"] == 1
    assert load_checkpoint(out / "training/best").meta["metrics"]["best_epoch"] == 1
    assert not (out / "model.json").exists()


def test_a_learning_rate_far_too_high_stops_in_the_first_epoch(tiny_clips, make_config,
                                                               tmp_path):
    """Without gradient clipping (the norm is then measured alone): nothing is saved, so no
    NaN model can pass for the best epoch."""
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"^training diverged in epoch 1, step \d of 3 .*no "
                                         r"epoch was saved\. Lower optim.lr"):
        train(make_config(tiny_clips, optim={"lr": 1e6, "warmup_epochs": 0,
                                             "grad_clip": None}), out)
    assert not (out / "training/state.pt").exists()
    assert not (out / "training/best").exists()


def test_a_class_without_training_clips_is_named(tiny_clips, make_config, capsys):
    """Val and test clips of a class no training clip carries (here: nodding's taken out of
    the train list) used to train and score without a word; one warning line per split."""
    from microdualnet.data import ma52
    from microdualnet.training.loop import RunData, warn_untrained_classes

    labels = ma52.label_map_for(tiny_clips)
    splits = {role: ma52.read_split(tiny_clips, role, labels)[0]
              for role in ("train", "val", "test")}
    splits["train"] = [r for r in splits["train"] if r.label != 0]
    warn_untrained_classes(make_config(tiny_clips), RunData(labels, splits, 8.0))
    assert capsys.readouterr().err.splitlines() == [
        f"warning: split {role!r} has clips of 1 class that the training split 'train' has "
        "none of: 9 ('nodding', 2 clips); the model cannot learn them"
        for role in ("val", "test")]
    splits["train"] = ma52.read_split(tiny_clips, "train", labels)[0]
    warn_untrained_classes(make_config(tiny_clips), RunData(labels, splits, 8.0))
    assert capsys.readouterr().err == ""


def _scripted_val_f1(monkeypatch, f1_values):
    """Validation (and test) metrics of the loop scripted: F1_mean from `f1_values` in turn."""
    from microdualnet.training import loop

    keys = ("body_top1", "top1", "top5", "f1_body_macro", "f1_body_micro", "f1_action_macro",
            "f1_action_micro")
    script = iter(f1_values)

    def scripted(scores, labels, body_map=None):
        return {**dict.fromkeys(keys, 0.0), "f1_mean": next(script), "n": len(labels)}

    monkeypatch.setattr(loop, "classification_metrics", scripted)


def test_a_run_stopped_while_writing_the_state_keeps_the_best_of_its_epochs(
        tiny_clips, make_config, tmp_path, monkeypatch):
    """Killed while writing epoch 2's state, epoch 2 being a new best, the run resumes after
    epoch 1. training/best used to hold the lost epoch 2 already; the epoch run again (on a
    GPU not bit-identical; scripted here to score 25 against epoch 1's 30) did not replace
    it, so the model was the lost run's with F1 50 while the log named epoch 1."""
    from microdualnet.training import loop

    real_save = loop.state.save_state

    def killed_at_epoch_2(path, saved):
        if saved["epoch"] == 2:
            raise KeyboardInterrupt
        real_save(path, saved)

    out = tmp_path / "run"
    _scripted_val_f1(monkeypatch, [30.0, 50.0])
    monkeypatch.setattr(loop.state, "save_state", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(make_config(tiny_clips), out)
    monkeypatch.setattr(loop.state, "save_state", real_save)
    _scripted_val_f1(monkeypatch, [25.0, 20.0, 1.0])  # epochs 2 and 3, then test
    metrics = train(make_config(tiny_clips), out)
    rows = [json.loads(x) for x in (out / "training/log.jsonl").read_text().splitlines()]
    assert [r["best_epoch"] for r in rows] == [1, 1, 1]
    assert metrics["best_epoch"] == 1 and metrics["val"]["f1_mean"] == 30.0


def test_a_run_stopped_before_writing_its_best_model_writes_it_on_resuming(
        tiny_clips, make_config, tmp_path, monkeypatch):
    """Stopped after epoch 2's state (a new best) but before training/best was written: the
    resumed run writes epoch 2's model from the state (it held epoch 1's)."""
    from microdualnet.training import loop

    real_save = loop.save_checkpoint

    def killed_at_epoch_2(model, folder, **kwargs):
        if kwargs["metrics"]["best_epoch"] == 2:
            raise KeyboardInterrupt
        return real_save(model, folder, **kwargs)

    out = tmp_path / "run"
    cfg = make_config(tiny_clips, optim={"epochs": 2})
    _scripted_val_f1(monkeypatch, [30.0, 50.0])
    monkeypatch.setattr(loop, "save_checkpoint", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    _scripted_val_f1(monkeypatch, [1.0])  # the test split
    metrics = train(cfg, out)
    assert metrics["best_epoch"] == 2 and metrics["val"]["f1_mean"] == 50.0
    kept = load_checkpoint(out).model.state_dict()
    state_weights = torch.load(out / "training/state.pt", weights_only=True)["model"]
    for key, value in state_weights.items():
        assert torch.equal(kept[key], value), key


def test_the_pretrained_weights_are_an_input_of_the_provenance(tiny_clips, make_config,
                                                               tmp_path):
    """The config names only the backbone weights' path: their hash was not recorded, so two
    models started from different files at that path had the same provenance."""
    from microdualnet.model.backbone import build_resnet
    from microdualnet.model.network import MicroDualNet
    from microdualnet.training.loop import model_config
    from pipeio.provenance import file_sha256

    cfg = make_config(tiny_clips, optim={"epochs": 1})
    mcfg = MicroDualNet(model_config(cfg, 3)).cfg
    weights = tmp_path / "r.pth"
    torch.save(build_resnet(mcfg.backbone_depth, mcfg.backbone_width).state_dict(), weights)
    out = tmp_path / "run"
    train(make_config(tiny_clips, optim={"epochs": 1}, model={"pretrained": str(weights)}),
          out)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["inputs"][str(weights)] == file_sha256(weights)


def test_scores_that_are_not_finite_are_never_counted(monkeypatch, tmp_path):
    """Validation logits that overflow float16 (AMP) are computed again in float32; NaN
    scores left were counted as predictions of the first class, choosing the best epoch on
    made-up numbers: now an error naming the split and the clip by its record (it named
    only the dataset index, 'clip 4 of the split', which no file or list shows)."""
    from microdualnet.data.records import ClipRecord
    from microdualnet.training import loop
    from microdualnet.training.badclips import BadClips

    class Clips(SimpleNamespace):
        def __len__(self) -> int:
            return len(self.labels)

    batch = Clips(labels=torch.tensor([1, 0]), indices=torch.tensor([4, 7]), failures=[])
    good = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    overflow = torch.tensor([[0.0, math.inf], [math.log(3.0), 0.0]])
    monkeypatch.setattr(loop, "forward", lambda model, batch, device, amp: SimpleNamespace(
        logits=overflow if amp else good))
    scores, _, _ = loop.predict(torch.nn.Identity(), [batch], torch.device("cpu"), True,
                                BadClips(0), "val")
    assert scores.ravel().tolist() == pytest.approx([0.25, 0.75, 0.75, 0.25])
    monkeypatch.setattr(loop, "forward", lambda *args: SimpleNamespace(logits=overflow))
    records = [ClipRecord(f"c{i}", tmp_path / f"c{i}.mp4", 0) for i in range(8)]
    with pytest.raises(InputError) as err:
        loop.predict(torch.nn.Identity(), [batch], torch.device("cpu"), False, BadClips(0),
                     "val", records)
    assert str(err.value) == (f"val split: the model gives NaN or infinite scores for 1 of 2 "
                              f"clips of a batch (first: clip c4 in {tmp_path / 'c4.mp4'})")
    # with AMP the float32 scores were not finite either: --amp is not the cause
    with pytest.raises(InputError, match=r"^val split: the model gives NaN or infinite scores "
                                         r"\(in float32 too\) for 1 of 2 clips of a batch "
                                         r"\(first: clip c4 in "):
        loop.predict(torch.nn.Identity(), [batch], torch.device("cpu"), True, BadClips(0),
                     "val", records)
    with pytest.raises(InputError, match=r"\(first: clip 4 of the split\)$"):  # no records
        loop.predict(torch.nn.Identity(), [batch], torch.device("cpu"), False, BadClips(0),
                     "val")
