from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from microdualnet.model.backbone import TSMBackbone, build_resnet
from microdualnet.model.config import make_config
from microdualnet.model.pretrained import canonical_key, load_backbone_weights, read_state_dict
from pipeio.errors import InputError

# Full-width ResNet-18 (torchvision shapes), 4 frames: small enough for a quick test.
CFG = make_config("demo", backbone_depth=18, backbone_width=64, num_frames=4)


def source_weights() -> dict[str, torch.Tensor]:
    """torchvision-format ResNet-18 weights with recognisable values."""
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v
            for k, v in build_resnet(18).state_dict().items()}


def as_tsm(tv: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official TSM naming: module.base_model.<key>, shifted conv1 as conv1.net."""
    out = {}
    for k, v in tv.items():
        if k.startswith("fc."):
            out["module.new_fc." + k[3:]] = v
            continue
        k = re.sub(r"^(layer\d\.\d+)\.conv1\.", r"\1.conv1.net.", k)
        out["module.base_model." + k] = v
    return out


def as_mmaction2(tv: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mmaction2 ResNetTSM naming: ConvModule conv/bn pairs, shift wrapper inside conv1.conv."""
    out = {}
    for k, v in tv.items():
        if k.startswith("fc."):
            out["cls_head.fc_cls." + k[3:]] = v
            continue
        k = re.sub(r"^bn1\.", "conv1.bn.", k)
        k = re.sub(r"^conv1\.", "conv1.conv.", k)
        k = re.sub(r"\.conv(\d)\.", r".conv\1.conv.", k)
        k = re.sub(r"\.bn(\d)\.", r".conv\1.bn.", k)
        k = k.replace("downsample.0.", "downsample.conv.").replace("downsample.1.",
                                                                     "downsample.bn.")
        k = re.sub(r"^(layer\d\.\d+)\.conv1\.conv\.", r"\1.conv1.conv.net.", k)
        out["backbone." + k] = v
    return out


def assert_copied(backbone: TSMBackbone, tv: dict[str, torch.Tensor]) -> None:
    own = {k.replace(".net.", "."): v for k, v in backbone.state_dict().items()}
    for k, v in tv.items():
        if not k.startswith("fc."):
            assert torch.equal(own[k], v), k


@pytest.mark.parametrize(("convert", "fmt"), [(dict, "torchvision"), (as_tsm, "tsm"),
                                              (as_mmaction2, "mmaction2")])
def test_official_key_names_load(convert, fmt: str) -> None:
    tv = source_weights()
    backbone = TSMBackbone(CFG)
    report = load_backbone_weights(backbone, convert(tv))
    assert report.source_format == fmt
    assert report.missing == [] and report.unexpected == []
    assert len(report.ignored) == 2  # the classifier head's weight and bias
    assert len(report.loaded) == len(tv) - 2
    assert_copied(backbone, tv)


def test_files_pth_and_safetensors(tmp_path: Path) -> None:
    tv = source_weights()
    torch.save({"epoch": 3, "state_dict": as_tsm(tv)}, tmp_path / "tsm.pth")
    save_file(as_mmaction2(tv), str(tmp_path / "mm.safetensors"))
    for name in ("tsm.pth", "mm.safetensors"):
        backbone = TSMBackbone(CFG)
        report = load_backbone_weights(backbone, tmp_path / name)
        assert report.missing == [], name
        assert_copied(backbone, tv)


def test_reports_missing_and_unexpected() -> None:
    tv = source_weights()
    del tv["layer4.1.conv2.weight"]
    tv["layer5.0.conv1.weight"] = torch.zeros(1)
    report = load_backbone_weights(TSMBackbone(CFG), tv)
    assert report.missing == ["layer4.1.conv2.weight"]
    assert report.unexpected == ["layer5.0.conv1.weight"]
    assert "1 missing" in report.summary()


def test_weights_of_another_layout_are_refused_not_trained_from_scratch() -> None:
    """Every key under a prefix the loader does not know: nothing would be copied, and the
    run would train from scratch while the config says it starts from these weights."""
    tv = {f"encoder.{k}": v for k, v in source_weights().items()}
    with pytest.raises(InputError, match=r"only 0 of \d+ backbone weights matched, \d+ keys "
                       r"did not \(e\.g\. 'encoder\."):
        load_backbone_weights(TSMBackbone(CFG), tv)


def test_shape_mismatch_and_unreadable_files(tmp_path: Path) -> None:
    small = TSMBackbone(make_config("demo", backbone_depth=18, num_frames=4))  # width 16
    with pytest.raises(InputError, match="'conv1.weight' has shape"):
        load_backbone_weights(small, source_weights())
    with pytest.raises(InputError, match="no such file"):
        read_state_dict(tmp_path / "absent.pth")
    with pytest.raises(InputError, match=r"is a folder; expected a weights file \(\.pth or "):
        read_state_dict(tmp_path)  # a model folder given for its weights file
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a checkpoint of tensors alone") as err:
        read_state_dict(tmp_path / "junk.pth")
    assert "weights_only" not in str(err.value)  # torch's advice to unpickle: never given


def test_canonical_keys() -> None:
    assert canonical_key("module.base_model.layer1.0.conv1.net.weight", "tsm") == \
        "layer1.0.conv1.weight"
    assert canonical_key("backbone.layer2.0.downsample.bn.running_mean", "mmaction2") == \
        "layer2.0.downsample.1.running_mean"
    assert canonical_key("backbone.layer3.1.conv2.bn.weight", "mmaction2") == \
        "layer3.1.bn2.weight"
    assert canonical_key("backbone.conv1.bn.bias", "mmaction2") == "bn1.bias"


class _Payload:
    """An object whose unpickling would run code: a weights-only load must never build it."""

    built = False

    def __reduce__(self):
        return (_mark_built, ())


def _mark_built() -> None:
    _Payload.built = True


def test_a_pth_file_is_never_unpickled(tmp_path: Path) -> None:
    torch.save({"state_dict": source_weights(), "payload": _Payload()}, tmp_path / "x.pth")
    with pytest.raises(InputError, match=r"pickles other objects, which this project never "
                       r"unpickles\); save its state_dict as \.safetensors") as err:
        read_state_dict(tmp_path / "x.pth")
    assert "weights_only" not in str(err.value)
    assert not _Payload.built


def test_nested_entries_are_unwrapped_and_non_tensors_dropped(tmp_path: Path) -> None:
    tv = source_weights()
    torch.save({"epoch": 3, "model": tv}, tmp_path / "model.pth")
    torch.save({**tv, "epoch": 3, "arch": "resnet18"}, tmp_path / "flat.pth")
    for name in ("model.pth", "flat.pth"):
        state = read_state_dict(tmp_path / name)
        assert sorted(state) == sorted(tv), name
        assert all(torch.equal(state[k], v) for k, v in tv.items())
    torch.save([tv["conv1.weight"]], tmp_path / "list.pth")
    with pytest.raises(InputError, match="list.pth: expected a dict of tensors"):
        read_state_dict(tmp_path / "list.pth")


def test_a_truncated_safetensors_file_is_refused(tmp_path: Path) -> None:
    save_file(source_weights(), str(tmp_path / "w.safetensors"))
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "w.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(InputError, match="w.safetensors (is|are) damaged or incomplete"):
        read_state_dict(tmp_path / "w.safetensors")


def test_batch_counters_are_not_reported_missing() -> None:
    """Older checkpoints (official TSM among them) have no num_batches_tracked buffers."""
    tv = {k: v for k, v in source_weights().items() if not k.endswith("num_batches_tracked")}
    report = load_backbone_weights(TSMBackbone(CFG), as_tsm(tv))
    assert report.missing == [] and report.unexpected == []


def test_an_explicit_format_overrides_detection() -> None:
    """An mmaction2 backbone saved on its own has no `backbone.` prefix to detect it by."""
    tv = source_weights()
    bare = {k.removeprefix("backbone."): v for k, v in as_mmaction2(tv).items()}
    backbone = TSMBackbone(CFG)
    report = load_backbone_weights(backbone, bare, fmt="mmaction2")
    assert report.source_format == "mmaction2" and report.missing == []
    assert_copied(backbone, tv)


def test_the_summary_counts_each_kind() -> None:
    tv = source_weights()
    del tv["layer4.1.conv2.weight"]
    tv["layer5.0.conv1.weight"] = torch.zeros(1)
    tv["layer5.0.conv2.weight"] = torch.zeros(1)
    report = load_backbone_weights(TSMBackbone(CFG), tv)
    loaded = len(tv) - 2 - 2  # less the two unexpected and the head's weight and bias
    assert report.summary() == (f"torchvision: {loaded} loaded, 1 missing, 2 unexpected, "
                                "2 ignored (heads)")


@pytest.mark.parametrize(("file_depth", "model_depth"), [(50, 101), (101, 50), (34, 18)])
def test_weights_of_another_depth_are_refused(file_depth: int, model_depth: int,
                                              tmp_path: Path) -> None:
    """ResNet-50 and -101 (and -18 and -34) share every weight shape: a public Kinetics TSM
    ResNet-50 file loaded into the paper's ResNet-101 left 255 of its weights (17 blocks) at
    random init with only a summary line; the reverse silently dropped 306 keys."""
    cfg = make_config("demo", backbone_depth=model_depth, backbone_width=16, num_frames=4)
    weights = as_tsm(build_resnet(file_depth, width=16).state_dict())
    with pytest.raises(InputError, match=rf"hold a ResNet-{file_depth} \(.* blocks per stage\), "
                       rf"the backbone is a ResNet-{model_depth} .*: set model\.overrides\."
                       rf"backbone_depth: {file_depth}, or use ResNet-{model_depth} weights"):
        load_backbone_weights(TSMBackbone(cfg), weights)
    path = tmp_path / "w.safetensors"  # a file is named
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path))
    with pytest.raises(InputError, match=rf"^pretrained weights {re.escape(str(path))} hold a "):
        load_backbone_weights(TSMBackbone(cfg), path)
    same = TSMBackbone(make_config("demo", backbone_depth=file_depth, backbone_width=16,
                                   num_frames=4))
    assert load_backbone_weights(same, weights).missing == []
