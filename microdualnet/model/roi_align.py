"""RoIAlign: torchvision's compiled kernel, called without importing the torchvision package.

`import torchvision` (or `torchvision.ops`) costs 1.5 s in every new process because its
`roi_align` module imports `torch._dynamo`; inference starts one process per participant.
The compiled library holds the same forward operator (CPU, CUDA and autocast kernels) and
loads in milliseconds, but its backward is registered by torchvision's Python package: when
a gradient is wanted (training), torchvision's own function is used, imported once: backward
through the bare operator would silently give the backbone no gradient from the entity
features, which changes what training learns (a test checks that the gradient arrives).
Where the library cannot be found (another torchvision layout), torchvision's function is
used throughout.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch
from torch import Tensor


@cache
def _torchvision() -> Callable[..., Tensor]:
    from torchvision.ops import roi_align

    return lambda x, rois, scale, size, ratio, aligned: roi_align(
        x, rois, size, spatial_scale=scale, sampling_ratio=ratio, aligned=aligned)


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
    return _torchvision()


def roi_align(features: Tensor, rois: Tensor, output_size: int, spatial_scale: float,
              sampling_ratio: int, aligned: bool) -> Tensor:
    """`features [N, C, H, W]`, `rois [R, 5]` (batch index, x1, y1, x2, y2 in input pixels)
    -> `[R, C, output_size, output_size]`, as `torchvision.ops.roi_align`."""
    wants_grad = torch.is_grad_enabled() and (features.requires_grad or rois.requires_grad)
    kernel = _torchvision() if wants_grad else _kernel()
    return kernel(features, rois, spatial_scale, output_size, sampling_ratio, aligned)
