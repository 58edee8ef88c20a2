"""The ResNet and RoIAlign the model uses equal torchvision's, without importing torchvision."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision
from torchvision.ops import roi_align as tv_roi_align

import microdualnet.model.backbone as backbone
from microdualnet.model.resnet import ResNet
from microdualnet.model.roi_align import roi_align


@pytest.mark.parametrize("depth", [10, 18, 50])
@pytest.mark.parametrize("width", [64, 16])
def test_a_seed_builds_the_same_backbone_as_torchvision(monkeypatch, depth, width):
    """Same names, shapes and initial values (so training from a seed is unchanged)."""
    torch.manual_seed(3)
    ours = backbone.build_resnet(depth, width)
    next_draw = torch.rand(1)  # the random stream after building is the same too
    tv = torchvision.models.resnet
    monkeypatch.setattr(backbone, "ResNet", tv.ResNet)
    monkeypatch.setattr(backbone, "_LAYOUTS", {
        d: ({"BasicBlock": tv.BasicBlock, "Bottleneck": tv.Bottleneck}[b.__name__], n)
        for d, (b, n) in backbone._LAYOUTS.items()})
    torch.manual_seed(3)
    reference = backbone.build_resnet(depth, width)
    assert torch.equal(torch.rand(1), next_draw)
    mine, theirs = ours.state_dict(), reference.state_dict()
    assert list(mine) == list(theirs)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


@pytest.mark.parametrize("depth", [10, 18, 50])
def test_the_standard_width_is_torchvisions_network_as_built(depth):
    """At width 64 a seed gives exactly torchvision's own ResNet, nothing rebuilt after."""
    tv = torchvision.models.resnet
    block, layers = backbone._LAYOUTS[depth]
    torch.manual_seed(5)
    ours = backbone.build_resnet(depth, 64).state_dict()
    torch.manual_seed(5)
    reference = tv.ResNet({"BasicBlock": tv.BasicBlock, "Bottleneck": tv.Bottleneck}[
        block.__name__], layers).state_dict()
    assert list(ours) == list(reference)
    assert all(torch.equal(ours[k], reference[k]) for k in ours)


@pytest.mark.parametrize("depth", [18, 50])
def test_forward_equals_torchvisions(depth):
    block, layers = backbone._LAYOUTS[depth]
    ours = ResNet(block, layers).eval()
    reference = getattr(torchvision.models, f"resnet{depth}")().eval()
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [2, 0])
def test_roi_align_equals_torchvisions(aligned, ratio):
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(3, 5, 14, 14, generator=gen)
    corners = torch.rand(7, 2, 2, generator=gen) * 56
    boxes = torch.cat([corners.min(1).values, corners.max(1).values], 1)
    rois = torch.cat([torch.randint(0, 3, (7, 1), generator=gen).float(), boxes], 1)
    expected = tv_roi_align(features, rois, 3, spatial_scale=0.25, sampling_ratio=ratio,
                            aligned=aligned)
    assert torch.equal(roi_align(features, rois, 3, 0.25, ratio, aligned), expected)


def test_loading_and_running_a_model_imports_neither_torchvision_nor_dynamo(tmp_path):
    """Both cost 1.5 s in every new process, i.e. for every participant's inference (a model
    built under `torch.device("meta")` pulls in torch._dynamo too)."""
    from microdualnet.contract import View
    from microdualnet.model.checkpoint import save_checkpoint
    from microdualnet.model.config import make_config
    from microdualnet.model.network import MicroDualNet

    save_checkpoint(MicroDualNet(make_config("demo", num_classes=3, num_frames=2)), tmp_path,
                    fps=25.0, view=View("full"))
    code = ("import sys, torch\n"
            "from microdualnet.model.checkpoint import load_checkpoint\n"
            f"model = load_checkpoint({str(tmp_path)!r}).model\n"
            "kp = torch.rand(1, 2, 25, 3) * torch.tensor([100., 100., 1.])\n"
            "with torch.no_grad(): model(torch.randn(1, 2, 3, 112, 112), kp)\n"
            "print(sorted(m for m in ('torchvision', 'torch._dynamo') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("preset", ["demo", "paper"])
def test_a_model_built_for_loading_has_the_same_weights_layout(preset):
    """`loading=True` skips the full-width detour; a checkpoint must fit either build."""
    from microdualnet.model.config import make_config
    from microdualnet.model.network import MicroDualNet

    cfg = make_config(preset, num_classes=5)
    trained, loading = MicroDualNet(cfg).state_dict(), MicroDualNet(cfg, loading=True).state_dict()
    assert [(k, v.shape) for k, v in trained.items()] == [(k, v.shape) for k, v in loading.items()]


def test_roi_align_gradients_equal_torchvisions():
    """Training needs the backward, which torchvision registers from Python."""
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(2, 4, 10, 10, generator=gen, requires_grad=True)
    rois = torch.tensor([[0, 2.0, 3.0, 30.0, 25.0], [1, 0.0, 0.0, 39.0, 39.0]])
    roi_align(features, rois, 2, 0.25, 2, True).square().sum().backward()
    ours = features.grad.clone()
    features.grad = None
    tv_roi_align(features, rois, 2, spatial_scale=0.25, sampling_ratio=2,
                 aligned=True).square().sum().backward()
    assert ours.abs().sum() > 0 and torch.equal(ours, features.grad)
