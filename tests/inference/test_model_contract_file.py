"""model.json as the train -> infer contract: every key checked where it is read, older
folders refused with the way out, nothing assumed by default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from microdualnet.cli import main
from microdualnet.contract import META_FILE, View, read_contract
from pipeio.errors import InputError


def _copy(model: Path, tmp_path: Path, change) -> Path:
    folder = Path(shutil.copytree(model, tmp_path / "model"))
    meta = json.loads((folder / META_FILE).read_text())
    change(meta)
    (folder / META_FILE).write_text(json.dumps(meta))
    return folder


def _as_format_1(meta: dict) -> None:
    """What a model folder written before the contract held its frame rate looks like."""
    meta["format"] = "microdualnet-model/1"
    del meta["fps"], meta["view"]
    meta["metrics"]["view"] = {"crop": "centre", "resize": "short side to input_size"}


def _person_view(**change) -> dict:
    return {"kind": "person", "margin": 1.5, "min_joint_confidence": 0.3,
            "source_short_side": 256, **change}


def test_the_contract_holds_what_inference_needs(demo_model):
    c = read_contract(demo_model)
    assert c.fps == 25.0 and c.view.kind == "full"
    assert c.sampling_rule.stride_s == pytest.approx(c.frame_stride / 25.0)
    assert len(c.class_names) == c.config["num_classes"]


def test_an_older_model_folder_names_the_key_and_the_way_out(demo_model, tmp_path, capsys,
                                                             cohort, poses):
    old = _copy(demo_model, tmp_path, _as_format_1)
    with pytest.raises(InputError, match=r"key 'fps' is missing .*--model-fps"):
        read_contract(old)
    args = ["infer", "--model", str(old), "--video", str(cohort / "videos/sub-001.mp4"),
            "--pose", str(poses["sub-001"]), "--out", str(tmp_path / "w.parquet"),
            "--no-progress", "--on-error", "exclude"]
    assert main(args) == 2  # a model problem fails even with --on-error exclude
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'fps'" in err and "--model-fps" in err
    assert not (tmp_path / "w.parquet").exists()
    assert main([*args, "--model-fps", "25"]) == 0
    assert read_contract(old, fps=25.0).view.kind == "full"


def test_model_fps_may_not_contradict_the_recorded_rate(demo_model):
    with pytest.raises(InputError, match=r"'fps' records training clips at 25 fps; "
                                         r"--model-fps 30"):
        read_contract(demo_model, fps=30.0)
    assert read_contract(demo_model, fps=25.0).fps == 25.0


@pytest.mark.parametrize("change, needle", [
    (lambda m: m.update(fps=0), "key 'fps' must be a positive number"),
    (lambda m: m.pop("fps"), "key 'fps' must be a positive number, got None"),
    (lambda m: m.update(view={"kind": "zoom"}), "key 'view'"),
    (lambda m: m.update(view={"kind": "person", "margin": 1.5, "min_joint_confidence": 0.3}),
     "key 'view.source_short_side'"),
    (lambda m: m.update(frames=16), "key 'frames' is 16, but config.num_frames"),
    (lambda m: m.update(class_names=["a"]), "key 'class_names' has 1 names"),
    (lambda m: m["normalisation"].update(mean=[0, 0, 0]), "key 'normalisation'"),
    (lambda m: m.pop("normalisation"), "key 'normalisation' is None"),
    (lambda m: m.update(normalisation=[1, 2]), "key 'normalisation' is"),
    (lambda m: m["normalisation"].update(std="abc"), "key 'normalisation'"),
    (lambda m: m["class_names"].__setitem__(1, m["class_names"][0]),
     "key 'class_names' names .* more than once"),
    (lambda m: m.update(format="microdualnet-model/9"), "key 'format'"),
    (lambda m: m.update(frames=8.5), "key 'frames' must be a positive integer, got 8.5"),
    (lambda m: m.update(frame_stride=m["config"]["frame_stride"] + 1),
     "key 'frame_stride' is .*, but config.frame_stride"),
    (lambda m: m.update(view=_person_view(margin=0.5)),
     r"key 'view.margin' must be a finite number >= 1, got 0.5"),
    (lambda m: m.update(view=_person_view(margin=float("nan"))),
     r"key 'view.margin' must be a finite number >= 1, got nan"),
    (lambda m: m.update(view=_person_view(margin=float("inf"))), r"key 'view.margin'.* inf"),
    (lambda m: m.update(view=_person_view(margin=True)), r"key 'view.margin'.* True"),
    (lambda m: m.update(view=_person_view(margin="2")), r"key 'view.margin'.* '2'"),
    (lambda m: m.update(view=_person_view(min_joint_confidence=False)),
     r"key 'view.min_joint_confidence'.* False"),
])
def test_a_damaged_contract_names_the_key(demo_model, tmp_path, change, needle):
    with pytest.raises(InputError, match=needle):
        read_contract(_copy(demo_model, tmp_path, change))


def test_a_person_view_is_read_as_recorded(demo_model, tmp_path):
    folder = _copy(demo_model, tmp_path, lambda m: m.update(view=_person_view(margin=2)))
    view = read_contract(folder).view
    assert view == View("person", 2.0, 0.3, 256) and isinstance(view.margin, float)


def test_a_format_1_person_view_was_cropped_from_frames_at_twice_the_input(demo_model,
                                                                           tmp_path):
    def change(meta: dict) -> None:
        _as_format_1(meta)
        meta["metrics"]["view"] = {"crop": "person", "margin": 1.25,
                                   "min_joint_confidence": 0.2}

    contract = read_contract(_copy(demo_model, tmp_path, change), fps=25.0)
    assert contract.view == View("person", 1.25, 0.2, 2 * contract.input_size)
    assert contract.fps == 25.0


def test_a_format_1_person_view_without_input_size_names_the_key(demo_model, tmp_path):
    def change(meta: dict) -> None:
        _as_format_1(meta)
        meta["metrics"]["view"] = {"crop": "person"}
        meta["input_size"] = None

    with pytest.raises(InputError, match="key 'input_size' must be a positive"):
        read_contract(_copy(demo_model, tmp_path, change), fps=25.0)


def test_pose_for_sampled_frames_applies_the_contract_too(demo_model, cohort, tmp_path,
                                                          capsys):
    old = _copy(demo_model, tmp_path, _as_format_1)
    video = cohort / "videos/sub-001.mp4"
    args = ["pose", "--backend", "openpose", "--video", str(video), "--openpose-dir",
            str(cohort / "openpose/sub-001"), "--out", str(tmp_path / "p.npz"),
            "--only-sampled", str(old)]
    assert main(args) == 2 and "--model-fps" in capsys.readouterr().err
    assert main([*args, "--model-fps", "25", "--no-progress"]) == 0
