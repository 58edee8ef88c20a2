"""Loader processes: the same batches as one process, in reused buffers; failures surface."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from inference_testkit import HEIGHT, WIDTH

from microdualnet.data.views import FullView
from microdualnet.inference.loader import WindowBatches, make_batches, normalise_video
from microdualnet.inference.workers import load_batches
from microdualnet.video import FrameStream
from microdualnet.windowplan import SamplingRule, plan_windows
from pipeio.errors import InputError

SIZE = 48


@pytest.fixture(scope="module")
def setup(cohort):
    video = cohort / "videos/sub-002.mp4"
    plan = plan_windows(80, 10.0, SamplingRule(4, 0.2), 2.0, 0.5)
    keypoints = np.random.default_rng(0).uniform(0, 1, (len(plan), 4, 25, 3)).astype(
        np.float32) * np.array([WIDTH, HEIGHT, 1], np.float32)
    return video, plan, keypoints


def _batches(setup, cls=WindowBatches, need_video=True, normalised=True):
    video, plan, keypoints = setup
    return cls(video, plan.frames, keypoints, np.arange(len(plan)), view=FullView(SIZE),
               batch_size=3, need_video=need_video, frame_shape=(HEIGHT, WIDTH),
               normalised=normalised)


def _collect(batches, workers):
    """{first window row: (rows, video copy, keypoints)}; buffers are reused, so copy.

    Every batch must arrive exactly once: collected in a list first, so a batch handed
    over twice (which a dict keyed by first row would hide) fails here."""
    got = [(b.windows.copy(), None if b.video is None else b.video.clone(), b.keypoints)
           for b in load_batches(batches, workers)]
    assert len(got) == len(batches)
    got.sort(key=lambda item: int(item[0][0]))
    assert np.array_equal(np.concatenate([rows for rows, _, _ in got]),
                          np.asarray(batches.windows))
    return {int(rows[0]): (rows, video, kp) for rows, video, kp in got}


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_processes_hand_over_the_normalised_input_of_every_window_once(setup, workers):
    video, plan, keypoints = setup
    with FrameStream(video) as stream:
        expected = {int(b.windows[0]): b for b in make_batches(
            stream, plan.frames, keypoints, np.arange(len(plan)), view=FullView(SIZE),
            batch_size=3, frame_shape=(HEIGHT, WIDTH))}
    got = _collect(_batches(setup), workers)
    assert sorted(got) == sorted(expected)
    assert np.array_equal(np.sort(np.concatenate([r for r, _, _ in got.values()])),
                          np.arange(len(plan)))
    for first, (rows, clip, kp) in got.items():
        assert clip.dtype == torch.float32 and clip.shape == (len(rows), 4, 3, SIZE, SIZE)
        assert np.array_equal(rows, expected[first].windows)
        assert torch.equal(clip, normalise_video(expected[first].video))
        assert torch.equal(kp, expected[first].keypoints)
    assert multiprocessing.active_children() == []


def test_uint8_batches_for_a_gpu_and_pose_only_batches(setup):
    one = _collect(_batches(setup, normalised=False), 0)
    two = _collect(_batches(setup, normalised=False), 2)
    assert all(torch.equal(one[k][1], two[k][1]) and two[k][1].dtype == torch.uint8
               for k in one)
    pose_only = _collect(_batches(setup, need_video=False), 2)
    assert sorted(pose_only) == sorted(one)
    assert all(v is None and torch.equal(kp, one[k][2])
               for k, (_, v, kp) in pose_only.items())


class _BadInputAtSecondBatch(WindowBatches):
    def produce(self, ks, stream=None, shared=False, reuse=False):
        for i, batch in enumerate(super().produce(ks, stream, shared, reuse)):
            if i == 1:
                raise InputError("video x.mp4: decoding frame 12 failed (truncated file?)")
            yield batch


class _Bug(WindowBatches):
    def produce(self, ks, stream=None, shared=False, reuse=False):
        raise ValueError("an unexpected bug")
        yield


class _Killed(WindowBatches):
    def produce(self, ks, stream=None, shared=False, reuse=False):
        os._exit(9)
        yield


class _KilledBySignal(WindowBatches):  # as the kernel's out-of-memory killer does
    def produce(self, ks, stream=None, shared=False, reuse=False):
        os.kill(os.getpid(), signal.SIGKILL)
        yield


def test_bad_input_in_a_loader_is_the_one_line_error(setup):
    with pytest.raises(InputError, match=r"^video x.mp4: decoding frame 12 failed"):
        list(load_batches(_batches(setup, _BadInputAtSecondBatch), 1))
    assert multiprocessing.active_children() == []


def test_loader_processes_end_with_the_error_not_when_it_is_collected(setup):
    """The error's traceback keeps the loader's iterator alive: its processes must be gone
    already, while the caller still holds the error (as a log or a retry would)."""
    with pytest.raises(InputError) as info:
        list(load_batches(_batches(setup, _BadInputAtSecondBatch), 2))
    assert info.value.__traceback__ is not None
    assert multiprocessing.active_children() == []


def test_a_bug_in_a_loader_arrives_with_its_traceback(setup):
    with pytest.raises(RuntimeError, match=r"(?s)a loader process failed.*ValueError: an "
                                           "unexpected bug"):
        list(load_batches(_batches(setup, _Bug), 2))
    assert multiprocessing.active_children() == []


def test_a_loader_that_dies_is_an_error_not_a_hang(setup):
    with pytest.raises(RuntimeError, match=r"loader process .* died \(exit code 9"):
        list(load_batches(_batches(setup, _Killed), 1))
    assert multiprocessing.active_children() == []


def test_a_loader_killed_by_a_signal_is_an_error_naming_it(setup):
    with pytest.raises(RuntimeError, match=r"loader process .* died \(exit code -9;"):
        list(load_batches(_batches(setup, _KilledBySignal), 1))
    assert multiprocessing.active_children() == []


def test_stopping_early_ends_the_loader_processes(setup):
    batches = load_batches(_batches(setup), 2)
    next(batches)
    assert multiprocessing.active_children()
    batches.close()
    assert multiprocessing.active_children() == []


def test_loaders_start_after_this_process_used_opencv_threads(setup, tmp_path):
    """OpenCV's thread pool busy in the model's process before the loaders fork: a loader
    changing the thread count then waited forever for workers it does not have (the suite
    hung here once). Run in a subprocess, so a regression fails instead of hanging."""
    video, plan, _ = setup
    script = tmp_path / "run.py"
    script.write_text(
        "import cv2, numpy as np, sys\n"
        "from microdualnet.data.views import FullView\n"
        "from microdualnet.inference.loader import WindowBatches\n"
        "from microdualnet.inference.workers import load_batches\n"
        "cv2.setNumThreads(2)\n"
        "big = np.zeros((1080, 1920, 3), np.uint8)\n"
        "for _ in range(20):\n"
        "    cv2.resize(big, (640, 360), interpolation=cv2.INTER_AREA)\n"
        "frames = np.load(sys.argv[2])\n"
        "kp = np.zeros((len(frames), frames.shape[1], 25, 3), np.float32)\n"
        "data = WindowBatches(sys.argv[1], frames, kp, np.arange(len(frames)),\n"
        "                     view=FullView(48), batch_size=3, need_video=True,\n"
        f"                     frame_shape=({HEIGHT}, {WIDTH}))\n"
        "print(sum(len(b.windows) for b in load_batches(data, 2)))\n")
    np.save(tmp_path / "frames.npy", plan.frames)
    done = subprocess.run([sys.executable, str(script), str(video), str(tmp_path / "frames.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(len(plan))


@pytest.mark.parametrize("workers", [0, 2])
def test_no_windows_no_batches_and_no_processes(setup, workers):
    video, plan, keypoints = setup
    none = WindowBatches(video, plan.frames, keypoints, np.arange(0), view=FullView(SIZE),
                         batch_size=3, need_video=True, frame_shape=(HEIGHT, WIDTH))
    assert len(none) == 0
    assert list(load_batches(none, workers)) == []
    assert multiprocessing.active_children() == []


def test_no_more_loader_processes_than_batches(setup):
    video, plan, keypoints = setup
    few = WindowBatches(video, plan.frames, keypoints, np.arange(len(plan)),
                        view=FullView(SIZE), batch_size=len(plan) + 1, need_video=False,
                        frame_shape=(HEIGHT, WIDTH))
    assert 1 < len(few) < 4
    batches = load_batches(few, 4)
    next(batches)
    assert len(multiprocessing.active_children()) == len(few)
    batches.close()
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and glibc's heap")
@pytest.mark.parametrize("workers", [0, 1])
def test_memory_does_not_grow_with_the_batches(setup, tmp_path, workers):
    """A loader made each batch on its heap, and the block a batch left behind when it
    crossed to the model's process was seldom reused: the loader grew by about a batch per
    batch (2-3 GB over a 20-min video). Without loaders (`--workers 0`, the workflow's
    `inference.threads: 1`) a new batch per batch grew the model's process alike (7 GB at
    47 min): the small results it keeps landed in each freed batch's block. 40 batches of
    19 MB, all of one frame (nothing to decode), in a subprocess that keeps freed memory
    and a result per batch as `infer` does."""
    video, _, _ = setup
    script = tmp_path / "run.py"
    script.write_text(
        "import multiprocessing, os, sys, numpy as np, torch\n"
        "from microdualnet.data.views import FullView\n"
        "from microdualnet.inference.loader import WindowBatches\n"
        "from microdualnet.inference.workers import load_batches\n"
        "from microdualnet.speedups import retain_freed_memory\n"
        "retain_freed_memory()\n"
        "def rss(pid):\n"
        "    status = open(f'/proc/{pid}/status').read()\n"
        "    return int(status.split('VmRSS:')[1].split()[0]) >> 10\n"
        "n = 16 * 40\n"
        "frames = np.zeros((n, 8), np.int64)\n"
        "kp = np.zeros((n, 8, 25, 3), np.float32)\n"
        "data = WindowBatches(sys.argv[1], frames, kp, np.arange(n), view=FullView(112),\n"
        f"                     batch_size=16, need_video=True, frame_shape=({HEIGHT}, {WIDTH}),\n"
        "                     normalised=True)\n"
        "workers = int(sys.argv[2])\n"
        "seen, results = [], []\n"
        "with torch.inference_mode():\n"
        "    for k, batch in enumerate(load_batches(data, workers)):\n"
        "        results.append(batch.video[:, 0, 0, 0, :2].clone().numpy())\n"
        "        if k in (8, len(data) - 2):\n"
        "            loader = multiprocessing.active_children()\n"
        "            seen.append(rss(loader[0].pid if workers else os.getpid()))\n"
        "print(*seen)\n")
    done = subprocess.run([sys.executable, str(script), str(video), str(workers)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    early, late = map(int, done.stdout.split())
    assert late - early < 100, (early, late)  # MiB; each batch is 19 MB
