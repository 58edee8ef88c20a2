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
    (lambda m: m.update(frames=8.5),
     "key 'frames' must be a positive integer up to 1024, got 8.5"),
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


@pytest.mark.parametrize("change, needle", [
    (lambda m: m.pop("config"), "key 'config' is missing or not an object"),
    (lambda m: m.update(fps=True), "key 'fps' must be a positive number, got True"),
    (lambda m: m.update(fps=float("inf")), "key 'fps' must be a positive number, got inf"),
    # JSON integers have no size limit: past a float's range they were an OverflowError
    (lambda m: m.update(fps=10**400), "key 'fps' must be a positive number, got 10{400}$"),
    (lambda m: m.update(view=_person_view(margin=10**400)),
     r"key 'view.margin' must be a finite number >= 1, got 10{400}$"),
    (lambda m: m["normalisation"].update(mean=[0.485, 10**400, 0.406]), "key 'normalisation'"),
    (lambda m: m.update(input_size=m["config"]["input_size"] + 1),
     "key 'input_size' is .*, but config.input_size"),
    (lambda m: m.update(entities="head"), "key 'entities' must be a list of names, got 'head'"),
    (lambda m: m["class_names"].__setitem__(0, 7), "key 'class_names' must be a list of names"),
    (lambda m: m["normalisation"].update(mean=[*m["normalisation"]["mean"], 0]),
     "key 'normalisation'"),
    (lambda m: m.update(view=_person_view(min_joint_confidence=1.0)),
     r"key 'view.min_joint_confidence' must be within \[0, 1\), got 1.0"),
    (lambda m: m.update(view=_person_view(source_short_side=4)),
     "key 'view.source_short_side' must be an integer >= 8, got 4"),
    (lambda m: m.update(view=_person_view(source_short_side=96.0)),
     "key 'view.source_short_side' must be an integer >= 8, got 96.0"),
    # a hand-edited "8" said "key 'frames' is 8, but config.num_frames is 8"
    (lambda m: m["config"].update(num_frames=str(m["frames"])),
     r"key 'frames' is \d+, but config.num_frames is '\d+'"),
    # and "3" said "key 'class_names' has 3 names, config.num_classes is 3"
    (lambda m: m["config"].update(num_classes=str(len(m["class_names"]))),
     r"key 'class_names' has \d+ names, config.num_classes is '\d+'"),
    # 10**7 frames (or pixels a side) would be decoded for every window
    (lambda m: (m.update(frames=10**7), m["config"].update(num_frames=10**7)),
     "key 'frames' must be a positive integer up to 1024, got 10000000"),
    (lambda m: (m.update(input_size=10**9), m["config"].update(input_size=10**9)),
     "key 'input_size' must be a positive integer up to 4096, got 1000000000"),
    (lambda m: (m.update(frame_stride=10**9), m["config"].update(frame_stride=10**9)),
     "key 'frame_stride' must be a positive integer up to 10000, got 1000000000"),
])
def test_more_damage_names_the_key(demo_model, tmp_path, change, needle):
    with pytest.raises(InputError, match=needle):
        read_contract(_copy(demo_model, tmp_path, change))


def test_model_json_nested_past_the_json_parser_is_not_valid_json(demo_model, tmp_path):
    folder = Path(shutil.copytree(demo_model, tmp_path / "model"))
    (folder / META_FILE).write_text('{"config": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match=r"model.json: not valid JSON \(maximum recursion "
                       "depth exceeded"):  # was a RecursionError
        read_contract(folder)


def test_an_integer_too_long_for_python_is_not_valid_json(demo_model, tmp_path):
    """json.loads raised a bare ValueError (Python's 4300-digit limit) out of every reader."""
    folder = Path(shutil.copytree(demo_model, tmp_path / "model"))
    text = (folder / META_FILE).read_text()
    (folder / META_FILE).write_text(text.replace('"frames": 8', '"frames": ' + "9" * 5000))
    with pytest.raises(InputError, match=r"model.json: not valid JSON \(Exceeds the limit"):
        read_contract(folder)


def test_the_contract_names_the_models_entities(demo_model):
    meta = json.loads((demo_model / META_FILE).read_text())
    assert read_contract(demo_model).entities == tuple(meta["entities"])
    assert len(meta["entities"]) == 6  # the demo preset's K


@pytest.mark.parametrize("fps", [0.0, -25.0, float("nan"), float("inf")])
def test_model_fps_must_be_a_positive_number(demo_model, fps):
    """NaN compares false with everything: unchecked, it would pass as agreeing."""
    with pytest.raises(InputError, match=f"--model-fps must be a positive number, got {fps}"):
        read_contract(demo_model, fps=fps)


def test_a_person_view_at_the_edges_of_its_ranges_is_read(demo_model, tmp_path):
    view = _person_view(margin=1, min_joint_confidence=0, source_short_side=8)
    folder = _copy(demo_model, tmp_path, lambda m: m.update(view=view))
    assert read_contract(folder).view == View("person", 1.0, 0.0, 8)


@pytest.mark.parametrize("old_view", [None, {"crop": "zoom"}])
def test_a_format_1_folder_that_does_not_say_how_it_cropped_is_refused(demo_model, tmp_path,
                                                                       old_view):
    def change(meta: dict) -> None:
        _as_format_1(meta)
        meta["metrics"]["view"] = old_view

    with pytest.raises(InputError, match="key 'metrics.view' is missing .*retrain"):
        read_contract(_copy(demo_model, tmp_path, change), fps=25.0)


def test_model_fps_must_equal_the_recorded_rate_to_rounding(demo_model):
    """"Must equal" as rates are written: a rate read back through a float passes, and so
    does 29.97 for 30000/1001 (NTSC rates are named to 4 digits, 1.0e-6 apart); 25.1 for 25
    and 25.003 (1.2e-4 apart) do not."""
    assert read_contract(demo_model, fps=25.0 + 1e-9).fps == 25.0
    assert read_contract(demo_model, fps=25.0 * (1 + 0.99e-4)).fps == 25.0
    with pytest.raises(InputError, match="--model-fps 25.1 contradicts it"):
        read_contract(demo_model, fps=25.1)
    with pytest.raises(InputError, match="at 25 fps; --model-fps 25.003 contradicts it"):
        read_contract(demo_model, fps=25.003)


def test_model_fps_names_an_ntsc_rate_as_it_is_written(demo_model, tmp_path):
    def change(meta: dict) -> None:
        meta["fps"] = 30000 / 1001

    folder = _copy(demo_model, tmp_path, change)
    assert read_contract(folder, fps=29.97).fps == 30000 / 1001
    with pytest.raises(InputError, match="at 29.97 fps; --model-fps 30 contradicts it"):
        read_contract(folder, fps=30.0)


def test_a_format_1_person_view_without_its_settings_gets_the_view_defaults(demo_model,
                                                                              tmp_path):
    def change(meta: dict) -> None:
        _as_format_1(meta)
        meta["metrics"]["view"] = {"crop": "person"}

    contract = read_contract(_copy(demo_model, tmp_path, change), fps=25.0)
    assert contract.view == View("person", source_short_side=2 * contract.input_size)
