"""The SEM's ROIAlign is torchvision's (aligned=True, sampling_ratio=2), forward and backward."""

import pytest
import torch
import torchvision

from microdualnet.model.sem import SpatialEntityModule, roi_align


def _reference(fmap, boxes, size, scale):
    n, k = boxes.shape[:2]
    frame = torch.arange(n, dtype=boxes.dtype).repeat_interleave(k)[:, None]
    rois = torch.cat([frame, boxes.reshape(-1, 4)], dim=1)
    out = torchvision.ops.roi_align(fmap, rois, size, spatial_scale=scale, sampling_ratio=2,
                                    aligned=True)
    return out.view(n, k, *out.shape[1:])


@pytest.mark.parametrize(("n", "k", "c", "h", "w", "size"),
                         [(6, 5, 8, 7, 7, 3), (4, 3, 16, 14, 10, 2), (2, 2, 4, 1, 5, 4)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_equals_torchvision_inside_across_and_outside_the_map(n, k, c, h, w, size, dtype):
    """Boxes from 60 px before the image to 90 px past it: some straddle the edge, some lie
    wholly outside (zeros), some are narrower than a feature cell; a 1-pixel-high map too."""
    gen = torch.Generator().manual_seed(n * 100 + h)
    fmap = torch.randn(n, c, h, w, dtype=dtype, generator=gen, requires_grad=True)
    corner = torch.rand(n, k, 2, dtype=dtype, generator=gen) * 300 - 60
    boxes = torch.cat([corner, corner + torch.rand(n, k, 2, dtype=dtype, generator=gen) * 150],
                      dim=-1)
    boxes[0, 0] = torch.tensor([400.0, 400.0, 450.0, 460.0])  # beyond the map: all zeros
    boxes[-1, -1] = torch.tensor([20.0, 30.0, 150.0, 200.0])  # inside
    scale = w / 224
    ours, ref = roi_align(fmap, boxes, size, scale), _reference(fmap, boxes, size, scale)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert ours.shape == (n, k, c, size, size)
    assert torch.allclose(ours, ref, atol=tol, rtol=0)
    assert ours[0, 0].abs().max() == 0
    weights = torch.randn(ref.shape, dtype=dtype, generator=gen)
    (grad_ours,) = torch.autograd.grad((ours * weights).sum(), fmap)
    (grad_ref,) = torch.autograd.grad((ref * weights).sum(), fmap)
    assert grad_ref.abs().sum() > 0
    assert torch.allclose(grad_ours, grad_ref, atol=tol, rtol=0)


@pytest.mark.parametrize(("image_size", "w"), [(64, 8), (112, 4), (320, 10)])
def test_sem_maps_input_pixels_onto_the_feature_map(image_size, w):
    """SEM crops each entity box at feature-map scale w / image_size (not a fixed 224):
    its features are those of torchvision's ROIAlign at that scale, through the same
    refinement, plus the entity embedding."""
    torch.manual_seed(0)
    b, t, k, c, size = 2, 3, 4, 5, 2
    sem = SpatialEntityModule(c, 8, k, size).eval()
    fmap = torch.randn(b * t, c, w, w)
    corner = torch.rand(b, t, k, 2) * image_size * 0.6
    boxes = torch.cat([corner, corner + 4 + torch.rand(b, t, k, 2) * image_size * 0.4], dim=-1)
    with torch.no_grad():
        ours = sem(fmap, boxes, image_size)
        crops = _reference(fmap, boxes.reshape(b * t, k, 4), size, w / image_size)
        ref = sem.refine(crops.reshape(b * t, k * c, size, size)).mean(dim=(2, 3))
        ref = ref.view(b, t, k, -1) + sem.entity_embedding
        wrong = sem.refine(_reference(fmap, boxes.reshape(b * t, k, 4), size, w / 224)
                           .reshape(b * t, k * c, size, size)).mean(dim=(2, 3))
    assert ours.shape == (b, t, k, 8)
    assert torch.allclose(ours, ref, atol=1e-5)
    assert not torch.allclose(ours, wrong.view(b, t, k, -1) + sem.entity_embedding, atol=1e-3)


def test_each_entity_has_its_own_encoder():
    """Eq. 2: x_{i,t} = E_i(ROIAlign(F_t, B_{i,t})) + p_i with E_i per entity: moving one
    entity's box changes that entity's feature only."""
    torch.manual_seed(0)
    sem = SpatialEntityModule(4, 8, 3, 2).eval()
    fmap = torch.randn(1, 4, 8, 8)
    boxes = torch.tensor([[[[0.0, 0, 32, 32], [16, 16, 48, 48], [32, 0, 64, 32]]]])
    moved = boxes.clone()
    moved[0, 0, 0] = torch.tensor([32.0, 32, 64, 64])
    with torch.no_grad():
        before, after = sem(fmap, boxes, 64), sem(fmap, moved, 64)
    assert not torch.allclose(before[0, 0, 0], after[0, 0, 0], atol=1e-4)
    assert torch.allclose(before[0, 0, 1:], after[0, 0, 1:])
