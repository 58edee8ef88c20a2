"""Tiny synthetic clip sets in the MA-52 layout and a matching training config, made once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from microdualnet.cli import main as cli_main
from microdualnet.data import ma52
from microdualnet.training.config import TrainConfig, parse_config

CLASSES = "nodding,covering face"


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory) -> Path:
    """3 classes (2 + background), 4/2/2 clips per class (balanced), 64x48 at 8 fps."""
    root = tmp_path_factory.mktemp("clips") / "set"
    rc = cli_main(["synth", "clips", "--out", str(root), "--classes", CLASSES,
                   "--train-per-class", "4", "--val-per-class", "2", "--test-per-class", "2",
                   "--width", "64", "--height", "48", "--fps", "8", "--min-seconds", "1",
                   "--max-seconds", "1.5", "--background-factor", "1", "--workers", "1",
                   "--seed", "3"])
    assert rc == 0
    return root


@pytest.fixture
def clips_copy(tiny_clips, tmp_path) -> Path:
    """A private copy a test may damage."""
    return Path(shutil.copytree(tiny_clips, tmp_path / "set"))


def tiny_config(root: Path, **changes) -> TrainConfig:
    """Demo preset shrunk to seconds per epoch; `changes` are top-level or section dicts."""
    data = {
        "seed": 1, "device": "cpu", "threads": 1, "progress": False,
        "data": {"root": str(root), "workers": 0, "cache": False},
        "model": {"preset": "demo", "overrides": {"num_frames": 4, "frame_stride": 2,
                                                  "input_size": 48}},
        "optim": {"epochs": 3, "batch_size": 4, "eval_batch_size": 8, "lr": 0.02,
                  "warmup_epochs": 1, "warmup_start_lr": 0.002},
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data)


@pytest.fixture(scope="session")
def make_config():
    return tiny_config


def damage_clips(root: Path) -> list:
    """Break the first four train clips in the four ways a dataset goes bad; return records."""
    records = ma52.read_split(root, "train", ma52.label_map_for(root))[0]
    records[0].video.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    records[1].video.unlink()
    for f in records[2].pose_dir.iterdir():
        f.write_text('{"version":1.3,"people":[]}')
    for f in records[3].pose_dir.iterdir():  # truncated array in every frame
        f.write_text('{"version":1.3,"people":[{"pose_keypoints_2d":[1.0,2.0,0.5]}]}')
    return records


@pytest.fixture(scope="session")
def damage():
    return damage_clips


def clip_as_long_video(clips: Path, root: Path) -> None:
    """iMiGUE layout from one synthetic test clip: `root/videos/0001.mp4` and its OpenPose
    JSON in `root/pose/0001/` (the caller writes the split's CSV of segments)."""
    rec = ma52.read_split(clips, "test", ma52.label_map_for(clips))[0][0]
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "0001.mp4").write_bytes(rec.video.read_bytes())
    pose = root / "pose" / "0001"
    pose.mkdir(parents=True)
    for f in rec.pose_dir.iterdir():
        (pose / f.name.replace(rec.name, "0001")).write_bytes(f.read_bytes())


@pytest.fixture(scope="session")
def long_video():
    return clip_as_long_video
