"""Batches of windows, prepared in worker processes while the model runs on the last one.

Each batch decodes every frame its windows need once (windows overlap), applies the
test-time view (`data.transforms.eval_view`, as in evaluation: its resize and crop, then the
same normalisation in torch) to those frames and their keypoints, and gathers them into
`[B, T, 3, S, S]` video and `[B, T, 25, 3]` keypoints.
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
    resize_short_side,
)
from microdualnet.inference.video import open_video, read_frames
from pipeio.errors import InputError

T = TypeVar("T")


@dataclass
class Batch:
    windows: np.ndarray  # row numbers in the window plan
    video: torch.Tensor | None  # [B, T, 3, S, S] float32, None for pose-only models
    keypoints: torch.Tensor  # [B, T, 25, 3] in input pixels

    def pin_memory(self) -> Batch:
        """Called by the DataLoader when it pins memory for CUDA copies."""
        video = self.video.pin_memory() if self.video is not None else None
        return Batch(self.windows, video, self.keypoints.pin_memory())


def view_geometry(pixels: np.ndarray, kp: np.ndarray, size: int) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """eval_view's resize and centre crop (frames stay uint8 until `normalise_video`)."""
    return center_crop(*resize_short_side(pixels, kp, size), size)


def normalise_video(video: torch.Tensor) -> torch.Tensor:
    """uint8 `[..., S, S, 3]` -> float `[..., 3, S, S]`, ImageNet-normalised.

    The same float32 arithmetic as `transforms.normalise` (bit-identical, tested), in torch
    so it runs where the batch is: a quarter of the bytes cross to the model as uint8.
    """
    mean = torch.from_numpy(IMAGENET_MEAN).to(video.device).view(3, 1, 1)
    std = torch.from_numpy(IMAGENET_STD).to(video.device).view(3, 1, 1)
    return video.movedim(-1, -3).float().sub_(mean).div_(std).contiguous()


def make_batches(reader, path: Path, frames: np.ndarray, keypoints: np.ndarray,
                 windows: np.ndarray, size: int, batch_size: int, need_video: bool,
                 frame_shape: tuple[int, int], normalise: bool = True) -> Iterator[Batch]:
    """Batches over `windows` (row numbers); `frames` `[W, T]`, `keypoints` `[W, T, 25, 3]`.

    With `normalise=False` the video stays uint8 `[B, T, S, S, 3]` (for `normalise_video`
    on the GPU)."""
    height, width = frame_shape
    for lo in range(0, len(windows), batch_size):
        rows = windows[lo:lo + batch_size]
        idx = frames[rows]
        kp = keypoints[rows]
        if need_video:
            unique, inverse = np.unique(idx, return_inverse=True)
            inverse = inverse.reshape(idx.shape)
            pixels = read_frames(reader, unique, path)
            # One keypoint set per unique frame (identical wherever a frame repeats).
            kp_unique = np.zeros((len(unique), 25, 3), np.float32)
            kp_unique[inverse.reshape(-1)] = kp.reshape(-1, 25, 3)
            view, kp_view = view_geometry(pixels, kp_unique, size)
            video = torch.from_numpy(np.ascontiguousarray(view[inverse]))
            video = normalise_video(video) if normalise else video
            kp_t = torch.from_numpy(kp_view[inverse])
        else:
            # Pose-only models: the same geometry from one blank frame, nothing decoded.
            blank = np.zeros((1, height, width, 3), np.uint8)
            video = None
            kp_view = view_geometry(blank, kp.reshape(-1, 25, 3), size)[1]
            kp_t = torch.from_numpy(kp_view.reshape(kp.shape))
        yield Batch(rows, video, kp_t)


class WindowBatches(IterableDataset):
    """`make_batches` in DataLoader worker processes, so decoding never competes with the
    model for the GIL. Each worker opens its own reader and takes every n-th batch; the
    DataLoader visits workers in turn, so batches arrive in order. A bad-input error in a
    worker arrives as an `_Failed` item and is raised as a one-line InputError here."""

    def __init__(self, path: Path, frames: np.ndarray, keypoints: np.ndarray,
                 windows: np.ndarray, size: int, batch_size: int, need_video: bool,
                 frame_shape: tuple[int, int], normalise: bool = True) -> None:
        self.path, self.frames, self.keypoints, self.windows = path, frames, keypoints, windows
        self.size, self.batch_size, self.need_video = size, batch_size, need_video
        self.frame_shape, self.normalise = frame_shape, normalise

    def __iter__(self) -> Iterator[Batch | _Failed]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None:
            cv2.setNumThreads(1)
        step = self.batch_size * workers
        mine = np.concatenate([self.windows[lo:lo + self.batch_size] for lo in range(
            worker * self.batch_size, len(self.windows), step)] or [np.zeros(0, np.int64)])
        try:
            reader = open_video(self.path)
            yield from make_batches(reader, self.path, self.frames, self.keypoints, mine,
                                    self.size, self.batch_size, self.need_video,
                                    self.frame_shape, self.normalise)
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
