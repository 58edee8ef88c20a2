"""The train -> infer contract: what training records in model.json is what inference applies.

One clip through the training evaluation path and through `infer` (the clip as a video of one
window) gives the same class probabilities, for a full-view and a person-view model.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from microdualnet.contract import View, read_contract
from microdualnet.data import ma52
from microdualnet.inference.runner import InferenceOptions, run_inference
from microdualnet.model.checkpoint import load_checkpoint
from microdualnet.pose.extract import extract_pose
from microdualnet.training.badclips import BadClips
from microdualnet.training.loop import build_datasets, load_data, make_loader, predict, train
from microdualnet.video import probe
from pipeio.errors import InputError
from pipeio.windows import PROB_PREFIX


@pytest.fixture(scope="module", params=["full", "person"])
def trained(request, tiny_clips, make_config, tmp_path_factory):
    cfg = make_config(tiny_clips, optim={"epochs": 1}, data={"view": request.param})
    out = tmp_path_factory.mktemp(f"model-{request.param}")
    train(cfg, out)
    return cfg, out


def test_model_json_records_the_measured_frame_rate_and_the_view(trained):
    cfg, out = trained
    contract = read_contract(out)
    assert contract.fps == 8.0  # the clips' rate, measured: tiny_clips are made at 8 fps
    assert contract.view.kind == cfg.data.view
    assert (contract.frames, contract.frame_stride, contract.input_size) == (4, 2, 48)
    if cfg.data.view == "person":
        assert contract.view.margin == cfg.data.margin
        assert contract.view.source_short_side == 96


@pytest.mark.parametrize(("change", "needle"), [
    ({"min_joint_confidence": 1.0}, r"key 'view.min_joint_confidence' must be within \[0, 1\)"),
    ({"min_joint_confidence": -0.1}, r"key 'view.min_joint_confidence' .* got -0.1"),
    ({"source_short_side": 4}, r"key 'view.source_short_side' must be an integer >= 8, got 4"),
    ({"source_short_side": 96.0}, r"key 'view.source_short_side' .* got 96.0"),
])
def test_a_person_view_out_of_range_names_the_key(trained, tmp_path, change, needle):
    """Inference would crop with what training never used (no joint passes a threshold of
    1; a few-pixel source frame), so model.json is refused where it is read."""
    _, out = trained
    folder = shutil.copytree(out, tmp_path / "model")
    meta = json.loads((folder / "model.json").read_text())
    meta["view"] = {**View("person", 1.5, 0.3, 96).to_json(), **change}
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=needle):
        read_contract(folder)


def test_a_clip_through_infer_equals_the_training_evaluation(trained, tmp_path):
    cfg, out = trained
    data = load_data(cfg, BadClips(0))
    model = load_checkpoint(out)
    datasets, workers = build_datasets(cfg, data, model.config)
    records = data.splits["test"]
    scores, labels, _ = predict(model.model, make_loader(datasets["test"], 8, workers, False, 0),
                             torch.device("cpu"), False, BadClips(0), "test")
    assert len(scores) == len(records)
    names = read_contract(out).class_names
    for i in (0, len(records) - 1):
        rec = records[i]
        info = probe(rec.video)
        pose = tmp_path / f"{rec.name}.npz"
        extract_pose("openpose", rec.video, pose, openpose_dir=rec.pose_dir, progress=False)
        opts = InferenceOptions(window_s=info.duration_s, hop_s=info.duration_s, batch_size=1,
                                device="cpu", progress=False, workers=0,
                                min_pose_fraction=0.0)
        table = run_inference(out, rec.video, pose, opts).table
        assert len(table) == 1 and table["valid"].all()
        got = table[[PROB_PREFIX + c for c in names]].to_numpy(np.float32)[0]
        np.testing.assert_allclose(got, scores[i], rtol=0, atol=2e-5)


def test_clips_at_different_frame_rates_are_refused(tiny_clips, tmp_path):
    from microdualnet.data.framerate import training_fps
    from microdualnet.video import write_mp4
    from pipeio.errors import InputError

    records = ma52.read_split(tiny_clips, "train", ma52.label_map_for(tiny_clips))[0]
    other = tmp_path / "other.mp4"
    write_mp4(other, [np.zeros((48, 64, 3), np.uint8)] * 10, 25.0, 64, 48)
    assert training_fps(records) == 8.0
    with pytest.raises(InputError, match=r"differ in frame rate.*8 fps.*other.mp4 is 25 fps"):
        training_fps([*records, type(records[0])("x", other, 0)])
