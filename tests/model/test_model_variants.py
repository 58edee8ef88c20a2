"""Composable variants and the components added for Tables II and IV: TSM baseline, no SEM,
the temporal-aggregation alternatives, frame-level MAC, frame sampling and the presets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from model_testkit import random_inputs, tiny_config

from microdualnet.bodyparts import ENTITY_SETS
from microdualnet.contract import View
from microdualnet.model.aggregation import TemporalAggregator
from microdualnet.model.checkpoint import META_FILE, load_checkpoint, save_checkpoint
from microdualnet.model.config import (
    PRESETS,
    VARIANTS,
    config_from_dict,
    config_to_dict,
    known_variants,
    make_config,
    parse_variant,
)
from microdualnet.model.losses import compute_loss
from microdualnet.model.mac_loss import frame_mac_loss, mac_loss
from microdualnet.model.network import MicroDualNet
from pipeio.errors import InputError

# The new components, alone and in the combinations Table II uses.
NEW = ["tsm-baseline", "no-sem", "ts-only+no-sem", "avg-pool", "max-pool", "lstm",
       "temporal-t-only", "frame-mac"]
NO_DROPOUT = {"dropout": 0.0, "routing_dropout": 0.0, "classifier_dropout": 0.0}


def variant_config(spec: str, **extra: object):
    return tiny_config(**parse_variant(spec).switches, **extra)


def inputs_for(cfg, batch: int = 2, seed: int = 0):
    video, kp = random_inputs(cfg, batch=batch, seed=seed)
    return (video if cfg.uses_cnn else None), (kp if cfg.uses_keypoints else None)


@pytest.mark.parametrize(("spec", "k"), [
    ("tsm-baseline", 0), ("no-sem", 1), ("ts-only+no-sem", 1), ("avg-pool", 6),
    ("max-pool", 6), ("lstm", 6), ("temporal-t-only", 6), ("frame-mac", 6)])
def test_output_shapes(spec: str, k: int) -> None:
    cfg = variant_config(spec)
    model = MicroDualNet(cfg).eval()
    assert len(model.entities) == k
    out = model(*inputs_for(cfg))
    t, d = cfg.num_frames, cfg.dim
    assert out.logits.shape == (2, cfg.num_classes)
    assert out.routing.shape == (2, t, k, 2)
    assert out.boxes.shape == (2, t, k, 4)
    assert out.confidence.shape == (2, t, k)
    assert (out.path_st is not None) == (cfg.paths in ("dual", "st"))
    assert (out.path_ts is not None) == (cfg.paths in ("dual", "ts"))
    for path in (out.path_st, out.path_ts):
        assert path is None or path.shape == (2, t, k, d)


def test_rgb_variants_pool_fixed_regions_without_keypoints() -> None:
    """Table I/III: rgb-only pools each entity's fixed body region, centre-crop the central
    half of the frame for every entity; neither reads keypoints, both weight MAC by 1."""
    regions = {"rgb-only": [e.region for e in ENTITY_SETS[6]],
               "centre-crop": [(0.25, 0.25, 0.75, 0.75)] * 6}
    for spec, region in regions.items():
        cfg = variant_config(spec)
        assert not cfg.uses_keypoints
        out = MicroDualNet(cfg).eval()(torch.randn(1, 4, 3, 64, 64))
        assert torch.equal(out.boxes[0, 2], torch.tensor(region) * 64), spec
        assert (out.confidence == 1).all()


def test_what_each_component_builds() -> None:
    base = MicroDualNet(variant_config("tsm-baseline"))
    assert base.sem is None and base.st is None and base.ts is None
    assert base.aggregate is None and base.router is None
    assert base.classifier[0].in_features == tiny_config().global_proj_dim  # f_CNN alone
    assert not base.cfg.uses_keypoints
    frame = MicroDualNet(variant_config("no-sem"))
    assert [e.name for e in frame.entities] == ["frame"] and not frame.cfg.uses_keypoints
    out = frame.eval()(torch.randn(1, 4, 3, 64, 64))
    assert (out.boxes == torch.tensor([0.0, 0, 64, 64])).all()
    assert (out.confidence == 1).all()
    assert frame.st is not None and frame.ts is not None and frame.router is not None
    for spec in ("avg-pool", "max-pool", "lstm", "temporal-t-only"):
        model = MicroDualNet(variant_config(spec))
        assert model.st is None and model.ts is None and model.router is None
        assert model.aggregate is not None
        seen: dict[str, torch.Tensor] = {}
        model.aggregate.register_forward_hook(lambda m, i, o, seen=seen: seen.update(entity=o))
        model.classifier.register_forward_pre_hook(
            lambda m, i, seen=seen: seen.update(head=i[0]))
        out = model.eval()(*inputs_for(model.cfg))
        assert (out.routing == 0).all()
        # f_entity (Eq. 19) averages the per-entity features over the entities.
        d = model.cfg.dim
        assert torch.allclose(seen["head"][:, -d:], seen["entity"].mean(dim=1), atol=1e-6)
        assert compute_loss(out, torch.tensor([0, 1]), model.cfg).mac == 0


@pytest.mark.parametrize("spec", NEW)
def test_a_gradient_reaches_every_parameter(spec: str) -> None:
    cfg = variant_config(spec, **NO_DROPOUT)
    model = MicroDualNet(cfg).train()
    out = model(*inputs_for(cfg, batch=3))
    compute_loss(out, torch.tensor([0, 1, 2]), cfg).total.backward()
    dead = [n for n, p in model.named_parameters()
            if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.parametrize("spec", NEW)
def test_the_loss_falls_over_a_few_steps(spec: str) -> None:
    """Two classes told apart by a bright corner of the frames and the right wrist's place."""
    cfg = variant_config(spec, num_classes=2, **NO_DROPOUT)
    model = MicroDualNet(cfg).train()
    video, kp = random_inputs(cfg, batch=6, seed=1)
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    kp[labels == 1, :, 4, :2] = 60.0
    video[labels == 1, :, :, 40:, 40:] += 2.0
    args = (video if cfg.uses_cnn else None), (kp if cfg.uses_keypoints else None)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        terms = compute_loss(model(*args), labels, cfg)
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        losses.append(terms.total.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("spec", NEW)
def test_checkpoint_round_trip(spec: str, tmp_path: Path) -> None:
    cfg = variant_config(spec)
    model = MicroDualNet(cfg).train()
    model(*inputs_for(cfg, seed=3))  # moves the BN statistics off their initial values
    model.eval()
    folder = save_checkpoint(model, tmp_path / "m", fps=25.0, view=View("full"))
    loaded = load_checkpoint(folder, expected=cfg)
    assert loaded.config == cfg
    assert loaded.meta["entities"] == [e.name for e in model.entities]
    args = inputs_for(cfg, seed=7)
    with torch.no_grad():
        assert torch.equal(model(*args).logits, loaded.model(*args).logits)


def test_a_model_json_without_the_new_keys_still_loads(tmp_path: Path) -> None:
    model = MicroDualNet(tiny_config()).eval()
    folder = save_checkpoint(model, tmp_path / "m", fps=25.0, view=View("full"))
    meta = json.loads((folder / META_FILE).read_text())
    del meta["config"]["mac_level"]  # a model.json written before mac_level existed
    (folder / META_FILE).write_text(json.dumps(meta))
    loaded = load_checkpoint(folder)
    assert loaded.config.mac_level == "video" and loaded.config == model.cfg


def test_new_keys_have_defaults_that_keep_the_published_model() -> None:
    cfg = make_config("paper")
    assert (cfg.paths, cfg.entity_source, cfg.mac_level) == ("dual", "keypoints", "video")
    assert config_from_dict(config_to_dict(cfg)) == cfg


# Variant specs


def test_specs_compose_and_equal_their_switches() -> None:
    cfg = make_config("demo", "ts-only+no-sem")
    assert (cfg.paths, cfg.entity_source, cfg.fusion, cfg.mac_weight) == (
        "ts", "frame", "average", 0.0)
    assert make_config("demo", "no-mac+no-routing") == make_config(
        "demo", mac_weight=0.0, fusion="average")
    assert make_config("demo", "no-sem+ts-only") == cfg  # order does not matter
    assert parse_variant(" ts-only + no-sem ").canonical == "ts-only+no-sem"
    assert make_config("demo", "full+no-mac") == make_config("demo", "no-mac")
    # Two names that set a field to the same value agree (ts-only also turns MAC off).
    assert make_config("demo", "ts-only+no-mac") == make_config("demo", "ts-only")


def test_overrides_apply_after_the_variant() -> None:
    """Preset, then variant, then explicit overrides (a config's own K wins)."""
    assert make_config("demo", "four-entities", num_entities=5).num_entities == 5
    assert make_config("demo", "four-entities").num_entities == 4


def test_config_values_must_be_of_their_fields_kind() -> None:
    """A model.json value of another kind is refused by name; an integer is a number."""
    with pytest.raises(InputError, match="num_frames=True: expected a whole number"):
        config_from_dict({"num_frames": True})
    with pytest.raises(InputError, match="dropout=True: expected a number"):
        config_from_dict({"dropout": True})
    assert config_from_dict({"dropout": 0, "mac_weight": 1}).mac_weight == 1


def test_every_single_variant_builds_with_each_preset() -> None:
    for preset in PRESETS:
        for name in VARIANTS:
            assert make_config(preset, name)


@pytest.mark.parametrize(("spec", "message"), [
    ("no-such", "unknown variant 'no-such'; known: avg-pool, "),
    ("ts-only+nope", "unknown variant 'nope' in 'ts-only\\+nope'; known: "),
    ("st-only+ts-only", "'st-only' sets paths='st', 'ts-only' sets paths='ts'"),
    ("pose-only+no-sem", "sets entity_source="),
    ("frames-4+frames-8", "both set the frame count"),
    ("frames-0", "unknown variant 'frames-0'"),
    ("", "empty model variant"),
    ("tsm-baseline+pose-only", "paths='none'"),
])
def test_bad_specs_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        make_config("demo", spec)
    assert "\n" not in str(err.value)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(InputError) as err:
        make_config("demo", "ts-only+bogus")
    assert all(name in str(err.value) for name in known_variants())
    assert "frames-N" in str(err.value) and "no-sem" in str(err.value)


def test_frames_n_keeps_the_sampled_window() -> None:
    """Table IV's frame counts over the paper's 8 x 8 window: 4x16, 8x8, 16x4, 32x2."""
    got = [(c.num_frames, c.frame_stride) for c in
           (make_config("paper", f"frames-{n}") for n in (4, 8, 16, 32))]
    assert got == [(4, 16), (8, 8), (16, 4), (32, 2)]
    assert make_config("paper", "frames-8") == make_config("paper")
    # The frame count applies after overrides (a config's own num_frames), stride >= 1.
    cfg = make_config("demo", "frames-16+no-mac", num_frames=4, frame_stride=2)
    assert (cfg.num_frames, cfg.frame_stride, cfg.mac_weight) == (16, 1, 0.0)
    # The stride rounds to the nearest (64 / 24 = 2.67 -> 3; 4 / 16 = 0.25 -> at least 1).
    assert make_config("paper", "frames-24").frame_stride == 3
    assert make_config("demo", "frames-16", num_frames=4, frame_stride=1).frame_stride == 1
    assert make_config("paper", "frames-16+frames-16").num_frames == 16  # agreeing twice


def test_presets() -> None:
    assert make_config("paper") == make_config("paper-ma52")
    ma52, imigue = make_config("paper-ma52"), make_config("paper-imigue")
    assert (ma52.num_classes, ma52.num_entities, ma52.num_frames, ma52.frame_stride) == (
        52, 6, 8, 8)
    assert (imigue.num_classes, imigue.num_entities, imigue.num_frames,
            imigue.frame_stride) == (32, 5, 16, 4)
    for cfg in (ma52, imigue):
        assert (cfg.backbone_depth, cfg.input_size, cfg.dim, cfg.num_layers, cfg.num_heads,
                cfg.ffn_dim, cfg.dropout, cfg.routing_temperature, cfg.mac_weight,
                cfg.mac_temperature, cfg.classifier_hidden, cfg.classifier_dropout) == (
            101, 224, 256, 3, 8, 1024, 0.1, 1.0, 0.1, 0.07, 256, 0.5)
    assert [e.name for e in MicroDualNet(imigue).entities] == [
        "head", "face", "left_hand", "right_hand", "torso"]


def test_bad_new_config_values_name_the_key() -> None:
    with pytest.raises(InputError, match="paths='bogus'"):
        make_config("demo", paths="bogus")
    with pytest.raises(InputError, match="mac_level"):
        make_config("demo", mac_level="clip")
    with pytest.raises(InputError, match="mac_weight"):
        make_config("demo", paths="lstm", fusion="average")
    with pytest.raises(InputError, match="pose_embedding"):
        make_config("demo", entity_source="frame")  # the demo preset embeds joints
    with pytest.raises(InputError, match="pose_embedding"):
        make_config("demo", paths="none", fusion="average", mac_weight=0.0)
    with pytest.raises(InputError, match="fusion=.*routing blends two paths"):
        make_config("demo", paths="avg", mac_weight=0.0)
    with pytest.raises(InputError, match="dim=60: must be divisible by num_heads=8"):
        make_config("paper", dim=60)
    with pytest.raises(InputError, match="mac_temperature=0.0: must be a positive finite"):
        make_config("demo", mac_temperature=0.0)  # Eq. 16 divides by it


# The parts on their own


def test_aggregators_pool_over_frames() -> None:
    x = torch.randn(2, 5, 3, 32)
    cfgs = {kind: tiny_config(paths=kind, fusion="average", mac_weight=0.0, **NO_DROPOUT)
            for kind in ("avg", "max", "lstm", "temporal")}
    agg = {kind: TemporalAggregator(cfg).eval() for kind, cfg in cfgs.items()}
    assert torch.allclose(agg["avg"](x), x.mean(1))
    assert torch.equal(agg["max"](x), x.amax(1))
    reversed_x = x.flip(1)
    for kind, module in agg.items():
        out = module(x)
        assert out.shape == (2, 3, 32)
        # Pooling ignores the order of the frames; the LSTM reads it (Temporal-T sees it
        # through its position code).
        order_free = torch.allclose(out, module(reversed_x), atol=1e-5)
        assert order_free == (kind in ("avg", "max")), kind
    # The LSTM's feature is its last layer's state after the last frame.
    deep = TemporalAggregator(tiny_config(paths="lstm", fusion="average", mac_weight=0.0,
                                          num_layers=2, **NO_DROPOUT)).eval()
    seq, _ = deep.lstm(x[:, :, 1])  # entity 1's frames as one sequence per clip
    assert torch.allclose(deep(x)[:, 1], seq[:, -1], atol=1e-6)
    # Entities are independent: changing one leaves the others' features alone.
    for module in agg.values():
        y = x.clone()
        y[:, :, 0] += 1.0
        assert torch.allclose(module(x)[:, 1:], module(y)[:, 1:], atol=1e-6)


def test_no_confidence_weights_every_entity_alike() -> None:
    """Table III's "w/o confidence": MAC averages over (i, t) with weight 1, not c_i^t."""
    cfg = variant_config("no-confidence")
    out = MicroDualNet(cfg).eval()(*random_inputs(cfg))
    mac = compute_loss(out, torch.tensor([0, 1]), cfg).mac
    flat = mac_loss(out.path_st, out.path_ts, torch.ones_like(out.confidence), cfg.mac_temperature)
    weighted = mac_loss(out.path_st, out.path_ts, out.confidence, cfg.mac_temperature)
    assert torch.isclose(mac, flat) and not torch.isclose(mac, weighted)


def test_frame_level_mac() -> None:
    x = torch.randn(2, 4, 3, 8)
    conf = torch.ones(2, 4, 3)
    assert frame_mac_loss(x, x, conf) < 1e-6  # the paths agree at every frame
    assert torch.isclose(frame_mac_loss(x, -x, conf), torch.tensor(2.0))
    assert frame_mac_loss(x, 3.0 * x, conf) < 1e-6  # cosine: the scale does not count
    y = x.clone()
    y[:, 0] = -x[:, 0]
    only_frame_0 = conf * torch.tensor([1.0, 0, 0, 0])[None, :, None]
    assert torch.isclose(frame_mac_loss(x, y, only_frame_0), torch.tensor(2.0))  # c_i^t weights
    assert frame_mac_loss(x, y, torch.zeros(2, 4, 3)) == 0
    cfg = tiny_config(mac_level="frame", mac_weight=0.5)
    out = MicroDualNet(cfg).eval()(*random_inputs(cfg))
    terms = compute_loss(out, torch.tensor([0, 1]), cfg)
    expected = frame_mac_loss(out.path_st, out.path_ts, out.confidence)
    assert torch.isclose(terms.mac, expected) and terms.mac > 0


def test_temporal_t_only_averages_temporal_t_over_the_frames() -> None:
    """Table IV's "Temporal Transformer" row: Temporal-T (Eq. 6-8) on each entity, then the
    mean over all frames (not the last frame's output)."""
    x = torch.randn(2, 5, 3, 32)
    agg = TemporalAggregator(tiny_config(paths="temporal", fusion="average", mac_weight=0.0,
                                         **NO_DROPOUT)).eval()
    with torch.no_grad():
        per_frame = agg.temporal(x)
        assert torch.allclose(agg(x), per_frame.mean(dim=1), atol=1e-6)
        assert not torch.allclose(agg(x), per_frame[:, -1], atol=1e-3)


def test_lstm_drops_out_between_its_layers_in_training() -> None:
    """docs/model.md: the Table IV LSTM has dropout between layers (none with one layer,
    where torch's LSTM has no place for it)."""
    x = torch.randn(2, 5, 3, 32)
    deep = TemporalAggregator(tiny_config(paths="lstm", fusion="average", mac_weight=0.0,
                                          num_layers=2, dropout=0.5))
    with torch.no_grad():
        assert not torch.allclose(deep.train()(x), deep(x))
        assert torch.equal(deep.eval()(x), deep(x))
    shallow = TemporalAggregator(tiny_config(paths="lstm", fusion="average", mac_weight=0.0,
                                             num_layers=1, dropout=0.5))
    assert shallow.lstm.dropout == 0.0
