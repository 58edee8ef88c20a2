"""Model-ready clips: shapes, keypoints following crops and flips, the cache, and bad files
reported as Failures (also from DataLoader workers) instead of exceptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from microdualnet.body25 import INDEX
from microdualnet.data import ma52
from microdualnet.data.augment import train_view
from microdualnet.data.dataset import ClipCache, ClipDataset, Failure, ViewSpec, collate

SPEC = ViewSpec(num_frames=4, stride=2, size=48, need_pose=True)


def _records(root, split="train"):
    return ma52.read_split(root, split, ma52.label_map_for(root))[0]


def test_eval_items_are_model_ready(tiny_clips):
    ds = ClipDataset(_records(tiny_clips), SPEC)
    item = ds[0]
    assert item["video"].shape == (4, 3, 48, 48) and item["video"].dtype == torch.float32
    assert item["keypoints"].shape == (4, 25, 3)
    seen = item["keypoints"][..., 2] > 0
    xy = item["keypoints"][..., :2][seen]
    assert xy.min() >= -1 and xy.max() <= 48  # in the pixels of the 48 px input
    assert torch.equal(ds[0]["video"], item["video"])  # evaluation view is deterministic


def test_train_views_depend_on_seed_epoch_index_only(tiny_clips):
    spec = ViewSpec(**{**SPEC.__dict__, "train": True})
    a, b = ClipDataset(_records(tiny_clips), spec, seed=5), ClipDataset(_records(tiny_clips), spec,
                                                                       seed=5)
    a.set_epoch(2)
    b.set_epoch(2)
    assert torch.equal(a[3]["video"], b[3]["video"])
    b.set_epoch(3)
    assert not torch.equal(a[3]["video"], b[3]["video"])


def test_flip_mirrors_keypoints_and_swaps_sides():
    frames = np.zeros((1, 48, 48, 3), np.uint8)
    kp = np.zeros((1, 25, 3), np.float32)
    kp[0, INDEX["RWrist"]] = (10, 30, 0.9)
    kp[0, INDEX["LWrist"]] = (40, 30, 0.8)
    _, out = train_view(frames, kp, 48, np.random.default_rng(0), scale=(1.0, 1.0), flip_p=1.0)
    # The subject's right wrist is now the mirrored left one, and vice versa.
    np.testing.assert_allclose(out[0, INDEX["RWrist"]], (7, 30, 0.8))
    np.testing.assert_allclose(out[0, INDEX["LWrist"]], (37, 30, 0.9))
    assert out[0, INDEX["Nose"]].tolist() == [0, 0, 0]  # undetected joints stay undetected


def test_keypoints_follow_the_pixels_through_crop_and_flip():
    """A bright dot drawn at a joint is still under that joint after the random view, with
    and without the flip (which also swaps left and right joints)."""
    frames = np.zeros((2, 48, 80, 3), np.uint8)
    frames[:, 20, 40] = 255  # in the middle: every 32-px crop of the 32 x 53 resize keeps it
    kp = np.zeros((2, 25, 3), np.float32)
    kp[:, INDEX["LWrist"]] = (40, 20, 1.0)
    flips = set()
    for seed in range(8):
        video, out = train_view(frames, kp, 32, np.random.default_rng(seed), scale=(1.0, 1.0))
        flipped = bool(out[0, INDEX["RWrist"], 2])
        flips.add(flipped)
        x, y = out[0, INDEX["RWrist" if flipped else "LWrist"], :2]
        assert 0 <= x < 32 and 0 <= y < 32, seed
        row, col = np.unravel_index(np.argmax(video[0, 0]), video[0, 0].shape)
        # Within a pixel: the resize spreads the dot over two (a crop or flip error moves it
        # by many).
        assert abs(col - x) <= 1 and abs(row - y) <= 1, (seed, col, row, x, y)
    assert flips == {False, True}


@pytest.mark.parametrize("stride", [1, 2])  # the clips (8-12 frames) hold 4 frames at both
def test_cache_gives_the_same_eval_view(tiny_clips, stride):
    """The cache keeps every stride-th frame from 0, the grid evaluation centres on, so the
    cached and the decoded clip give the same frames (the keypoints say which)."""
    records = _records(tiny_clips, "val")
    spec = ViewSpec(num_frames=4, stride=stride, size=48)
    cache = ClipCache.build(records, stride=stride, max_short=48, need_pose=True)
    assert cache.nbytes() > 0 and not cache.errors
    plain, cached = ClipDataset(records, spec), ClipDataset(records, spec, cache=cache)
    for i in range(len(records)):
        torch.testing.assert_close(plain[i]["keypoints"], cached[i]["keypoints"])
        assert (plain[i]["video"] - cached[i]["video"]).abs().mean() < 0.05


def test_bad_files_become_failures_naming_the_file(clips_copy, damage):
    records = damage(clips_copy)
    ds = ClipDataset(records, ViewSpec(num_frames=8, stride=1, size=48))
    fails = [ds[i] for i in range(4)]
    assert all(isinstance(f, Failure) for f in fails)
    assert "is not readable" in fails[0].reason and records[0].name in fails[0].reason
    assert "does not exist" in fails[1].reason
    assert "no person detected" in fails[2].reason
    assert "must hold 75 numbers" in fails[3].reason and records[3].name in fails[3].reason
    assert not isinstance(ds[4], Failure)


def test_worker_failures_reach_the_main_process(clips_copy, damage):
    records = damage(clips_copy)
    loader = DataLoader(ClipDataset(records, ViewSpec(num_frames=8, stride=1, size=48)),
                        batch_size=6, num_workers=1, collate_fn=collate)
    batches = list(loader)
    assert sum(len(b.failures) for b in batches) == 4
    assert sum(len(b) for b in batches) == len(records) - 4
    assert batches[0].video.shape[1:] == (8, 3, 48, 48)
    cache = ClipCache.build(records, stride=1, max_short=48, need_pose=True, workers=1)
    assert sorted(cache.errors) == [0, 1, 2, 3]


def test_person_view_centres_the_body_and_keeps_keypoints_aligned():
    from microdualnet.data.personcrop import person_square, person_view

    frames = np.zeros((2, 120, 160, 3), np.uint8)
    kp = np.zeros((2, 25, 3), np.float32)
    kp[:, INDEX["Nose"]] = (100, 40, 0.9)
    kp[:, INDEX["MidHip"]] = (100, 80, 0.9)
    kp[:, INDEX["LWrist"]] = (90, 70, 0.2)  # below the 0.3 threshold: ignored for the box
    frames[:, 40, 100] = 255
    assert person_square(kp, 160, 120, margin=1.5) == (100, 60, 60)
    video, out = person_view(frames, kp, 30, margin=1.5)
    # square x 70-130, y 30-90 resized by 0.5: nose at (15, 5), hip at (15, 25).
    np.testing.assert_allclose(out[0, INDEX["Nose"], :2], (15, 5))
    np.testing.assert_allclose(out[0, INDEX["MidHip"], :2], (15, 25))
    assert video.shape == (2, 3, 30, 30)
    row, col = np.unravel_index(np.argmax(video[0, 0]), (30, 30))
    assert abs(col - 15) <= 1 and abs(row - 5) <= 1
    none = np.zeros_like(kp)
    assert person_square(none, 160, 120) == (80, 60, 120)  # nobody: the whole short side


def test_person_view_dataset_items(tiny_clips):
    spec = ViewSpec(num_frames=4, stride=2, size=48, train=True, view="person",
                    scale=(0.9, 1.1))
    item = ClipDataset(_records(tiny_clips), spec)[0]
    assert item["video"].shape == (4, 3, 48, 48)
    xy = item["keypoints"][..., :2][item["keypoints"][..., 2] > 0.3]
    assert xy.min() >= -1 and xy.max() <= 49 and xy[:, 1].max() - xy[:, 1].min() > 20


def test_a_pose_folder_without_the_expected_json_names_says_so(clips_copy):
    """Files named otherwise (or none at all) read as "no person detected" before, sending
    the researcher to check the detections instead of the file names."""
    record = _records(clips_copy, "val")[0]
    for f in record.pose_dir.iterdir():
        f.rename(f.with_name(f.name.replace("_keypoints", "")))
    fail = ClipDataset([record], ViewSpec(num_frames=4, stride=1, size=48))[0]
    assert isinstance(fail, Failure)
    assert "no OpenPose JSON file for any sampled frame" in fail.reason
    assert f"expected names like {record.name}_0000000000" in fail.reason
