from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from model_testkit import random_inputs, tiny_config

from microdualnet.body25 import INDEX
from microdualnet.bodyparts import RIGHT_HAND
from microdualnet.model.config import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VARIANTS,
    ModelConfig,
    config_differences,
    config_from_dict,
    config_to_dict,
    make_config,
)
from microdualnet.model.inputs import check_batch
from microdualnet.model.losses import compute_loss
from microdualnet.model.mac_loss import frame_mac_loss, mac_loss
from microdualnet.model.network import MicroDualNet, ModelOutput
from pipeio.errors import InputError


@pytest.mark.parametrize("k", [6, 5, 4])
def test_demo_preset_shapes(k: int) -> None:
    cfg = make_config("demo", num_entities=k, num_classes=7)
    video, kp = random_inputs(cfg, batch=2)
    out = MicroDualNet(cfg).eval()(video, kp)
    t, d = cfg.num_frames, cfg.dim
    assert out.logits.shape == (2, 7)
    assert out.routing.shape == (2, t, k, 2)
    assert out.boxes.shape == (2, t, k, 4)
    assert out.confidence.shape == (2, t, k)
    assert out.path_st.shape == out.path_ts.shape == (2, t, k, d)
    assert torch.allclose(out.routing.sum(-1), torch.ones(2, t, k))


def test_paper_preset_shapes_and_routing_size() -> None:
    cfg = make_config("paper", num_entities=5, num_classes=32)
    model = MicroDualNet(cfg).eval()
    assert model.parameter_counts()["router"] == 5 * 66_178 + 5 * 2
    video, kp = random_inputs(cfg, batch=1)
    with torch.no_grad():
        out = model(video, kp)
    assert out.logits.shape == (1, 32)
    assert out.path_st.shape == (1, 8, 5, 256)
    assert model.classifier[0].in_features == 512  # "512 -> 256 -> C"


def test_paper_routing_about_half_a_million_for_k6() -> None:
    counts = MicroDualNet(make_config("paper", entity_source="pose")).parameter_counts()
    # Per entity 512*128+128 (Linear) + 2*128 (LayerNorm) + 128*2+2 (Linear), plus b_i.
    assert counts["router"] == 6 * 66_178 + 6 * 2
    assert 0.35e6 < counts["router"] < 0.55e6


def test_gradients_reach_every_parameter() -> None:
    cfg = tiny_config(dropout=0.0, routing_dropout=0.0, classifier_dropout=0.0)
    model = MicroDualNet(cfg).train()
    video, kp = random_inputs(cfg, batch=3)
    out = model(video, kp)
    compute_loss(out, torch.tensor([0, 1, 2]), cfg).total.backward()
    dead = [n for n, p in model.named_parameters()
            if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_forward_backward(variant: str) -> None:
    cfg = tiny_config(**VARIANTS[variant])
    model = MicroDualNet(cfg).train()
    video, kp = random_inputs(cfg, batch=2)
    assert cfg.uses_cnn == (variant != "pose-only")
    assert cfg.uses_keypoints == (variant not in (
        "rgb-only", "centre-crop", "no-sem", "tsm-baseline"))
    if not cfg.uses_cnn:
        video = None
    if not cfg.uses_keypoints:
        kp = None  # these variants never look at keypoints
    out = model(video, kp)
    terms = compute_loss(out, torch.tensor([0, 2]), cfg)
    terms.total.backward()
    assert torch.isfinite(terms.total)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    k = {"no-sem": 1, "tsm-baseline": 0}.get(variant, cfg.num_entities)
    assert out.routing.shape == (2, cfg.num_frames, k, 2)


def test_variant_specifics() -> None:
    video, kp = random_inputs(tiny_config(), batch=1)
    st = MicroDualNet(tiny_config(**VARIANTS["st-only"])).eval()(video, kp)
    assert st.path_ts is None and (st.routing[..., 0] == 1).all()
    ts = MicroDualNet(tiny_config(**VARIANTS["ts-only"])).eval()(video, kp)
    assert ts.path_st is None and (ts.routing[..., 1] == 1).all()
    avg = MicroDualNet(tiny_config(**VARIANTS["no-routing"])).eval()(video, kp)
    assert (avg.routing == 0.5).all()
    pose = MicroDualNet(tiny_config(**VARIANTS["pose-only"]))
    assert not hasattr(pose, "backbone")
    centre = MicroDualNet(tiny_config(**VARIANTS["centre-crop"])).eval()(video)
    assert (centre.boxes == torch.tensor([16.0, 16, 48, 48])).all()
    assert (centre.confidence == 1).all()
    cfg = tiny_config(**VARIANTS["no-mac"])
    out = MicroDualNet(cfg)(video, kp)
    assert compute_loss(out, torch.tensor([1]), cfg).mac == 0


def _classifier_input(model: MicroDualNet, video, kp):
    """The model's output and the features its classifier saw ([proj(f_CNN); f_entity])."""
    seen = []
    hook = model.classifier.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    try:
        out = model(video, kp)
    finally:
        hook.remove()
    return out, seen[0]


@pytest.mark.parametrize("variant", ["full", "no-routing"])
def test_the_classifier_sees_both_paths_fused(variant: str) -> None:
    """f_entity (Eq. 19) is the mean over frames and entities of the fused paths: the routing
    weights' blend (Eq. 15), or the plain average of both without routing."""
    cfg = tiny_config(**VARIANTS[variant])
    model = MicroDualNet(cfg).eval()
    video, kp = random_inputs(cfg, batch=2)
    with torch.no_grad():
        out, feats = _classifier_input(model, video, kp)
        assert torch.allclose(model.classifier(feats), out.logits, atol=1e-6)
    alpha = out.routing
    if variant == "no-routing":
        assert (alpha == 0.5).all()
    fused = alpha[..., :1] * out.path_st + alpha[..., 1:] * out.path_ts
    entity = feats[:, -cfg.dim:]
    assert feats.shape == (2, cfg.global_proj_dim + cfg.dim)
    assert torch.allclose(entity, fused.mean(dim=(1, 2)), atol=1e-5)
    for one in (out.path_st, out.path_ts):  # each path counts: neither alone is the feature
        assert not torch.allclose(entity, one.mean(dim=(1, 2)), atol=1e-3)


def test_no_routing_output_moves_with_the_ts_path_alone() -> None:
    cfg = tiny_config(**VARIANTS["no-routing"])
    model = MicroDualNet(cfg).eval()
    video, kp = random_inputs(cfg, batch=1)
    with torch.no_grad():
        before = model(video, kp)
        model.ts.apply(lambda m: m.weight.mul_(1.5) if isinstance(m, torch.nn.Linear) else None)
        after = model(video, kp)
    assert torch.equal(before.path_st, after.path_st)
    assert not torch.allclose(before.path_ts, after.path_ts)
    assert not torch.allclose(before.logits, after.logits, atol=1e-4)


def test_no_confidence_weights_every_entity_alike() -> None:
    """The no-confidence variant (Table III) drops Eq. 17's weights: MAC is the plain mean."""
    video, kp = random_inputs(tiny_config(), batch=2)
    labels = torch.tensor([0, 2])
    cfg = tiny_config(**VARIANTS["no-confidence"])
    assert cfg.mac_confidence_weighting is False
    out = MicroDualNet(cfg).eval()(video, kp)
    assert not torch.allclose(out.confidence, torch.ones_like(out.confidence))
    terms = compute_loss(out, labels, cfg)
    plain = mac_loss(out.path_st, out.path_ts, torch.ones_like(out.confidence))
    weighted = mac_loss(out.path_st, out.path_ts, out.confidence)
    assert not torch.isclose(plain, weighted, rtol=1e-3)
    assert torch.isclose(terms.mac, plain)
    weighted_cfg = tiny_config()
    assert torch.isclose(compute_loss(out, labels, weighted_cfg).mac, weighted)


def test_mac_temperature_reaches_the_loss() -> None:
    cfg = tiny_config(mac_temperature=0.5, mac_weight=0.3)
    out = MicroDualNet(cfg).eval()(*random_inputs(cfg))
    terms = compute_loss(out, torch.tensor([0, 1]), cfg)
    at_half = mac_loss(out.path_st, out.path_ts, out.confidence, 0.5)
    assert not torch.isclose(at_half, mac_loss(out.path_st, out.path_ts, out.confidence),
                             rtol=1e-3)  # the default 0.07
    assert torch.isclose(terms.mac, at_half)
    assert torch.isclose(terms.total, terms.ce + 0.3 * at_half)


def test_loss_is_ce_plus_lambda_mac() -> None:
    cfg = tiny_config(mac_weight=0.5)
    out = MicroDualNet(cfg).eval()(*random_inputs(cfg))
    terms = compute_loss(out, torch.tensor([0, 1]), cfg)
    assert terms.mac > 0
    assert torch.isclose(terms.total, terms.ce + 0.5 * terms.mac)


def test_boxes_follow_keypoints() -> None:
    cfg = tiny_config()
    video, kp = random_inputs(cfg, batch=1)
    out = MicroDualNet(cfg).eval()(video, kp)
    moved = kp.clone()
    moved[..., 0] = (moved[..., 0] * 0.5)
    out2 = MicroDualNet(cfg).eval()(video, moved)
    assert not torch.equal(out.boxes, out2.boxes)


@pytest.mark.parametrize(
    ("video_shape", "kp_shape", "message"),
    [
        ((2, 4, 64, 64, 3), (2, 4, 25, 3), "dim 2 (channels)"),
        ((2, 4, 3, 64), (2, 4, 25, 3), "expected 5 dims"),
        ((2, 5, 3, 64, 64), (2, 5, 25, 3), "dim 1 (frames)"),
        ((2, 4, 3, 64, 32), (2, 4, 25, 3), "dim 4 (width)"),
        ((2, 4, 3, 64, 64), (2, 4, 3, 25), "transposed"),
        ((2, 4, 3, 64, 64), (2, 4, 18, 3), "dim 2 (joints)"),
        ((2, 4, 3, 64, 64), (2, 4, 25, 2), "dim 3"),
        ((2, 4, 3, 64, 64), (2, 4, 75), "expected 4 dims"),
        ((2, 4, 3, 64, 64), (3, 4, 25, 3), "dim 0 (batch)"),
    ],
)
def test_bad_input_names_the_dimension(video_shape: tuple[int, ...], kp_shape: tuple[int, ...],
                                       message: str) -> None:
    model = MicroDualNet(tiny_config())
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model(torch.zeros(video_shape), torch.zeros(kp_shape))


def test_bad_input_values() -> None:
    cfg = tiny_config()
    model = MicroDualNet(cfg)
    video, kp = random_inputs(cfg)
    with pytest.raises(InputError, match="confidence"):
        model(video, kp * torch.tensor([1.0, 1.0, 2.0]))
    with pytest.raises(InputError, match="keypoints are required"):
        model(video, None)
    with pytest.raises(InputError, match="float"):
        model(video.to(torch.uint8), kp)
    with pytest.raises(InputError, match="video is required"):
        model(None, kp)


def test_bad_config_names_the_key() -> None:
    with pytest.raises(InputError, match="num_entities"):
        make_config("demo", num_entities=7)
    with pytest.raises(InputError, match="fusion"):
        make_config("demo", paths="st")
    with pytest.raises(InputError, match="'bogus'"):
        make_config("demo", bogus=1)
    with pytest.raises(InputError, match="preset"):
        make_config("huge")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("dropout", 1.5, "a dropout probability must be at least 0 and below 1"),
    ("dropout", 1.0, "a dropout probability must be at least 0 and below 1"),
    ("dropout", -0.1, "a dropout probability must be at least 0 and below 1"),
    ("routing_dropout", 1.0, "a dropout probability must be at least 0 and below 1"),
    ("classifier_dropout", float("nan"), "a dropout probability must be at least 0 and below"),
    ("classifier_dropout", -1e-9, "a dropout probability must be at least 0 and below 1"),
    ("global_proj_dim", 0, "expected a whole number of at least 1, or null"),
    ("global_proj_dim", -4, "expected a whole number of at least 1, or null"),
    ("global_proj_dim", 16.0, "expected a whole number"),
    ("mac_weight", -0.1, "must be a finite number, 0 or more"),
    ("mac_weight", float("inf"), "must be a finite number, 0 or more"),
    ("keypoint_threshold", 1.2, "a confidence threshold must be between 0 and 1"),
    ("keypoint_threshold", -0.3, "a confidence threshold must be between 0 and 1"),
    ("box_padding", -0.05, "must be a finite number, 0 or more"),
    ("box_padding", float("inf"), "must be a finite number, 0 or more"),
    ("mac_temperature", float("nan"), "must be a positive finite number"),
    ("routing_temperature", float("inf"), "must be a positive finite number"),
])
def test_out_of_range_settings_name_the_key(key: str, value: float, message: str) -> None:
    """These ended in a torch traceback at the first forward pass (or trained a model that
    means something else: a negative MAC weight maximises disagreement)."""
    with pytest.raises(InputError, match=rf"^model config {key}={value!r}: {message}"):
        tiny_config(**{key: value})
    with pytest.raises(InputError, match=rf"^model config {key}="):
        ModelConfig(**{**config_to_dict(tiny_config()), "pixel_mean": IMAGENET_MEAN,
                       "pixel_std": IMAGENET_STD, key: value})


@pytest.mark.parametrize(("key", "value"), [
    ("dropout", 0.0), ("routing_dropout", 0.99), ("classifier_dropout", 0.5),
    ("global_proj_dim", 1), ("global_proj_dim", None), ("mac_weight", 0.0),
    ("keypoint_threshold", 0.0), ("keypoint_threshold", 1.0), ("box_padding", 0.0)])
def test_settings_at_the_edge_of_their_range_are_accepted(key: str, value: object) -> None:
    cfg = tiny_config(**{key: value})
    assert getattr(cfg, key) == value
    assert config_from_dict(config_to_dict(cfg)) == cfg  # model.json reads back


def test_tiny_model_fits_a_small_batch() -> None:
    """Labels are told apart by where the right wrist is; a few steps must fit them."""
    cfg = tiny_config(num_classes=2, dropout=0.0, routing_dropout=0.0, classifier_dropout=0.0)
    model = MicroDualNet(cfg).train()
    video, kp = random_inputs(cfg, batch=6, seed=1)
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    kp[labels == 1, :, 4, :2] = 60.0
    video[labels == 1, :, :, 40:, 40:] += 2.0
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        terms = compute_loss(model(video, kp), labels, cfg)
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        losses.append(terms.ce.item())
    assert losses[-1] < 0.3 * losses[0]


def test_the_paper_presets_entity_settings_are_the_documented_ones() -> None:
    """docs/model.md: theta = 0.3 (strict), boxes grow by 10% of their longer side, 3 x 3
    ROIAlign, 1/8 of the channels shifted each way, MAC weighted by confidence."""
    cfg = make_config("paper")
    assert (cfg.keypoint_threshold, cfg.box_padding, cfg.roi_size, cfg.shift_div,
            cfg.mac_confidence_weighting) == (0.3, 0.1, 3, 8, True)


@pytest.mark.parametrize(("override", "message"), [
    ({"backbone_depth": 20}, r"backbone_depth=20: expected one of \(10, 18, 34, 50, 101\)"),
    ({"num_entities": 3}, "num_entities=3: expected 4, 5 or 6"),
    ({"entity_source": "boxes"}, "entity_source='boxes': expected one of keypoints, fixed"),
    ({"fusion": "concat"}, "fusion='concat': expected routing or average"),
    ({"num_frames": 0}, "num_frames=0: must be at least 1"),
    ({"classifier_hidden": 0}, "classifier_hidden=0: must be at least 1"),
    ({"backbone_width": 0}, "backbone_width=0: must be at least 1"),
    ({"num_heads": 0}, "num_heads=0: must be at least 1"),  # was a ZeroDivisionError
    ({"pixel_mean": [1.0, 2.0]}, r"pixel_mean=\(1.0, 2.0\): expected a list of 3 numbers"),
    ({"num_frames": 8.0}, "num_frames=8.0: expected a whole number"),
    ({"num_frames": None}, "num_frames=None: expected a whole number"),
])
def test_settings_a_model_cannot_be_built_from_name_the_key(override, message) -> None:
    with pytest.raises(InputError, match=rf"^model config {message}"):
        config_from_dict({**config_to_dict(make_config("demo")), **override})


def test_flags_must_be_true_or_false_even_when_built_directly() -> None:
    """A YAML 1 or "yes" for a flag is refused by `config_from_dict` and by the dataclass."""
    base = {**config_to_dict(make_config("demo")), "pixel_mean": IMAGENET_MEAN,
            "pixel_std": IMAGENET_STD}
    for name in ("pose_embedding", "norm_first", "mac_confidence_weighting"):
        with pytest.raises(InputError, match=rf"^model config {name}=1: expected true or false"):
            ModelConfig(**{**base, name: 1})
    with pytest.raises(InputError, match=r"^model config global_proj_dim=True: expected a whole"):
        ModelConfig(**{**base, "global_proj_dim": True})


@pytest.mark.parametrize("change", [
    {"num_classes": 7}, {"num_frames": 4}, {"frame_stride": 2}, {"input_size": 96},
    {"pixel_mean": (0.0, 0.0, 0.0)}, {"mac_level": "frame"}])
def test_config_differences_names_each_differing_field(change) -> None:
    """What `load_checkpoint(expected=...)` compares: every field, the contract's among them."""
    base = make_config("demo")
    assert config_differences(base, dataclasses.replace(base, **change)) == list(change)
    assert config_differences(base, base) == []


def test_st_runs_spatial_then_temporal_and_ts_the_reverse() -> None:
    """Eq. 9-10: X_ST = Temporal-T(Spatial-T(X) + MLP_s(X)); Eq. 11-12: X_TS =
    Spatial-T(Temporal-T(X) + MLP_t(X)); each MLP is Linear-GELU-Linear, D -> D."""
    cfg = tiny_config(dropout=0.0)
    model = MicroDualNet(cfg).eval()
    k = len(model.entities)
    x, geometry = torch.randn(1, cfg.num_frames, k, cfg.dim), torch.rand(1, cfg.num_frames, k, 4)
    with torch.no_grad():
        st, ts = model.st, model.ts
        assert torch.allclose(st(x, geometry),
                              st.temporal(st.spatial(x, geometry) + st.residual(x)), atol=1e-6)
        assert torch.allclose(ts(x, geometry),
                              ts.spatial(ts.temporal(x) + ts.residual(x), geometry), atol=1e-6)
        # Not the other order, and the residual enters before the second block.
        assert not torch.allclose(st(x, geometry),
                                  st.spatial(st.temporal(x) + st.residual(x), geometry), atol=1e-3)
        assert not torch.allclose(ts(x, geometry),
                                  ts.temporal(ts.spatial(x, geometry) + ts.residual(x)), atol=1e-3)
    for mlp in (st.residual, ts.residual):
        assert [type(m) for m in mlp] == [torch.nn.Linear, torch.nn.GELU, torch.nn.Linear]
        assert (mlp[0].in_features, mlp[-1].out_features) == (cfg.dim, cfg.dim)


def test_check_batch_names_each_dimension_video_and_keypoints_disagree_on() -> None:
    """inputs.check_batch on its own (the network checks T against num_frames first)."""
    kp = torch.zeros(2, 4, 25, 3)
    check_batch(torch.zeros(2, 4, 3, 8, 8), kp)
    check_batch(None, kp)
    with pytest.raises(InputError, match=r"dim 0 \(batch\) differs: video has 1, keypoints have 2"):
        check_batch(torch.zeros(1, 4, 3, 8, 8), kp)
    with pytest.raises(InputError, match=r"dim 1 \(frames\) differs: video has 3, keypoints have 4"):
        check_batch(torch.zeros(2, 3, 3, 8, 8), kp)


@pytest.mark.parametrize("level", ["video", "frame"])
def test_loss_is_plain_cross_entropy_plus_mac_reaching_both_paths(level: str) -> None:
    """Eq. 21 on a hand-made output: logits (0, 0, ln 2) give softmax (1/4, 1/4, 1/2), so
    CE = ln 2 for class 2 and ln 4 for class 0; MAC works on the raw path outputs and sends
    its gradient into both of them (no stop-gradient: section III-E)."""
    cfg = tiny_config(mac_weight=0.5, mac_level=level)
    x_st = torch.randn(2, 3, 2, 4, requires_grad=True)
    x_ts = torch.randn(2, 3, 2, 4, requires_grad=True)
    logits = torch.tensor([[0.0, 0.0, math.log(2)], [0.0, 0.0, math.log(2)]])
    conf = torch.ones(2, 3, 2)
    out = ModelOutput(logits, torch.full((2, 3, 2, 2), 0.5), torch.zeros(2, 3, 2, 4), conf,
                      x_st, x_ts)
    terms = compute_loss(out, torch.tensor([2, 0]), cfg)
    assert terms.ce.item() == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-6)
    mac = (frame_mac_loss(x_st, x_ts, conf) if level == "frame"
           else mac_loss(x_st, x_ts, conf, cfg.mac_temperature))
    assert torch.isclose(terms.mac, mac) and torch.isclose(terms.total, terms.ce + 0.5 * mac)
    terms.total.backward()
    assert x_st.grad.abs().sum() > 0 and x_ts.grad.abs().sum() > 0


def test_the_model_boxes_use_the_configured_padding_and_threshold() -> None:
    """Eq. 1 with cfg.box_padding 0.25 and cfg.keypoint_threshold 0.5: the left forearm
    (20, 10)-(30, 30) grows by 0.25 x its longer side 20 = 5 px each way; a right forearm
    with one joint at 0.4 has one visible joint, so it takes its fixed region, confidence 0."""
    cfg = tiny_config(box_padding=0.25, keypoint_threshold=0.5)
    model = MicroDualNet(cfg).eval()
    video, _ = random_inputs(cfg, batch=1)
    kp = torch.zeros(1, cfg.num_frames, 25, 3)
    for joint, xyc in (("LElbow", (20, 10, 0.9)), ("LWrist", (30, 30, 0.9)),
                       ("RElbow", (40, 10, 0.4)), ("RWrist", (50, 30, 0.9))):
        kp[0, :, INDEX[joint]] = torch.tensor(xyc)
    with torch.no_grad():
        out = model(video, kp)
    names = [e.name for e in model.entities]
    left, right = names.index("left_hand"), names.index("right_hand")
    assert torch.allclose(out.boxes[0, :, left], torch.tensor([15.0, 5, 35, 35]).expand(4, 4))
    assert torch.allclose(out.boxes[0, :, right],
                          (torch.tensor(RIGHT_HAND.region) * 64).expand(4, 4))
    assert torch.allclose(out.confidence[0, :, left], torch.full((4,), 0.9))
    assert (out.confidence[0, :, right] == 0).all()
