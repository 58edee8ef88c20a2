"""Windowed inference on a GPU gives the CPU's windows (mixed precision, so within 0.02)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microdualnet.inference.runner import InferenceOptions, run_inference


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("workers", [0, 2])
def test_cuda_windows_match_the_cpu(cohort, poses, demo_model, workers):
    def table(device, workers):
        opts = InferenceOptions(batch_size=4, device=device, progress=False, workers=workers)
        return run_inference(demo_model, cohort / "videos/sub-001.mp4", poses["sub-001"],
                             opts).table

    cpu, gpu = table("cpu", 1), table("cuda", workers)
    assert cpu["valid"].equals(gpu["valid"]) and cpu["valid"].any()
    values = [c for c in cpu.columns if c.startswith(("prob_", "route_"))]
    np.testing.assert_allclose(gpu[values].to_numpy(), cpu[values].to_numpy(), atol=0.02)
