from __future__ import annotations

import pytest
import torch
from model_testkit import random_inputs, tiny_config

from microdualnet.model.losses import compute_loss
from microdualnet.model.network import MicroDualNet


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_mixed_precision_step() -> None:
    cfg = tiny_config()
    model = MicroDualNet(cfg).cuda().train()
    video, kp = (x.cuda() for x in random_inputs(cfg))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(video, kp)
        terms = compute_loss(out, torch.tensor([0, 1], device="cuda"), cfg)
    terms.total.backward()
    assert torch.isfinite(terms.total)
    assert out.boxes.device.type == "cuda"
    assert all(p.grad is not None for p in model.parameters())
