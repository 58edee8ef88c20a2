"""Model-ready clips: shapes, keypoints following crops and flips, the cache, and bad files
reported as Failures (also from DataLoader workers) instead of exceptions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from microdualnet.body25 import INDEX
from microdualnet.data import ma52
from microdualnet.data.augment import train_view
from microdualnet.data.dataset import ClipCache, ClipDataset, Failure, ViewSpec, collate
from pipeio.errors import InputError

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


def test_a_segment_reads_its_own_frames_and_their_pose(tiny_clips):
    """Frames `start_frame` on, cut at the video's end (a release's off-by-one past it), with
    the JSON of exactly those frames; a segment starting at the end, or ending over a second
    past it (another video's annotation), is an error naming the video."""
    from microdualnet.data.clipio import read_pose, read_video
    from microdualnet.openpose_io import frame_filename, read_frame

    whole = _records(tiny_clips, "val")[0]
    everything, _ = read_video(whole, np.arange)
    seg = replace(whole, start_frame=4, end_frame=len(everything) + 2)
    frames, frames_abs = read_video(seg, np.arange)
    assert frames_abs.tolist() == list(range(4, len(everything)))
    np.testing.assert_array_equal(frames, everything[4:])
    kp = read_pose(seg, frames_abs)
    for t, frame in enumerate(frames_abs):
        expected = read_frame(whole.pose_dir / frame_filename(whole.name, int(frame)))[0]
        np.testing.assert_array_equal(kp[t], expected)
    with pytest.raises(InputError, match=f"segment {len(everything)}-None is outside"):
        read_video(replace(whole, start_frame=len(everything)), np.arange)
    with pytest.raises(InputError, match=f"segment 4-10000 ends {10_000 - len(everything)} "
                                         f"frames past the video's {len(everything)} frames"):
        read_video(replace(whole, start_frame=4, end_frame=10_000), np.arange)


def test_the_most_confident_person_is_the_clips_subject():
    from microdualnet.data.clipio import _main_person

    people = np.zeros((3, 25, 3), np.float32)
    people[0, :, 2], people[1, :5, 2], people[2, :, 2] = 0.5, 0.9, 0.4
    people[:, :, 0] = np.array([[300], [900], [100]])  # x alone must not decide
    assert _main_person(people)[0, 0] == 300


def test_pose_is_read_only_when_the_model_uses_it(tiny_clips):
    from microdualnet.data.clipio import read_clip

    rec = replace(_records(tiny_clips, "val")[0], pose_dir=tiny_clips / "nowhere")
    frames, kp = read_clip(rec, lambda n: np.arange(2), need_pose=False)
    assert len(frames) == 2 and kp.shape == (2, 25, 3) and not kp.any()
    with pytest.raises(InputError, match=f"nowhere: pose folder for clip {rec.name} is missing"):
        read_clip(rec, lambda n: np.arange(2), need_pose=True)


def test_items_carry_their_label_and_each_clip_its_own_view(tiny_clips):
    """Two copies of one clip in one epoch get different random views (the clip index is in
    the seed); labels reach the batch."""
    rec = _records(tiny_clips)[-1]
    assert rec.label != 0
    spec = ViewSpec(**{**SPEC.__dict__, "train": True})
    ds = ClipDataset([rec, rec], spec, seed=1)
    assert not torch.equal(ds[0]["video"], ds[1]["video"])
    batch = collate([ds[0], ds[1]])
    assert batch.labels.tolist() == [rec.label, rec.label] and batch.indices.tolist() == [0, 1]


def test_cache_errors_and_stride_mismatch(tiny_clips):
    rec = _records(tiny_clips)[0]
    cache = ClipCache([None], [None], {0: "x.mp4: broken"}, stride=2)
    fail = ClipDataset([rec], SPEC, cache=cache)[0]
    assert fail == Failure(0, "x.mp4: broken")
    with pytest.raises(ValueError, match="another frame stride"):
        ClipDataset([rec], replace(SPEC, stride=1), cache=cache)


def test_cache_keeps_frames_at_most_max_short(tiny_clips):
    cache = ClipCache.build(_records(tiny_clips, "val")[:1], stride=2, max_short=24,
                            need_pose=True)
    assert cache.frames[0].shape[1:3] == (24, 32)
    assert cache.keypoints[0][..., 0].max() <= 32


def test_library_errors_become_input_errors_naming_the_video(tiny_clips):
    from microdualnet.data.dataset import _read_guarded

    rec = _records(tiny_clips)[0]
    with pytest.raises(InputError, match=f"{rec.video}: KeyError: 'x'"):
        _read_guarded(rec, lambda: {}["x"])


def test_person_view_dataset_brings_frames_to_the_source_resolution_first(tiny_clips):
    from microdualnet.data.clipio import read_clip
    from microdualnet.data.personcrop import person_view
    from microdualnet.data.sampling import sample_indices
    from microdualnet.data.views import prescale

    rec = _records(tiny_clips, "val")[0]
    spec = ViewSpec(num_frames=4, stride=2, size=16, view="person", source_short=24)
    item = ClipDataset([rec], spec)[0]
    frames, kp = read_clip(rec, lambda n: sample_indices(n, 4, 2), True)
    video, kp = person_view(*prescale(frames, kp, 24), 16, spec.margin)
    assert torch.equal(item["video"], torch.from_numpy(video))
    torch.testing.assert_close(item["keypoints"], torch.from_numpy(kp))


def _two_joints():
    kp = np.zeros((1, 25, 3), np.float32)
    kp[:, INDEX["Nose"]] = (100, 40, 0.9)
    kp[:, INDEX["MidHip"]] = (100, 80, 0.9)
    return np.zeros((1, 120, 160, 3), np.uint8), kp


def test_person_view_jitters_scale_shift_and_mirror_as_asked():
    from microdualnet.data.personcrop import MIN_CONF, person_square, person_view

    frames, kp = _two_joints()
    at_threshold = kp.copy()
    at_threshold[:, INDEX["LAnkle"]] = (10, 110, MIN_CONF)  # not above: ignored
    assert person_square(at_threshold, 160, 120) == (100, 60, 60)
    rng = np.random.default_rng(0)
    # half the side: the body spans twice the pixels (40 of 30 instead of 20)
    _, out = person_view(frames, kp, 30, rng=rng, scale=(0.5, 0.5))
    assert out[0, INDEX["MidHip"], 1] - out[0, INDEX["Nose"], 1] == pytest.approx(40)
    shifted = np.array([person_view(frames, kp, 30, rng=np.random.default_rng(s), shift=0.25)[1]
                        [0, INDEX["Nose"], :2] for s in range(6)])
    assert np.ptp(shifted[:, 0]) > 2 and np.ptp(shifted[:, 1]) > 2
    _, flipped = person_view(frames, kp, 30, rng=rng, flip_p=1.0)
    _, kept = person_view(frames, kp, 30, rng=rng, flip_p=0.0)
    assert (flipped[0, INDEX["Nose"], 0], kept[0, INDEX["Nose"], 0]) == (14, 15)  # 29 - 15


@pytest.mark.parametrize(("centre", "side", "box"), [
    ((150, 60), 40, (120, 40, 40)),    # clamped at the right edge
    ((80, 110), 40, (60, 80, 40)),     # and at the bottom (by the height)
    ((50.9, 60.9), 40, (31, 41, 40)),  # rounded to the nearest pixel, not floored
    ((50, 60), 40.6, (30, 40, 41)),
    ((80, 60), 3, (76, 56, 8)),        # at least 8 px
])
def test_square_box_fits_the_frame_in_whole_pixels(centre, side, box):
    from microdualnet.data.personcrop import square_box

    assert square_box(*centre, side, 160, 120) == box


def test_train_view_never_crops_beyond_the_frame():
    frames, kp = _two_joints()
    video, _ = train_view(frames, kp, 48, np.random.default_rng(0), scale=(0.5, 0.5))
    assert video.shape == (1, 3, 48, 48)


def test_person_view_dataset_applies_the_specs_scale_jitter(tiny_clips):
    rec = _records(tiny_clips, "val")[0]
    spans = []
    for scale in ((1.0, 1.0), (0.5, 0.5)):
        spec = ViewSpec(num_frames=4, stride=2, size=48, train=True, view="person", scale=scale,
                        shift=0.0, flip_p=0.0)
        kp = ClipDataset([rec], spec)[0]["keypoints"]
        y = kp[..., 1][kp[..., 2] > 0.3]
        spans.append(float(y.max() - y.min()))
    assert spans[1] == pytest.approx(2 * spans[0], rel=0.1)  # half the square: twice the pixels
