"""Body-relative joint features, the pose embedding of the full model and pre-LN layers."""

from __future__ import annotations

import math

import pytest
import torch
from model_testkit import random_inputs, tiny_config

from microdualnet.body25 import INDEX
from microdualnet.model.config import make_config
from microdualnet.model.network import MicroDualNet
from microdualnet.model.sem import body_frame, joint_features
from microdualnet.model.transformer_blocks import (
    EncoderLayer,
    SpatialTransformer,
    TemporalTransformer,
    sinusoidal_encoding,
)
from pipeio.errors import InputError


def _clip(batch: int = 2, frames: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(batch, frames, 25, 3, generator=g)
    kp[..., :2] = kp[..., :2] * 40 + 30
    kp[..., 2] = kp[..., 2] * 0.6 + 0.35  # all confident
    return kp


def test_features_ignore_where_the_body_is_and_how_large() -> None:
    kp = _clip()
    moved = kp.clone()
    moved[..., :2] = kp[..., :2] * 1.7 + torch.tensor([12.0, -9.0])
    a = joint_features(kp, 0.3, 112)
    b = joint_features(moved, 0.3, 112)
    assert torch.allclose(a, b, atol=1e-5)


def test_body_frame_is_the_mean_neck_and_torso_length() -> None:
    kp = _clip(batch=1)
    origin, scale = body_frame(kp, 0.3, 112)
    neck, hip = kp[0, :, INDEX["Neck"], :2], kp[0, :, INDEX["MidHip"], :2]
    assert torch.allclose(origin[0], neck.mean(0))
    assert torch.allclose(scale[0, 0], (neck - hip).norm(dim=-1).mean())


def test_features_separate_posture_motion_and_unseen_joints() -> None:
    kp = _clip(batch=1)
    wrist = INDEX["RWrist"]
    kp[0, :, wrist, 1] = kp[0, 0, wrist, 1] + torch.tensor([0.0, 4, 0, 4, 0, 4])  # a rhythm
    kp[0, 2, INDEX["LEar"]] = 0.0  # missed in one frame
    f = joint_features(kp, 0.3, 112)[0]
    _, scale = body_frame(kp, 0.3, 112)
    # Posture (window mean) is the same in every frame; deviation alternates; RMS is its size.
    assert torch.allclose(f[:, wrist, :2], f[:1, wrist, :2].expand(6, 2))
    dev_y = f[:, wrist, 3]
    assert torch.allclose(dev_y, 5 * torch.tensor([-2.0, 2, -2, 2, -2, 2]) / scale[0, 0],
                          atol=1e-4)
    assert torch.allclose(f[:, wrist, 5], dev_y.abs())
    assert torch.all(f[2, INDEX["LEar"]] == 0)
    assert torch.allclose(f[:, INDEX["Nose"], 6], kp[0, :, INDEX["Nose"], 2])


def test_posture_and_rhythm_count_only_the_frames_a_joint_is_seen_in() -> None:
    """A wrist seen in frames 0-3 (y alternating +-2 px about its mean) and missed in 4-5:
    posture is the mean over the 4 seen frames, the RMS deviation that of those frames
    (5 x 2 px / torso), not diluted by the misses; a joint at exactly the threshold (0.3)
    counts as missed, all its features 0."""
    kp = _clip(batch=1)
    wrist, ear = INDEX["RWrist"], INDEX["LEar"]
    x0, y0 = kp[0, 0, wrist, 0].item(), kp[0, 0, wrist, 1].item()
    kp[0, :4, wrist, 0] = x0
    kp[0, :4, wrist, 1] = y0 + torch.tensor([0.0, 4, 0, 4])
    kp[0, 4:, wrist] = 0.0
    kp[0, 1, ear, 2] = 0.3
    f = joint_features(kp, 0.3, 112)[0]
    origin, scale = body_frame(kp, 0.3, 112)
    s = scale[0, 0]
    posture = (torch.tensor([x0, y0 + 2]) - origin[0]) / s
    assert torch.allclose(f[:4, wrist, :2], posture.expand(4, 2), atol=1e-5)
    assert torch.allclose(f[:4, wrist, 3], 5 * torch.tensor([-2.0, 2, -2, 2]) / s, atol=1e-4)
    assert torch.allclose(f[:4, wrist, 5], torch.full((4,), 10.0) / s, atol=1e-4)
    assert torch.all(f[4:, wrist] == 0)
    assert torch.all(f[1, ear] == 0) and torch.all(f[0, ear, 6] > 0.3)


def test_undetected_person_gives_finite_features() -> None:
    kp = torch.zeros(1, 4, 25, 3)
    f = joint_features(kp, 0.3, 112)
    assert torch.all(f == 0)


def test_pose_embedding_makes_the_full_model_use_the_joints() -> None:
    cfg = tiny_config(dropout=0.0, routing_dropout=0.0, classifier_dropout=0.0)
    assert cfg.pose_embedding and cfg.uses_keypoints
    model = MicroDualNet(cfg).eval()
    video, kp = random_inputs(cfg)
    moved = kp.clone()
    # Elbow and wrist swapped: the same boxes and confidences (the ROI features see the same
    # pixels), a different arm posture that only the pose embedding can tell apart.
    elbow, wrist = INDEX["RElbow"], INDEX["RWrist"]
    moved[0, :, [elbow, wrist]] = kp[0, :, [wrist, elbow]]
    with torch.no_grad():
        boxes, moved_boxes = model._boxes(kp, video), model._boxes(moved, video)
        assert all(torch.equal(x, y) for x, y in zip(boxes, moved_boxes, strict=True))
        a, b = model(video, kp).logits, model(video, moved).logits
    assert not torch.allclose(a[0], b[0])
    assert torch.allclose(a[1], b[1])


def test_rgb_variants_and_the_paper_preset_have_no_pose_embedding() -> None:
    assert not make_config("paper").pose_embedding
    assert not make_config("paper").norm_first
    for variant in ("rgb-only", "centre-crop"):
        cfg = make_config("demo", variant)
        assert not cfg.pose_embedding and not cfg.uses_keypoints
        assert not hasattr(MicroDualNet(cfg), "pose")


def test_pre_ln_layer_keeps_the_input_on_an_identity_path() -> None:
    torch.manual_seed(0)
    pre = EncoderLayer(16, 4, 32, 0.0, norm_first=True).eval()
    post = EncoderLayer(16, 4, 32, 0.0, norm_first=False).eval()
    post.load_state_dict(pre.state_dict())
    x = torch.randn(3, 5, 16) * 10
    with torch.no_grad():
        for lin in (pre.ffn[0], pre.ffn[3], pre.attn.out_proj):
            lin.weight.zero_()
            lin.bias.zero_()
        post.load_state_dict(pre.state_dict())
        # With the residual branches silenced, pre-LN is the identity; post-LN normalises.
        assert torch.allclose(pre(x), x)
        assert torch.allclose(post(x).std(-1, unbiased=False), torch.ones(3, 5), atol=1e-3)


def test_switches_must_be_booleans() -> None:
    for name in ("pose_embedding", "norm_first"):
        with pytest.raises(InputError, match=f"{name}='yes': expected true or false"):
            make_config("demo", **{name: "yes"})


def test_temporal_position_code_is_the_standard_sin_cos() -> None:
    """TPE (Eq. 6): PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same); for d = 4
    the two frequencies are 1 and 10000^(-1/2) = 0.01."""
    expected = torch.tensor([[0.0, 1.0, 0.0, 1.0],
                             [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                             [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]])
    assert torch.allclose(sinusoidal_encoding(3, 4), expected, atol=1e-6)


def test_post_ln_layer_adds_the_residuals_before_each_norm() -> None:
    """Eq. 4-5: X'' = LN(X' + MHSA(X')), X^ = LN(X'' + FFN(X'')). With MHSA and FFN silenced
    (and LN's default unit scale, zero shift) the layer is LN(LN(x)) = LN(x); with only the
    FFN silenced it is LN(x + MHSA(x)). Pre-LN with the FFN silenced: x + MHSA(LN(x))."""
    post = EncoderLayer(16, 4, 32, 0.0, norm_first=False).eval()
    pre = EncoderLayer(16, 4, 32, 0.0, norm_first=True).eval()
    x = torch.randn(2, 5, 16) * 3
    ln = torch.nn.functional.layer_norm
    with torch.no_grad():
        for layer in (post, pre):
            layer.ffn[3].weight.zero_()
            layer.ffn[3].bias.zero_()
        attended = post.attn(x, x, x)[0]
        assert torch.allclose(post(x), ln(x + attended, (16,)), atol=1e-5)
        h = ln(x, (16,))
        assert torch.allclose(pre(x), x + pre.attn(h, h, h)[0], atol=1e-5)
        post.attn.out_proj.weight.zero_()
        post.attn.out_proj.bias.zero_()
        assert torch.allclose(post(x), ln(x, (16,)), atol=1e-5)


def test_spatial_t_mixes_entities_within_a_frame_and_temporal_t_frames_of_an_entity() -> None:
    """Spatial-T works on each frame on its own, Temporal-T on each entity on its own
    (section III-C.3): a change to one frame (one entity) moves only that frame's (entity's)
    outputs, and all the entities' (frames') outputs there."""
    spatial = SpatialTransformer(16, 4, 32, 1, 0.0, levels=(0, 1, 2)).eval()
    temporal = TemporalTransformer(16, 4, 32, 1, 0.0).eval()
    x, geometry = torch.randn(1, 4, 3, 16), torch.rand(1, 4, 3, 4)
    y = x.clone()
    y[:, 2, 1] += 1.0  # frame 2, entity 1
    with torch.no_grad():
        moved_s = (spatial(y, geometry) - spatial(x, geometry)).abs().amax(-1)[0] > 1e-5
        moved_t = (temporal(y) - temporal(x)).abs().amax(-1)[0] > 1e-5  # [T, K]
    frame_2, entity_1 = torch.zeros(4, 3, dtype=torch.bool), torch.zeros(4, 3, dtype=torch.bool)
    frame_2[2], entity_1[:, 1] = True, True
    assert torch.equal(moved_s, frame_2)
    assert torch.equal(moved_t, entity_1)


def test_spatial_t_sees_each_entitys_level_and_box() -> None:
    """SPE (Eq. 3): entities with equal features differ by their anatomical level and by
    their box geometry."""
    spatial = SpatialTransformer(16, 4, 32, 1, 0.0, levels=(0, 2)).eval()
    x, geometry = torch.randn(1, 2, 1, 16).expand(1, 2, 2, 16), torch.zeros(1, 2, 2, 4)
    with torch.no_grad():
        out = spatial(x, geometry)
        assert not torch.allclose(out[:, :, 0], out[:, :, 1], atol=1e-4)  # the level
        spatial.level_embedding.weight.zero_()
        out = spatial(x, geometry)
        assert torch.allclose(out[:, :, 0], out[:, :, 1], atol=1e-6)
        moved = geometry.clone()
        moved[:, :, 1, :2] = 0.3
        out = spatial(x, moved)
        assert not torch.allclose(out[:, :, 0], out[:, :, 1], atol=1e-4)  # the box
