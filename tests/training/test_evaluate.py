"""`python -m microdualnet evaluate`: reproduces `train`'s metrics, writes its files, and
refuses dummy labels, foreign classes and off-rate clips."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from microdualnet.cli import main as cli_main
from microdualnet.contract import ModelContract, View, read_contract
from microdualnet.data.labelmap import IMIGUE_CLASSES, LabelMap
from microdualnet.data.records import ClipRecord
from microdualnet.data.sources import refuse_dummy_labels
from microdualnet.evaluation.evaluate import check_classes, clip_stride, eval_dataset
from microdualnet.model.checkpoint import load_checkpoint, save_checkpoint
from microdualnet.model.config import make_config as make_model_config
from microdualnet.model.network import MicroDualNet
from microdualnet.training.badclips import BadClips
from microdualnet.training.loop import build_datasets, load_data, make_loader, predict, train
from pipeio.errors import InputError
from pipeio.modelfiles import model_digest

# A learning rate at which the tiny model's predictions differ between clips after 3 epochs
# (the SGD default predicts one class for every clip, which any evaluation would reproduce).
LEARNS = {"name": "adamw", "lr": 0.003, "epochs": 3}


@pytest.fixture(scope="module")
def trained_with(tiny_clips, make_config, tmp_path_factory):
    """The model folder and its training config."""
    out = tmp_path_factory.mktemp("eval") / "model"
    cfg = make_config(tiny_clips, optim=LEARNS)
    train(cfg, out)
    return out, cfg


@pytest.fixture(scope="module")
def trained(trained_with):
    return trained_with[0]


def run(*args: str) -> int:
    return cli_main(["evaluate", "--workers", "0", "--no-progress", *map(str, args)])


@pytest.mark.parametrize("split", ["test", "val"])
def test_evaluate_reproduces_what_train_reported(trained_with, tiny_clips, tmp_path, split):
    trained, cfg = trained_with
    out = tmp_path / "ev"
    assert run("--model", trained, "--data-root", tiny_clips, "--format", "synthetic",
               "--split", split, "--out", out, "--name", "micro-dualnet",
               "--batch-size", "5") == 0
    reported = json.loads((trained / "model.json").read_text())["metrics"][split]
    report = json.loads((out / "metrics.json").read_text())
    assert report["metrics"].keys() == reported.keys()
    for key, value in reported.items():
        assert report["metrics"][key] == pytest.approx(value, abs=1e-6), key
    assert report["split"] == split and report["clips_evaluated"] == 6
    assert report["model_digest"] == model_digest(trained) and report["frame_stride"] == 2
    if split == "test":  # train wrote these for its test split: the same bytes
        for name in ("per_class.tsv", "table_row.tsv", "table_row.md"):
            assert (out / name).read_text() == (trained / "training" / name).read_text(), name
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every clip's probabilities as training's evaluation computes them
    data = load_data(cfg, BadClips(0))
    model = load_checkpoint(trained).model
    ds = build_datasets(cfg, data, model.cfg)[0][split]
    scores, labels, _ = predict(model, make_loader(ds, 4, 0, False, 0), torch.device("cpu"),
                             False, BadClips(0), split)
    ids = data.labels.label_ids
    header, *rows = (out / "predictions.tsv").read_text().splitlines()
    assert header == "clip\tlabel_id\tpredicted_id\tp_label\tp_predicted"
    assert [r.split("\t")[0] for r in rows] == [r.name for r in data.splits[split]]
    for row, s, t in zip(rows, scores, labels, strict=True):
        _, label_id, pred_id, p_label, p_pred = row.split("\t")
        assert (int(label_id), int(pred_id)) == (ids[t], ids[s.argmax()])
        assert float(p_label) == pytest.approx(s[t], abs=2e-6)
        assert float(p_pred) == pytest.approx(s.max(), abs=2e-6)
    # per_class.tsv and predictions.tsv count the clips that top1 counts right
    m = report["metrics"]
    per_class = [r.split("\t") for r in (out / "per_class.tsv").read_text().splitlines()[1:]]
    assert sum(int(r[3]) for r in per_class) == m["n"]
    right = sum(int(r[4]) for r in per_class)
    assert right == sum(r.split("\t")[1] == r.split("\t")[2] for r in rows)
    assert m["top1"] == pytest.approx(100 * right / m["n"])
    assert m["f1_action_micro"] == pytest.approx(m["top1"])
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["step"] == "evaluate" and prov["params"]["split"] == split
    assert prov["params"]["model_digest"] == model_digest(trained)
    assert any(p.endswith(f"{split}_list_videos.txt") for p in prov["inputs"])


def test_person_view_model_is_evaluated_in_its_view(tiny_clips, make_config, tmp_path):
    cfg = make_config(tiny_clips, optim={**LEARNS, "epochs": 1},
                      data={"view": "person", "scale": [0.9, 1.1]})
    model = tmp_path / "person"
    train(cfg, model)
    contract = read_contract(model)
    assert contract.view.kind == "person"
    data = load_data(cfg, BadClips(0))
    trained_view = build_datasets(cfg, data, load_checkpoint(model).config)[0]["val"]
    ours = eval_dataset(contract, True, data.splits["val"], contract.frame_stride)
    # A model without keypoints still needs the pose to crop around the person.
    no_keypoints = eval_dataset(contract, False, data.splits["val"], contract.frame_stride)
    for i in range(len(ours)):  # the pixels and keypoints training validated on
        for key in ("video", "keypoints"):
            assert torch.equal(ours[i][key], trained_view[i][key]), (i, key)
        assert torch.equal(no_keypoints[i]["video"], trained_view[i]["video"]), i
    assert run("--model", model, "--data-root", tiny_clips, "--split", "val",
               "--out", tmp_path / "ev") == 0
    reported = json.loads((model / "model.json").read_text())["metrics"]["val"]
    got = json.loads((tmp_path / "ev" / "metrics.json").read_text())["metrics"]
    assert got == pytest.approx(reported, abs=1e-6)


def test_refuses_dummy_labels(trained, clips_copy, tmp_path, capsys):
    listing = clips_copy / "test_list_videos.txt"
    listing.write_text("".join(f"{line.split()[0]} 9\n"
                               for line in listing.read_text().splitlines()))
    assert run("--model", trained, "--data-root", clips_copy, "--out", tmp_path / "ev") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(listing) in err
    assert "all 6 clips carry label 9 ('nodding')" in err and "dummies" in err
    assert not (tmp_path / "ev").exists()


def test_class_mismatch_names_both(trained, clips_copy, tmp_path, capsys):
    table = clips_copy / "label_map.tsv"
    original = table.read_text()
    table.write_text(original.replace("45\tcovering face", "44\tcovering face"))
    assert run("--model", trained, "--data-root", clips_copy, "--out", tmp_path / "a") == 2
    assert ("class 1 ('covering face') has label id 45 in the model and 44 in the data"
            in capsys.readouterr().err)
    table.write_text(original.replace("covering face", "rubbing eyes"))
    assert run("--model", trained, "--data-root", clips_copy, "--out", tmp_path / "a") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(trained) in err and str(table) in err
    assert "class 1 is 'covering face' in the model and 'rubbing eyes' in the data" in err
    table.unlink()  # without its label map the folder is read as MA-52 (52 classes)
    assert run("--model", trained, "--data-root", clips_copy, "--out", tmp_path / "b") == 2
    err = capsys.readouterr().err.strip()
    assert "has 3 classes, the MA-52 class table has 52" in err and "shaking body" in err
    assert "(model: nodding, covering face, no action; data: " in err
    assert err.endswith(", ... (48 more))")  # the first 4 of the table's 52 names
    assert run("--model", trained, "--data-root", clips_copy, "--format", "synthetic",
               "--out", tmp_path / "c") == 2
    assert "no label_map.tsv" in capsys.readouterr().err


def test_a_person_crop_at_another_confidence_is_refused(trained, tiny_clips, tmp_path, capsys):
    """Clip evaluation crops with the loaders' joint threshold; another one would show the
    model other crops than it was trained on."""
    model = shutil.copytree(trained, tmp_path / "model")
    meta = json.loads((model / "model.json").read_text())
    meta["view"] = View("person", 1.5, 0.2, 96).to_json()
    (model / "model.json").write_text(json.dumps(meta))
    assert run("--model", model, "--data-root", tiny_clips, "--format", "synthetic",
               "--out", tmp_path / "ev") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "key 'view.min_joint_confidence' is 0.2" in err
    assert not (tmp_path / "ev").exists()


def test_a_damaged_label_id_list_names_the_key(tmp_path):
    """metrics.label_ids of another length (or no list) ended in an IndexError or blamed a
    class whose ids match."""
    labels = LabelMap((3, 45, 9), ("a", "b", "c"))
    for ids in ([3, 45], [], [3, 45, 9, 10], 7, [3, 45, "9"]):
        contract = dataclasses.replace(contract_with(labels, tmp_path),
                                       meta={"metrics": {"label_ids": ids}})
        with pytest.raises(InputError, match=r"model.json: key 'metrics.label_ids' must list "
                                             r"one label id per class \(3\), got "):
            check_classes(contract, labels, "synthetic", tmp_path)
    ok = dataclasses.replace(contract_with(labels, tmp_path),
                             meta={"metrics": {"label_ids": [3, 45, 9]}})
    check_classes(ok, labels, "synthetic", tmp_path)
    moved = dataclasses.replace(ok, meta={"metrics": {"label_ids": [3, 44, 9]}})
    with pytest.raises(InputError, match=r"class 1 \('b'\) has label id 44 in the model and 45"):
        check_classes(moved, labels, "synthetic", tmp_path)
    for metrics in ([3, 45, 9], "x"):  # hand-edited: ended in an AttributeError
        edited = dataclasses.replace(ok, meta={"metrics": metrics})
        with pytest.raises(InputError, match=r"model.json: key 'metrics' must be an object"):
            check_classes(edited, labels, "synthetic", tmp_path)


def contract_with(labels: LabelMap, folder: Path) -> ModelContract:
    """A model contract whose classes are `labels`' (the rest as the tiny model's)."""
    return ModelContract(folder, 8.0, 4, 2, 48, View("full"), labels.names, (), {}, {})


def test_one_label_in_a_split_is_refused_only_with_several_clips(tmp_path):
    """Every clip with one label is MA-52's dummy test list; a single clip is just one clip."""
    labels = LabelMap((3, 45), ("a", "b"))
    clip = ClipRecord("c0", tmp_path / "c0.mp4", 1)
    refuse_dummy_labels([clip], labels, tmp_path / "list.txt", "")  # one clip: one label
    refuse_dummy_labels([clip, dataclasses.replace(clip, label=0)], labels, tmp_path, "")
    with pytest.raises(InputError, match=r"all 2 clips carry label 45 \('b'\), as MA-52's "
                                         r"public test labels do \(dummies\); do this$"):
        refuse_dummy_labels([clip, clip], labels, tmp_path / "list.txt", "do this")


def test_non_finite_scores_are_refused_naming_the_clip(trained_with, tiny_clips, tmp_path,
                                                      capsys, monkeypatch):
    """A NaN row sorts its label last and argmax calls it class 0: the metrics would come
    out as if the model had predicted the first class for that clip. The error names the
    clip by its name and file (it named only its index in the split)."""
    from microdualnet.training import loop

    trained, cfg = trained_with
    real = loop.forward

    def nan_for_the_second(model, batch, *args, **kwargs):
        out = real(model, batch, *args, **kwargs)
        out.logits[1] = float("nan")
        return out

    monkeypatch.setattr(loop, "forward", nan_for_the_second)
    assert run("--model", trained, "--data-root", tiny_clips, "--format", "synthetic",
               "--out", tmp_path / "ev") == 2
    err = capsys.readouterr().err.strip()
    clip = load_data(cfg, BadClips(0)).splits["test"][1]
    assert err == (f"error: test split: the model gives NaN or infinite scores for 1 of 6 "
                   f"clips of a batch (first: clip {clip.name} in {clip.video})")
    assert not (tmp_path / "ev").exists()


def test_too_many_bad_clips_names_the_option_that_allows_more(trained, clips_copy, tmp_path,
                                                             capsys):
    """The limit is evaluate's --max-bad-clips: 'more than data.max_bad_clips=0' named a
    training config key that evaluate does not read."""
    listing = clips_copy / "test_list_videos.txt"
    listing.write_text(listing.read_text() + "gone.mp4 9\n")
    assert run("--model", trained, "--data-root", clips_copy, "--format", "synthetic",
               "--out", tmp_path / "e") == 2
    assert "error: 1 unusable clips, more than --max-bad-clips=0; first: " in \
        capsys.readouterr().err


def test_existing_output_needs_overwrite(trained, tiny_clips, tmp_path, capsys):
    (tmp_path / "ev").mkdir()
    args = ("--model", trained, "--data-root", tiny_clips, "--out", tmp_path / "ev")
    assert run(*args) == 2
    assert "already exists" in capsys.readouterr().err
    assert run(*args, "--overwrite", "--batch-size", "0") == 2
    assert "--batch-size must be at least 1, got 0" in capsys.readouterr().err
    assert run(*args, "--overwrite") == 0 and (tmp_path / "ev" / "metrics.json").is_file()
    # Without --name the Table I row is named after the model folder.
    assert (tmp_path / "ev" / "table_row.tsv").read_text().splitlines()[1].startswith(
        f"{trained.name} (test)\t")  # and the split it scored


def test_clip_stride_follows_the_training_rate(trained):
    contract = read_contract(trained)  # 8 fps clips, stride 2
    assert clip_stride(contract, 8.0, trained) == 2
    assert clip_stride(contract, 16.0, trained) == 4  # the same 0.25 s between frames
    assert clip_stride(contract, 12.0, trained) == 3
    with pytest.raises(InputError, match="clips at 10 fps; model .* trained on clips at 8 fps"):
        clip_stride(contract, 10.0, trained)  # 2.5 frames apart
    slow = dataclasses.replace(contract, fps=24.0, frame_stride=3)
    assert clip_stride(slow, 8.0, trained) == 1


def imigue_folder(long_video, clips, root):
    """iMiGUE layout: one synthetic clip as the long video, four labelled segments."""
    long_video(clips, root)
    (root / "test.csv").write_text(
        "video_id,label_id,start_frame,end_frame\n"
        "0001,6,0,3\n0001,31,4,7\n0001,6,2,6\n0001,40,0,7\n")  # 40: not an iMiGUE class
    return root


def test_imigue_split_gets_top_k_columns(trained, tiny_clips, tmp_path, capsys, long_video):
    root = imigue_folder(long_video, tiny_clips, tmp_path / "imigue")
    assert run("--model", trained, "--data-root", root, "--format", "imigue",
               "--out", tmp_path / "a") == 2
    assert "has 3 classes, the iMiGUE class table has 32" in capsys.readouterr().err
    cfg = make_model_config("demo", num_classes=32, num_frames=4, frame_stride=2,
                            input_size=48)
    model = save_checkpoint(MicroDualNet(cfg), tmp_path / "m32", fps=8.0, view=View("full"),
                            class_names=IMIGUE_CLASSES)
    assert run("--model", model, "--data-root", root, "--format", "imigue",
               "--max-bad-clips", "1", "--out", tmp_path / "b") == 0
    assert "label 40 is not in the label map" in capsys.readouterr().err
    report = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert report["clips_listed"] == 4 and report["clips_evaluated"] == 3
    assert report["bad_clips"] == 1 and "f1_mean" not in report["metrics"]
    assert (tmp_path / "b" / "table_row.tsv").read_text().splitlines()[0] == \
        "Method\tTop-1\tTop-5"


def test_an_unknown_format_is_refused_by_name(tmp_path):
    """Not read as MA-52 by default (the CLI is not the only caller)."""
    from microdualnet.evaluation.evaluate import data_labels

    with pytest.raises(InputError, match=r"^--format 'mp4' is not known \(known: ma52, "
                                         r"imigue, synthetic\)$"):
        data_labels("mp4", tmp_path)
