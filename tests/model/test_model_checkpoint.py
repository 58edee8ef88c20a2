from __future__ import annotations

import json
import pickle
import re
import struct
from pathlib import Path

import pytest
import torch
from model_testkit import random_inputs, tiny_config
from safetensors.torch import load_file, save_file

from microdualnet.contract import View, read_contract
from microdualnet.model import checkpoint
from microdualnet.model.checkpoint import (
    META_FILE,
    WEIGHTS_FILE,
    check_checkpoint,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from microdualnet.model.config import config_to_dict
from microdualnet.model.network import MicroDualNet
from microdualnet.windowplan import SamplingRule
from pipeio.errors import InputError


def trained_like(cfg=None) -> MicroDualNet:
    """A model whose BN statistics and weights differ from a fresh init."""
    cfg = cfg or tiny_config()
    model = MicroDualNet(cfg).train()
    video, kp = random_inputs(cfg, batch=2, seed=3)
    model(video, kp)  # updates BN running stats
    with torch.no_grad():
        model.router.prior.add_(torch.tensor([0.3, -0.3]))
    return model.eval()


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = trained_like()
    folder = save_checkpoint(model, tmp_path / "m", fps=25.0, view=View("full"),
                             class_names=["a", "b", "c"], body_map=[0, 0, 1],
                             metrics={"top1": 0.5})
    assert sorted(p.name for p in folder.iterdir()) == [META_FILE, WEIGHTS_FILE]
    loaded = load_checkpoint(folder, expected=model.cfg)
    assert not loaded.model.training
    video, kp = random_inputs(model.cfg, seed=7)
    with torch.no_grad():
        a, b = model(video, kp), loaded.model(video, kp)
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(a.routing, b.routing)
    meta = loaded.meta
    assert meta["class_names"] == ["a", "b", "c"]
    assert meta["body_map"] == [0, 0, 1]
    assert meta["metrics"] == {"top1": 0.5}
    assert meta["frames"] == 4 and meta["input_size"] == 64
    assert meta["normalisation"]["mean"] == [123.675, 116.28, 103.53]
    assert meta["entities"][0] == "head"


@pytest.mark.parametrize("preset", ["tiny", "demo"])
def test_a_loaded_model_holds_every_tensor_of_the_saved_one(tmp_path: Path, preset) -> None:
    """Loading builds without drawing weights: every parameter and buffer, persistent or
    computed, must still equal the saved model's, and torch.nn.init must work afterwards."""
    from microdualnet.model.config import make_config

    torch.manual_seed(0)
    model = trained_like(tiny_config() if preset == "tiny" else make_config("demo",
                                                                              num_classes=5))
    folder = save_checkpoint(model, tmp_path / "m", fps=25.0, view=View("full"))
    loaded = load_checkpoint(folder, expected=model.cfg).model
    mine = dict(loaded.named_buffers()) | dict(loaded.named_parameters())
    theirs = dict(model.named_buffers()) | dict(model.named_parameters())
    assert sorted(mine) == sorted(theirs) and "levels" in " ".join(mine)
    for name, tensor in theirs.items():
        assert torch.equal(mine[name], tensor), name
    weight = torch.zeros(3, 3)
    torch.nn.init.ones_(weight)
    assert torch.equal(weight, torch.ones(3, 3))


def test_config_mismatch_names_the_key(tmp_path: Path) -> None:
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    with pytest.raises(InputError, match="'dim' is 32.*48"):
        load_checkpoint(tmp_path, expected=tiny_config(dim=48))


def test_unknown_config_key_and_bad_files(tmp_path: Path) -> None:
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta["config"]["depth_multiplier"] = 2
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="'depth_multiplier'"):
        load_checkpoint(tmp_path)
    with pytest.raises(InputError, match="missing model.json"):
        read_meta(tmp_path / "nowhere")
    (tmp_path / META_FILE).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_meta(tmp_path)


def test_entities_that_the_config_does_not_build_are_refused(tmp_path: Path) -> None:
    """The windows files name their routing columns after model.json's entity list."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta["entities"] = meta["entities"][::-1]
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"key 'entities' is \['.*'\], but its config builds "
                       r"entities \['head'"):
        load_checkpoint(tmp_path)


def test_weights_that_do_not_fit_name_the_key(tmp_path: Path) -> None:
    model = MicroDualNet(tiny_config())
    save_checkpoint(model, tmp_path, fps=25.0, view=View("full"))
    state = load_file(str(tmp_path / WEIGHTS_FILE))
    state["router.prior"] = torch.zeros(3, 2)
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(InputError, match="'router.prior' has shape"):
        load_checkpoint(tmp_path)
    del state["router.prior"]
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(InputError, match="'router.prior' missing"):
        load_checkpoint(tmp_path)


def test_a_weight_the_model_does_not_have_is_refused(tmp_path: Path) -> None:
    """A file with an extra tensor is another model's (or a damaged one): both the loader and
    the no-weights check name the key, rather than dropping it or failing in torch."""
    model = MicroDualNet(tiny_config())
    save_checkpoint(model, tmp_path, fps=25.0, view=View("full"))
    check_checkpoint(tmp_path)  # the file as saved passes
    state = load_file(str(tmp_path / WEIGHTS_FILE))
    state["router.extra_prior"] = torch.zeros(3, 2)
    state["zz.bias"] = torch.zeros(2)
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    refused_by_load_and_check(
        tmp_path, r"model.safetensors: unexpected weight 'router.extra_prior' \(2 unexpected\)")


def refused_by_load_and_check(folder: Path, message: str) -> None:
    """The loader and the no-weights check refuse `folder` with the same message."""
    with pytest.raises(InputError, match=message):
        load_checkpoint(folder)
    with pytest.raises(InputError, match=message):
        check_checkpoint(folder)


def test_class_names_must_match(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="num_classes=3"):
        save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"),
                        class_names=["a"])


def test_json_holds_full_config(tmp_path: Path) -> None:
    cfg = tiny_config(num_entities=5, entity_source="fixed")
    save_checkpoint(MicroDualNet(cfg), tmp_path, fps=25.0, view=View("full"))
    assert read_meta(tmp_path)["config"] == config_to_dict(cfg)
    assert load_checkpoint(tmp_path).config == cfg


def test_save_refuses_a_contract_it_could_not_read_back(tmp_path: Path) -> None:
    """fps divides the sampling stride and body_map has one entry per class: a bad value is
    refused before anything is written (infinity would be written as non-standard JSON)."""
    model = MicroDualNet(tiny_config())
    for fps in (0.0, -25.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match=f"fps must be positive, got {fps}"):
            save_checkpoint(model, tmp_path / "m", fps=fps, view=View("full"))
    with pytest.raises(InputError, match="body_map has 2 entries, expected 3"):
        save_checkpoint(model, tmp_path / "m", fps=25.0, view=View("full"), body_map=[0, 1])
    for view, key in ((View("person", 0.9, 0.3, 128), "view.margin"),
                      (View("person", 1.5, 1.0, 128), "view.min_joint_confidence"),
                      (View("person", 1.5, 0.3, None), "view.source_short_side")):
        with pytest.raises(InputError, match=rf"model.json: key '{key}' must be"):
            save_checkpoint(model, tmp_path / "m", fps=25.0, view=view)
    assert not (tmp_path / "m").exists()


def test_model_json_records_the_contract_as_given(tmp_path: Path) -> None:
    """Each contract key comes from its own source: 4 frames, stride 3, 64 px, 12.5 fps and a
    person view are all different numbers, so a key filled from another cannot pass."""
    cfg = tiny_config(frame_stride=3)
    view = View("person", 1.25, 0.2, 160)
    save_checkpoint(MicroDualNet(cfg), tmp_path, fps=12.5, view=view, body_map=[2, 0, 1])
    contract = read_contract(tmp_path)
    assert (contract.fps, contract.frames, contract.frame_stride, contract.input_size) == (
        12.5, 4, 3, 64)
    assert contract.view == view
    assert contract.sampling_rule == SamplingRule(4, 3 / 12.5)
    assert contract.class_names == ("class_0", "class_1", "class_2")
    assert contract.entities == tuple(e.name for e in MicroDualNet(cfg).entities)
    meta = read_meta(tmp_path)
    assert meta["format"] == "microdualnet-model/2" and meta["body_map"] == [2, 0, 1]
    assert meta["normalisation"]["std"] == [58.395, 57.12, 57.375]  # ImageNet's, RGB 0-255
    assert meta["metrics"] == {}


def test_a_config_mismatch_names_the_first_differing_key(tmp_path: Path) -> None:
    """Keys are compared in the config's field order: num_classes comes before dim."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    with pytest.raises(InputError, match=r"config key 'num_classes' is 3, the requested model "
                       r"has 4 \(differing keys: \['num_classes', 'dim'\]\)"):
        load_checkpoint(tmp_path, expected=tiny_config(num_classes=4, dim=48))


def test_missing_weights_are_counted_and_the_first_named(tmp_path: Path) -> None:
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    state = load_file(str(tmp_path / WEIGHTS_FILE))
    gone = sorted(state)[-2:]
    for key in gone:
        del state[key]
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    refused_by_load_and_check(tmp_path, rf"weight '{re.escape(gone[0])}' missing \(2 missing\)")


def test_an_absent_or_truncated_weights_file_is_refused_before_torch(tmp_path: Path) -> None:
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    data = (tmp_path / WEIGHTS_FILE).read_bytes()
    (tmp_path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    for check in (load_checkpoint, check_checkpoint):
        with pytest.raises(InputError, match=r"model.safetensors is damaged or incomplete"):
            check(tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    for check in (load_checkpoint, check_checkpoint):
        with pytest.raises(InputError, match=r": missing model.safetensors"):
            check(tmp_path)


def _edit_config(folder: Path, change) -> None:
    meta = json.loads((folder / META_FILE).read_text())
    change(meta["config"])
    (folder / META_FILE).write_text(json.dumps(meta))


def test_a_config_key_missing_from_model_json_is_refused(tmp_path: Path) -> None:
    """A missing key took the paper preset's default: without norm_first the pre-LN demo
    model was rebuilt post-LN, its weights fitted, and its outputs were silently others."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    _edit_config(tmp_path, lambda cfg: cfg.pop("norm_first"))
    refused_by_load_and_check(
        tmp_path, r"model.json: key 'config.norm_first' is missing \(1 missing\)")


def test_a_bad_config_value_names_the_file_and_key(tmp_path: Path) -> None:
    """shift_every "2" ended in a TypeError inside the backbone; 0 silently meant the
    official shift rule."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    for value in ("2", 0, 1.5):
        _edit_config(tmp_path, lambda cfg, value=value: cfg.update(shift_every=value))
        refused_by_load_and_check(tmp_path, rf"model.json: model config shift_every="
                                            rf"{re.escape(repr(value))}: expected a whole number")


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int32, torch.int64,
                                   torch.bool])
def test_weights_of_another_dtype_are_refused(tmp_path: Path, dtype) -> None:
    """load_state_dict casts into the model's float32 silently (int or bool values, or
    half precision that no longer reproduces the recorded metrics)."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    state = load_file(str(tmp_path / WEIGHTS_FILE))
    state["router.prior"] = state["router.prior"].to(dtype)
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    name = str(dtype).removeprefix("torch.")
    refused_by_load_and_check(
        tmp_path, rf"model.safetensors: weight 'router.prior' is stored as {name}, the model "
                  r"expects float32")


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    """NaN weights (a diverged run) made every score NaN, which the metrics counted as the
    first class predicted for every clip."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    state = load_file(str(tmp_path / WEIGHTS_FILE))
    for bad in (float("nan"), float("inf")):
        state["classifier.3.bias"][1] = bad
        save_file(state, str(tmp_path / WEIGHTS_FILE))
        with pytest.raises(InputError, match=r"model.safetensors: weight 'classifier.3.bias' "
                                             r"holds NaN or infinite values"):
            load_checkpoint(tmp_path)


@pytest.mark.parametrize(("key", "value", "most"), [
    ("dim", 10**9, 16_384), ("num_layers", 10**9, 64), ("num_frames", 10**7, 1024),
    ("backbone_width", 10**9, 1024), ("ffn_dim", 10**9, 65_536), ("input_size", 10**9, 4096),
    ("roi_size", 10**6, 64), ("num_classes", 10**9, 100_000), ("frame_stride", 10**9, 10_000),
])
def test_an_absurd_size_in_model_json_is_refused_by_name(tmp_path: Path, key, value,
                                                         most) -> None:
    """A width or layer count of 10**9 hung or exhausted memory building the network; 10**7
    frames, a 10**9 px input or a 10**6 ROI loaded and would have been decoded or pooled."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    _edit_config(tmp_path, lambda cfg: cfg.update({key: value}))
    refused_by_load_and_check(tmp_path, rf"model.json: model config {key}={value}: must be at "
                                        rf"most {most}$")


@pytest.mark.parametrize(("key", "value", "weight", "saved", "built"), [
    ("num_classes", 100_000, "classifier.3.bias", (3,), (100_000,)),
    ("backbone_width", 1024, "backbone.bn1.bias", (16,), (1024,)),  # 2.4 GB if built
])
def test_sizes_the_weights_do_not_have_are_refused_before_the_model_is_built(
        tmp_path: Path, monkeypatch, key, value, weight, saved, built) -> None:
    """The first tensor whose header shape differs is named with both shapes, and the model
    is only built on the meta device: the loader built it for real first."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    _edit_config(tmp_path, lambda cfg: cfg.update({key: value}))
    devices = []

    def recording(cfg):
        devices.append(torch.get_default_device().type)
        with torch.device("meta"):  # whatever the caller asked: the test never allocates
            return MicroDualNet(cfg)

    monkeypatch.setattr(checkpoint, "MicroDualNet", recording)
    with pytest.raises(InputError):
        load_checkpoint(tmp_path)
    assert devices == ["meta"]
    refused_by_load_and_check(
        tmp_path, rf"model.safetensors: weight '{re.escape(weight)}' has shape "
                  rf"{re.escape(str(saved))}, the model .*model.json describes has "
                  rf"{re.escape(str(built))}$")


def test_the_check_and_the_load_of_one_job_build_the_model_on_meta_once(
        tmp_path: Path, monkeypatch) -> None:
    """`infer` checks its model up front and loads it later: one meta build serves both."""
    save_checkpoint(MicroDualNet(tiny_config()), tmp_path, fps=25.0, view=View("full"))
    devices = []

    def recording(cfg):
        devices.append(torch.get_default_device().type)
        return MicroDualNet(cfg)

    checkpoint._layout.cache_clear()
    monkeypatch.setattr(checkpoint, "MicroDualNet", recording)
    check_checkpoint(tmp_path)
    load_checkpoint(tmp_path, expected=tiny_config())
    assert devices == ["meta", "cpu"]


def _first_tensor_with(data: bytes, field: str, value: object) -> bytes:
    """`data` with one header field of its first tensor replaced (the tensor bytes kept)."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header[sorted(k for k in header if k != "__metadata__")[0]][field] = value
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + length:]


class _Marker:
    """Unpickling this touches a file: the proof that a pickle was never loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda data, marker: b"", "not a safetensors file"),
    (lambda data, marker: pickle.dumps({"router.prior": _Marker(marker)}),
     "not a safetensors file"),
    # fewer bytes than its shape needs; a shape far beyond its bytes
    (lambda data, marker: _first_tensor_with(data, "data_offsets", [0, 4]),
     "invalid shape, data type, or offset"),
    (lambda data, marker: _first_tensor_with(data, "shape", [10**9, 10**9]),
     "overflow computing buffer size"),
])
def test_a_weights_file_that_is_not_safetensors_is_refused_unread(tmp_path: Path, damage,
                                                                  message) -> None:
    """A zero-byte file, a pickle (never unpickled) and a header that lies about its tensors
    are each one line naming the file."""
    folder = tmp_path / "m"
    save_checkpoint(MicroDualNet(tiny_config()), folder, fps=25.0, view=View("full"))
    marker = tmp_path / "unpickled"
    (folder / WEIGHTS_FILE).write_bytes(damage((folder / WEIGHTS_FILE).read_bytes(), marker))
    refused_by_load_and_check(
        folder, rf"weights file .*model.safetensors is damaged or incomplete .*{message}")
    assert not marker.exists()
