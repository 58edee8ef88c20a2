"""The ResNet the backbone builds is torchvision's at width 64, and scales its stages by width."""

from __future__ import annotations

import pytest
import torch
import torchvision

import microdualnet.model.backbone as backbone
from microdualnet.model.resnet import ResNet


@pytest.mark.parametrize("depth", [10, 18, 50])
def test_the_standard_width_is_torchvisions_network_as_built(depth):
    """At width 64 a seed gives exactly torchvision's ResNet: names, shapes, initial values."""
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


@pytest.mark.parametrize(("depth", "expansion"), [(10, 1), (50, 4)])
def test_width_scales_every_stage_and_keeps_the_key_names(depth, expansion):
    narrow, standard = backbone.build_resnet(depth, 16), backbone.build_resnet(depth, 64)
    assert list(narrow.state_dict()) == list(standard.state_dict())
    assert narrow.conv1.out_channels == 16
    for i, stage in enumerate(backbone.STAGES):
        assert getattr(narrow, stage)[-1].bn1.num_features == 16 * 2**i
        assert getattr(narrow, stage)[-1].relu is not None
    assert narrow.fc.in_features == 16 * 8 * expansion
    out = narrow(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_each_depth_has_torchvisions_layout(depth):
    """The block counts per stage are torchvision's resnetN, so its checkpoints load."""
    with torch.device("meta"):
        ours = backbone.build_resnet(depth).state_dict()
        reference = getattr(torchvision.models, f"resnet{depth}")().state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [
        (k, v.shape) for k, v in reference.items()]
