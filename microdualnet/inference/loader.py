"""Batches of windows, prepared in worker processes while the model runs on the last one.

Every video frame the windows need is decoded once, reading forward (`FrameStream`), and
brought to the test-time view at once (`data.transforms.eval_view`'s resize and centre crop),
so only `S x S` frames are kept, whatever the video's size. Batches gather those uint8 frames
into `[B, T, S, S, 3]` (a quarter of the bytes of float) with `[B, T, 25, 3]` keypoints;
`normalise_video` turns them into the model's input where the model runs.
Processes rather than a thread: a loader thread holding the GIL between its numpy and
OpenCV calls stalls the model's many small Python-level module calls (measured: the demo
model ran at half speed beside one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from microdualnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    center_crop,
    normalise,
    resize_short_side,
)
from microdualnet.inference.video import FrameStream
from pipeio.errors import InputError

T = TypeVar("T")


@dataclass
class Batch:
    windows: np.ndarray  # row numbers in the window plan
    video: torch.Tensor | None  # [B, T, S, S, 3] uint8, None for pose-only models
    keypoints: torch.Tensor  # [B, T, 25, 3] in input pixels

    def pin_memory(self) -> Batch:
        """Called by the DataLoader when it pins memory for CUDA copies."""
        video = self.video.pin_memory() if self.video is not None else None
        return Batch(self.windows, video, self.keypoints.pin_memory())


def view_geometry(pixels: np.ndarray, kp: np.ndarray, size: int) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """eval_view's resize and centre crop (frames stay uint8 until `normalise_video`)."""
    return center_crop(*resize_short_side(pixels, kp, size), size)


def view_keypoints(kp: np.ndarray, frame_shape: tuple[int, int], size: int) -> np.ndarray:
    """eval_view's geometry for keypoints `[..., 25, 3]` of frames `frame_shape` (H, W)."""
    blank = np.zeros((1, *frame_shape, 3), np.uint8)  # the geometry needs only the size
    return view_geometry(blank, kp.reshape(-1, 25, 3), size)[1].reshape(kp.shape)


def normalise_video(video: torch.Tensor) -> torch.Tensor:
    """uint8 `[..., S, S, 3]` -> float `[..., 3, S, S]`, ImageNet-normalised, on its device.

    Bit-identical to `transforms.normalise` (tested): on the CPU it is that table look-up, on
    a GPU the same float32 arithmetic in torch.
    """
    if video.device.type == "cpu":
        flat = normalise(video.reshape(-1, *video.shape[-3:]).numpy())
        return torch.from_numpy(flat).view(*video.shape[:-3], *flat.shape[1:])
    return _normalise_arithmetic(video)


def _normalise_arithmetic(video: torch.Tensor) -> torch.Tensor:
    mean = torch.from_numpy(IMAGENET_MEAN).to(video.device).view(3, 1, 1)
    std = torch.from_numpy(IMAGENET_STD).to(video.device).view(3, 1, 1)
    return video.movedim(-1, -3).float().sub_(mean).div_(std).contiguous()


class PreparedFrames:
    """Video frames in the test-time view, each decoded and prepared once, read forward only.

    Neighbouring batches share frames (windows overlap) and interleave them (a window's
    frames start among the previous window's). A batch therefore reads every frame that any
    batch needs up to its own last frame, and a prepared frame is kept until no later batch
    needs it: no frame is decoded twice and the reader never seeks back to a keyframe
    (reading batch by batch did, costing 1.6x the decoding of one forward pass).
    """

    def __init__(self, stream: FrameStream, batches: list[np.ndarray], size: int) -> None:
        self.stream, self.size = stream, size
        self.needed = np.unique(np.concatenate([b.ravel() for b in batches]))
        # keep_from[k]: the first frame batches k, k+1, ... need; earlier ones can go.
        self.keep_from = np.minimum.accumulate([int(b.min()) for b in batches][::-1])[::-1]
        self.read_upto = 0  # self.needed[:read_upto] have been read
        self.cache: dict[int, np.ndarray] = {}

    def gather(self, k: int, idx: np.ndarray, out: torch.Tensor) -> torch.Tensor:
        """Fill `out` (`[B, T, S, S, 3]` uint8) with batch k's frames `idx` (`[B, T]`)."""
        for f in [f for f in self.cache if f < self.keep_from[k]]:
            del self.cache[f]
        upto = int(np.searchsorted(self.needed, idx.max(), side="right"))
        for index, pixels in self.stream.frames(self.needed[self.read_upto:upto]):
            self.cache[index] = view_geometry(pixels[None], _NO_KEYPOINTS, self.size)[0][0]
        self.read_upto = max(self.read_upto, upto)
        np.stack([self.cache[f] for f in idx.ravel().tolist()],
                 out=out.view(-1, *out.shape[2:]).numpy())
        return out


_NO_KEYPOINTS = np.zeros((0, 25, 3), np.float32)


def make_batches(stream: FrameStream | None, frames: np.ndarray, keypoints: np.ndarray,
                 windows: np.ndarray, size: int, batch_size: int,
                 frame_shape: tuple[int, int], shared: bool = False) -> Iterator[Batch]:
    """Batches over `windows` (row numbers); `frames` `[W, T]`, `keypoints` `[W, T, 25, 3]`.

    Without a `stream` (pose-only models) nothing is decoded and `Batch.video` is None.
    `shared=True` builds each batch in shared memory, so a worker process hands it over
    without a copy.
    """
    batches = [windows[lo:lo + batch_size] for lo in range(0, len(windows), batch_size)]
    prepared = (PreparedFrames(stream, [frames[rows] for rows in batches], size)
                if stream is not None and batches else None)
    # One geometry for the whole video (it resizes a blank full-size frame to find it); each
    # batch copies its slice so a worker hands over only that, not the whole array.
    kp_view = view_keypoints(keypoints[windows], frame_shape, size)
    for k, rows in enumerate(batches):
        kp = torch.from_numpy(kp_view[k * batch_size:(k + 1) * batch_size].copy())
        video = None
        if prepared is not None:
            video = torch.empty((len(rows), frames.shape[1], size, size, 3), dtype=torch.uint8)
            video = prepared.gather(k, frames[rows], video.share_memory_() if shared else video)
        yield Batch(rows, video, kp)


class WindowBatches(IterableDataset):
    """`make_batches` in DataLoader worker processes, so decoding never competes with the
    model for the GIL. Each worker takes a stretch of consecutive batches and decodes only
    its stretch of the video (from the keyframe before it), so the decoding, the bulk of the
    work, is shared out; batches therefore arrive out of order and carry their window rows.
    A bad-input error in a worker arrives as an `_Failed` item and is raised as a one-line
    InputError here."""

    def __init__(self, path: Path, frames: np.ndarray, keypoints: np.ndarray,
                 windows: np.ndarray, size: int, batch_size: int, need_video: bool,
                 frame_shape: tuple[int, int], times: np.ndarray | None = None) -> None:
        """`times`: the video's frame times (`video.frame_times`), else read in each worker."""
        self.path, self.frames, self.keypoints, self.windows = path, frames, keypoints, windows
        self.size, self.batch_size, self.need_video = size, batch_size, need_video
        self.frame_shape, self.times = frame_shape, times

    def __iter__(self) -> Iterator[Batch | _Failed]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None:
            cv2.setNumThreads(1)
        count = -(-len(self.windows) // self.batch_size)
        lo, hi = (count * worker // workers * self.batch_size,
                  count * (worker + 1) // workers * self.batch_size)
        mine = self.windows[lo:hi]
        if len(mine) == 0:
            return
        try:
            stream = (FrameStream(self.path, start=int(self.frames[mine].min()),
                                  times=self.times) if self.need_video else None)
            try:
                yield from make_batches(stream, self.frames, self.keypoints, mine, self.size,
                                        self.batch_size, self.frame_shape,
                                        shared=info is not None)
            finally:
                if stream is not None:
                    stream.close()
        except InputError as err:
            yield _Failed(str(err))


@dataclass
class _Failed:
    message: str


def _as_is(item: T) -> T:
    return item


def load_batches(dataset: WindowBatches, workers: int, pin: bool) -> Iterator[Batch]:
    """The batches, `workers` processes ahead (0: in this process, no overlap).

    The workers start now, so the first batches are prepared while the caller loads the model.
    """
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=_as_is,
                        pin_memory=pin, prefetch_factor=2 if workers else None)
    return _raising(iter(loader))


def _raising(items: Iterator[Batch | _Failed]) -> Iterator[Batch]:
    for item in items:
        if isinstance(item, _Failed):
            raise InputError(item.message)
        yield item
