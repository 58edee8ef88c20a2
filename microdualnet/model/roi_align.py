"""RoIAlign: torchvision's compiled kernel, called without importing the torchvision package.

`import torchvision` (or `torchvision.ops`) costs 1.5 s in every new process because its
`roi_align` module imports `torch._dynamo`; inference starts one process per participant.
The compiled library holds the same operator (CPU, CUDA and autocast kernels) and loads in
milliseconds. Where it cannot be found (another torchvision layout), torchvision's own
function is used: slower to import, same results.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch
from torch import Tensor


@cache
def _kernel() -> Callable[..., Tensor]:
    spec = importlib.util.find_spec("torchvision")  # finds the package without importing it
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    libraries = sorted(folder.glob("_C*.so")) if folder is not None else []
    if libraries:
        try:
            torch.ops.load_library(str(libraries[0]))
            op = torch.ops.torchvision.roi_align
        except (OSError, RuntimeError, AttributeError):
            op = None
        if op is not None:
            return lambda x, rois, scale, size, ratio, aligned: op(x, rois, scale, size, size,
                                                                    ratio, aligned)
    from torchvision.ops import roi_align

    return lambda x, rois, scale, size, ratio, aligned: roi_align(
        x, rois, size, spatial_scale=scale, sampling_ratio=ratio, aligned=aligned)


def roi_align(features: Tensor, rois: Tensor, output_size: int, spatial_scale: float,
              sampling_ratio: int, aligned: bool) -> Tensor:
    """`features [N, C, H, W]`, `rois [R, 5]` (batch index, x1, y1, x2, y2 in input pixels)
    -> `[R, C, output_size, output_size]`, as `torchvision.ops.roi_align`."""
    return _kernel()(features, rois, spatial_scale, output_size, sampling_ratio, aligned)
