"""TSM ResNet backbone: a torchvision-layout ResNet with residual temporal shift (paper III-B)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from microdualnet.model.config import ModelConfig
from microdualnet.model.resnet import BasicBlock, Bottleneck, ResNet
from microdualnet.model.temporal_shift import TemporalShift

# Blocks per stage; 10 is the small BasicBlock ResNet used by the demo preset.
_LAYOUTS: dict[int, tuple[type[nn.Module], list[int]]] = {
    10: (BasicBlock, [1, 1, 1, 1]),
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
}
STAGES: tuple[str, ...] = ("layer1", "layer2", "layer3", "layer4")


def build_resnet(depth: int, width: int = 64) -> ResNet:
    """A randomly initialised ResNet in torchvision's layout (never downloads weights).

    `width` scales the stage widths (width, 2w, 4w, 8w); 64 is the standard network whose
    keys and shapes match torchvision/TSM checkpoints.
    """
    block, layers = _LAYOUTS[depth]
    return ResNet(block, layers, width=width)


def resnet_depth(block: type[nn.Module], blocks: tuple[int, ...]) -> int | None:
    """The depth of a ResNet of this block type and blocks per stage (None: not one we build)."""
    return next((depth for depth, (kind, layers) in _LAYOUTS.items()
                 if kind is block and tuple(layers) == blocks), None)


def official_shift_every(net: ResNet) -> int:
    """The official TSM rule: shift every second block when stage 3 has 23+ blocks (ResNet-101)."""
    return 2 if len(net.layer3) >= 23 else 1


class TSMBackbone(nn.Module):
    """ResNet stem and four stages with temporal shift; no classifier.

    Submodule names equal torchvision's (`conv1`, `bn1`, `layer1`...), with shifted convs
    wrapped as `conv1.net`, so checkpoint keys map one-to-one.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        net = build_resnet(cfg.backbone_depth, cfg.backbone_width)
        every = cfg.shift_every or official_shift_every(net)
        for stage in STAGES:
            for i, block in enumerate(getattr(net, stage)):
                if i % every == 0:
                    block.conv1 = TemporalShift(block.conv1, cfg.num_frames, cfg.shift_div)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4)
        self.out_channels: int = net.layer4[-1].expansion * 8 * cfg.backbone_width

    def forward(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """`video [B, T, 3, H, W]` -> (last feature map `[B*T, C, H/32, W/32]`, GAP feature `[B, C]`).

        The global feature averages over space and then frames (TSM's average consensus).
        Channels-last layout: about 30% faster on CPU for the small demo network (its
        max-pool and convs), no slower for ResNet-101.
        """
        b, t = video.shape[:2]
        x = video.reshape(b * t, *video.shape[2:]).contiguous(memory_format=torch.channels_last)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        fmap = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        pooled = torch.mean(fmap, dim=(2, 3)).view(b, t, -1).mean(dim=1)
        return fmap, pooled
