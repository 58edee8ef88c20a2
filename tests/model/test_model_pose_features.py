"""Body-relative joint features, the pose embedding of the full model and pre-LN layers."""

from __future__ import annotations

import pytest
import torch
from model_testkit import random_inputs, tiny_config

from microdualnet.body25 import INDEX
from microdualnet.model.config import make_config
from microdualnet.model.network import MicroDualNet
from microdualnet.model.sem import body_frame, joint_features
from microdualnet.model.transformer_blocks import EncoderLayer
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
