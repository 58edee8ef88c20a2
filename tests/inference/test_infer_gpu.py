"""Windowed inference on a GPU gives the CPU's windows (mixed precision, so within 0.02)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microdualnet.inference import runner
from microdualnet.inference.loader import _normalise_arithmetic
from microdualnet.inference.runner import InferenceOptions, run_inference


def _table(cohort, poses, demo_model, device, workers):
    opts = InferenceOptions(batch_size=4, device=device, progress=False, workers=workers)
    return run_inference(demo_model, cohort / "videos/sub-001.mp4", poses["sub-001"],
                         opts).table


def _assert_close(gpu, cpu):
    assert cpu["valid"].equals(gpu["valid"]) and cpu["valid"].any()
    values = [c for c in cpu.columns if c.startswith(("prob_", "route_"))]
    np.testing.assert_allclose(gpu[values].to_numpy(), cpu[values].to_numpy(), atol=0.02)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("workers", [0, 2])
def test_cuda_windows_match_the_cpu(cohort, poses, demo_model, workers):
    cpu = _table(cohort, poses, demo_model, "cpu", 1)
    _assert_close(_table(cohort, poses, demo_model, "cuda", workers), cpu)


@pytest.mark.parametrize("workers", [0, 2])
def test_the_gpu_branch_on_the_cpu(cohort, poses, demo_model, workers, monkeypatch):
    """What only a GPU run goes through, on the CPU so that it is tested everywhere: uint8
    batches from the loaders, normalised by arithmetic where the model runs, and the model
    under bfloat16 autocast (its outputs must leave as float32: numpy has no bfloat16)."""
    cpu = _table(cohort, poses, demo_model, "cpu", 1)

    class AsForAGpu(runner.WindowBatches):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **{**kwargs, "normalised": False})

    seen = []

    def normalise(video: torch.Tensor) -> torch.Tensor:
        seen.append(video.dtype)
        return _normalise_arithmetic(video)

    monkeypatch.setattr(runner, "WindowBatches", AsForAGpu)
    monkeypatch.setattr(runner, "normalise_video", normalise)
    monkeypatch.setattr(runner, "_autocast",
                        lambda device: torch.autocast("cpu", dtype=torch.bfloat16))
    _assert_close(_table(cohort, poses, demo_model, "cpu", workers), cpu)
    assert seen and set(seen) == {torch.uint8}
