"""The inference loader: each frame decoded once, forward, and every batch exactly eval_view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from inference_testkit import FPS, HEIGHT, SECONDS, WIDTH

from microdualnet.contract import View
from microdualnet.data import transforms
from microdualnet.data.clipio import read_video
from microdualnet.data.dataset import ViewSpec
from microdualnet.data.personcrop import person_view
from microdualnet.data.records import ClipRecord
from microdualnet.data.views import FullView, PersonView, make_view, prescale
from microdualnet.inference.loader import (
    Batch,
    PreparedFrames,
    WindowBatches,
    _normalise_arithmetic,
    batch_starts,
    make_batches,
    normalise_video,
)
from microdualnet.inference.workers import load_batches
from microdualnet.video import FrameStream
from microdualnet.windowplan import SamplingRule, plan_windows

SIZE = 64


class SpyStream(FrameStream):
    """Records which frames were decoded to RGB, in order."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.read: list[int] = []

    def frames(self, indices):
        for index, pixels in super().frames(indices):
            self.read.append(index)
            yield index, pixels


@pytest.fixture(scope="module")
def setup(cohort):
    video = cohort / "videos/sub-001.mp4"
    plan = plan_windows(SECONDS * FPS, FPS, SamplingRule(4, 0.2), 2.0, 0.5)
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 1, (len(plan), 4, 25, 3)).astype(np.float32)
    keypoints[..., 0] *= WIDTH
    keypoints[..., 1] *= HEIGHT
    return video, plan, keypoints


# A person view whose source resolution is below the video's, so frames are prescaled too.
PERSON = View("person", margin=1.5, source_short_side=60)
VIEWS = {"full": FullView(SIZE), "person": PersonView(SIZE, PERSON)}


def _expected(video, frames, kp, kind="full"):
    """What evaluation does with one window: training's reader, then its eval view."""
    pixels, _ = read_video(ClipRecord("w", video, 0), lambda n: frames)
    if kind == "full":
        view, kp_view = transforms.eval_view(pixels, kp, SIZE)
    else:
        spec = ViewSpec(len(frames), 1, SIZE, view="person", margin=PERSON.margin,
                        source_short=PERSON.source_short_side)
        pixels, kp = prescale(pixels, kp, spec.source_short)
        view, kp_view = person_view(pixels, kp, SIZE, spec.margin)
    return torch.from_numpy(view), torch.from_numpy(kp_view)


@pytest.mark.parametrize("batch_size, which, kind", [
    (1, "all", "full"), (3, "all", "full"), (16, "all", "full"), (3, "some", "full"),
    (3, "all", "person"), (16, "some", "person")])
def test_every_batch_is_the_eval_view_of_its_windows(setup, batch_size, which, kind):
    video, plan, keypoints = setup
    rows = np.arange(len(plan)) if which == "all" else np.array([0, 2, 3, 7, 11])
    with SpyStream(video) as stream:
        batches = list(make_batches(stream, plan.frames, keypoints, rows, view=VIEWS[kind],
                                    batch_size=batch_size, frame_shape=(HEIGHT, WIDTH)))
        decoded = stream.read
    assert np.array_equal(np.concatenate([b.windows for b in batches]), rows)
    for batch in batches:
        assert batch.video.dtype == torch.uint8
        clips = normalise_video(batch.video)
        for i, row in enumerate(batch.windows):
            view, kp_view = _expected(video, plan.frames[row], keypoints[row], kind)
            assert torch.equal(clips[i], view)
            torch.testing.assert_close(batch.keypoints[i], kp_view, rtol=0, atol=1e-4)
    # Each needed frame decoded exactly once, in order: no seeking back.
    assert decoded == np.unique(plan.frames[rows]).tolist()


@pytest.mark.parametrize("n, batch_size", [(0, 16), (3, 16), (13, 16), (237, 16), (10, 1),
                                           (9, 2), (50, 3), (100, 64)])
def test_batches_cover_every_window_once_the_first_two_smaller(n, batch_size):
    """The model starts on a quarter and then half a batch (ready sooner), then full ones."""
    starts = batch_starts(n, batch_size)
    sizes = np.diff(starts)
    assert starts[0] == 0 and starts[-1] == n and (sizes > 0).all()
    if n == 0:
        assert len(sizes) == 0
        return
    ramp = [s for s in (batch_size // 4, batch_size // 2) if 0 < s < batch_size]
    expected = [*ramp, *[batch_size] * n][:len(sizes)]
    assert sizes[:-1].tolist() == expected[:-1] and sizes[-1] <= expected[-1]
    if n >= 3 * batch_size and batch_size >= 4:
        assert sizes[0] == batch_size // 4 and sizes[1] == batch_size // 2


def test_kept_frames_stay_within_two_batches(setup):
    """Memory is bounded by the batch size, not by the video's length."""
    video, plan, _ = setup
    batches = [plan.frames[lo:lo + 2] for lo in range(0, len(plan), 2)]
    out = torch.empty((2, plan.frames.shape[1], SIZE, SIZE, 3), dtype=torch.uint8)
    sizes = []
    with FrameStream(video) as stream:
        prepared = PreparedFrames(stream, batches, VIEWS["full"])
        for k, idx in enumerate(batches):
            np.stack(prepared.windows(k, idx, None), out=out[:len(idx)].flatten(0, 1).numpy())
            sizes.append(len(prepared.cache))
    two_batches = 2 * 2 * plan.frames.shape[1]  # of two windows, T frames each
    assert len(batches) > 5 and max(sizes) <= two_batches


def test_pose_only_models_decode_nothing(setup):
    video, plan, keypoints = setup
    batches = list(make_batches(None, plan.frames, keypoints, np.arange(len(plan)),
                                view=VIEWS["full"], batch_size=4, frame_shape=(HEIGHT, WIDTH)))
    assert all(b.video is None for b in batches)
    _, kp_view = _expected(video, plan.frames[5], keypoints[5])
    assert torch.equal(torch.cat([b.keypoints for b in batches])[5], kp_view)


def test_two_loader_processes_share_the_video_and_give_the_same_batches(setup):
    """Each process takes a stretch of consecutive batches; together they give every batch
    of one process once, with the same pixels (the order of arrival may differ)."""
    video, plan, keypoints = setup
    rows = np.arange(len(plan))

    def run(workers):
        data = WindowBatches(video, plan.frames, keypoints, rows, view=VIEWS["full"],
                             batch_size=3, need_video=True, frame_shape=(HEIGHT, WIDTH))
        # A batch's buffer is reused once the next is asked for: keep copies. A list, not
        # a dict, so a batch handed over twice shows.
        got = [Batch(b.windows.copy(), b.video.clone(), b.keypoints.clone())
               for b in load_batches(data, workers)]
        assert len(got) == len(data)
        got.sort(key=lambda b: int(b.windows[0]))
        assert np.array_equal(np.concatenate([b.windows for b in got]), rows)
        return {int(b.windows[0]): b for b in got}

    alone, two = run(0), run(2)
    assert sorted(alone) == sorted(two)
    for first, batch in alone.items():
        assert np.array_equal(batch.windows, two[first].windows)
        assert torch.equal(batch.video, two[first].video)
        assert torch.equal(batch.keypoints, two[first].keypoints)


def test_inference_with_two_loader_processes_equals_one(cohort, poses, demo_model,
                                                        monkeypatch):
    import microdualnet.inference.runner as runner

    processes = []  # the loader processes each run really started

    def counted(batches, workers):
        processes.append(min(workers, len(batches)))
        return load_batches(batches, workers)

    monkeypatch.setattr(runner, "load_batches", counted)

    def table(workers):
        opts = runner.InferenceOptions(batch_size=3, device="cpu", progress=False,
                                       workers=workers)
        return runner.run_inference(demo_model, cohort / "videos/sub-003.mp4",
                                    poses["sub-003"], opts).table

    one, two = table(1), table(2)
    assert processes == [1, 2]  # two processes, whose stretches arrive interleaved
    assert one.equals(two)


def test_normalise_video_on_cpu_and_the_gpu_arithmetic_equal_training(setup):
    frames = torch.from_numpy(np.random.default_rng(1).integers(
        0, 256, (2, 3, 8, 8, 3), dtype=np.uint8))
    expected = torch.from_numpy(transforms.normalise(frames.reshape(-1, 8, 8, 3).numpy()))
    expected = expected.view(2, 3, 3, 8, 8)
    assert torch.equal(normalise_video(frames), expected)
    assert torch.equal(_normalise_arithmetic(frames), expected)


@pytest.mark.parametrize(("frame_shape", "view", "skip"), [
    ((1080, 1920), FullView(224), True),   # 4.8-fold: the paper preset on 1080p
    ((720, 1280), FullView(224), True),    # 3.2-fold
    ((120, 160), FullView(112), False),    # the demo's videos
    ((1080, 1920), PersonView(224, View("person", margin=1.5, source_short_side=448)), False),
    ((1080, 1920), PersonView(112, View("person", margin=1.5, source_short_side=224)), True),
])
def test_deblocking_is_skipped_only_where_the_view_scales_down_far(frame_shape, view, skip):
    """The kept frames are 2.5-fold smaller or more (SKIP_DEBLOCKING_FROM): decode without
    the filter (under one grey level there); nearer the video's size, decode in full."""
    batches = WindowBatches(Path("v.mp4"), np.zeros((1, 4), np.int64),
                            np.ones((1, 4, 25, 3), np.float32), np.arange(1), view=view,
                            batch_size=1, need_video=True, frame_shape=frame_shape)
    assert batches.skip_deblocking is skip


@pytest.mark.parametrize(("frame_shape", "view", "reduction"), [
    ((720, 1280), FullView(224), 720 / 224),
    ((1080, 1920), PersonView(112, View("person", source_short_side=224)), 1080 / 224),
    ((120, 160), PersonView(64, View("person", source_short_side=448)), 1.0),  # not enlarged
])
def test_reduction_is_the_shorter_sides_ratio(frame_shape, view, reduction):
    assert view.reduction(frame_shape) == pytest.approx(reduction)


def test_make_view_builds_the_models_view():
    assert isinstance(make_view(View("full"), 64), FullView)
    assert isinstance(make_view(View("person"), 64), PersonView)


def test_person_view_boxes_follow_margin_and_fall_back_to_the_centre():
    """No confident joint: the kept frame's centred short-side square; else the joints'
    extent times the view's own margin."""
    kp = np.zeros((2, 1, 25, 3), np.float32)
    kp[1, 0, 0], kp[1, 0, 8] = (40, 20, 0.9), (40, 40, 0.9)
    geometry = PersonView(16, View("person", margin=2.0)).geometry(kp, (72, 96))
    assert geometry.boxes.tolist() == [[12, 0, 72], [20, 10, 40]]
    prescaled = PersonView(16, View("person", source_short_side=60)).geometry(kp[:1], (72, 96))
    assert prescaled.boxes.tolist() == [[10, 0, 60]]


def test_each_stretchs_reader_is_closed_also_when_stopped_early(setup, monkeypatch):
    """A loader opens its own reader at its stretch's first frame; finished or stopped, it
    closes it (a cohort run would otherwise hold every video's decoder open)."""
    import microdualnet.inference.loader as loader

    video, plan, keypoints = setup
    opened = []

    class Counted(FrameStream):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.closed, self.start = False, kwargs.get("start", 0)
            opened.append(self)

        def close(self) -> None:
            self.closed = True
            super().close()

    monkeypatch.setattr(loader, "FrameStream", Counted)
    data = WindowBatches(video, plan.frames, keypoints, np.arange(len(plan)),
                         view=VIEWS["full"], batch_size=3, need_video=True,
                         frame_shape=(HEIGHT, WIDTH))
    assert len(list(data.produce(data.stretch(1, 2)))) == len(data.stretch(1, 2))
    early = data.produce(range(len(data)))
    next(early)
    early.close()
    assert len(opened) == 2 and all(stream.closed for stream in opened)
    # Each reader starts at its stretch's first frame, not the video's or a later one.
    second = data.stretch(1, 2)[0]
    assert [s.start for s in opened] == [int(plan.frames[data.rows(second)].min()),
                                         int(plan.frames[data.rows(0)].min())]


def test_a_batchs_keypoints_are_its_own(setup):
    """Changing a batch's keypoints (the model may, in place) leaves the plan's intact."""
    video, plan, keypoints = setup
    data = WindowBatches(video, plan.frames, keypoints, np.arange(len(plan)),
                         view=VIEWS["full"], batch_size=3, need_video=False,
                         frame_shape=(HEIGHT, WIDTH))
    before = data.batch_keypoints(1).clone()
    data.batch_keypoints(1).zero_()
    assert torch.equal(data.batch_keypoints(1), before) and before.abs().sum() > 0
