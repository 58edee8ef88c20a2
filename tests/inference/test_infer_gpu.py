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


def test_autocast_only_on_cuda_in_bfloat16_where_supported(monkeypatch):
    import contextlib
    import warnings

    assert isinstance(runner._autocast(torch.device("cpu")), contextlib.nullcontext)
    for supported, dtype in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no CUDA here: autocast says it is disabled
            cast = runner._autocast(torch.device("cuda"))
        assert isinstance(cast, torch.autocast)
        assert (cast.device, cast.fast_dtype) == ("cuda", dtype)


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("device", "normalised"), [("cpu", True), ("cuda", False)])
def test_loaders_send_uint8_frames_to_a_gpu_and_the_input_to_a_cpu(
        cohort, poses, demo_model, monkeypatch, device, normalised):
    """A quarter of the bytes cross to a GPU, normalised there; a CPU model gets its input."""
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["normalised"])
        raise _Stop

    monkeypatch.setattr(runner, "resolve_device", lambda name: torch.device(name))
    monkeypatch.setattr(runner, "WindowBatches", spy)
    with pytest.raises(_Stop):
        _table(cohort, poses, demo_model, device, 0)
    assert seen == [normalised]


@pytest.mark.parametrize("fault", ["dropped", "twice"])
def test_windows_lost_or_doubled_between_loader_and_model_are_an_error(
        cohort, poses, demo_model, monkeypatch, fault):
    """A batch lost (or one handed over twice in place of another) must not leave windows
    with uninitialised values in the file."""
    real = runner.load_batches

    def faulty(batches, workers):
        got = list(real(batches, workers))
        sizes = [len(b.windows) for b in got]
        if fault == "dropped":
            return got[:-1]
        k = next(k for k in range(1, len(got)) if sizes[k] == sizes[k - 1])
        return [*got[:k], got[k - 1], *got[k + 1:]]  # as many windows, one batch twice

    monkeypatch.setattr(runner, "load_batches", faulty)
    with pytest.raises(RuntimeError, match=r"inference of .*sub-001.mp4: \d+ of \d+ windows "
                                           r"came back from the loader"):
        _table(cohort, poses, demo_model, "cpu", 0)
