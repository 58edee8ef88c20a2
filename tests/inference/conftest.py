"""Shared fixtures: a tiny synthetic cohort, a random demo model, its pose and windows files.

Session-scoped so the whole inference suite builds them once (a few seconds on one core).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from inference_testkit import FPS, HEIGHT, MODEL_FPS, SECONDS, WIDTH

from microdualnet.cli import main


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 participants (one per group), 8 s at 10 fps, 96x72, with OpenPose JSON and truth."""
    out = tmp_path_factory.mktemp("cohort") / "cohort"
    assert main(["synth", "cohort", "--out", str(out), "--per-group", "1", "--seconds",
                 str(SECONDS), "--fps", str(FPS), "--width", str(WIDTH), "--height",
                 str(HEIGHT), "--seed", "3", "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="session")
def participants(cohort: Path) -> pd.DataFrame:
    return pd.read_csv(cohort / "participants.tsv", sep="\t", dtype={"participant_id": str})


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised demo-preset model over the synthetic classes + background."""
    import torch

    from microdualnet.contract import View
    from microdualnet.model.checkpoint import save_checkpoint
    from microdualnet.model.config import make_config
    from microdualnet.model.network import MicroDualNet
    from microdualnet.synthetic.actions import ACTIONS, BACKGROUND_NAME

    names = [a.name for a in ACTIONS] + [BACKGROUND_NAME]
    torch.manual_seed(0)
    model = MicroDualNet(make_config("demo", num_classes=len(names)))
    return save_checkpoint(model, tmp_path_factory.mktemp("model") / "demo", fps=MODEL_FPS,
                           view=View("full"), class_names=names)


@pytest.fixture(scope="session")
def poses(cohort: Path, participants: pd.DataFrame,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pose files of every participant from the cohort's OpenPose JSON."""
    from microdualnet.pose.extract import extract_pose

    out = tmp_path_factory.mktemp("pose")
    paths = {}
    for pid, video in zip(participants["participant_id"], participants["video"], strict=True):
        paths[pid] = out / f"{pid}.npz"
        extract_pose("openpose", cohort / video, paths[pid], openpose_dir=cohort / "openpose" / pid,
                     progress=False)
    return paths


@pytest.fixture(scope="session")
def windows(cohort: Path, participants: pd.DataFrame, demo_model: Path, poses: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Windows Parquet of every participant, through the `infer` CLI (one thread)."""
    out = tmp_path_factory.mktemp("windows")
    paths = {}
    for pid, video in zip(participants["participant_id"], participants["video"], strict=True):
        paths[pid] = out / f"{pid}.parquet"
        assert main(["infer", "--model", str(demo_model), "--video", str(cohort / video),
                     "--pose", str(poses[pid]), "--out", str(paths[pid]), "--threads", "1",
                     "--batch-size", "5", "--no-progress"]) == 0
    return paths
