"""Batches of windows: each video frame decoded once, kept in the model's view, gathered.

Every frame the windows need is decoded once, reading forward (`FrameStream`), and brought
at once to what the model's view keeps of it (`data.views`): the `S x S` centre square for
the full view, a frame at the person view's source resolution for the person view, so what
is kept does not grow with the video's size. A batch assembles each window from those
frames into `[B, T, S, S, 3]` uint8 (normalised where the model runs: a quarter of the bytes
cross to a GPU) or, for a CPU model, straight into the model's input `[B, T, 3, S, S]`
float32, so the model's process does nothing but run the model. A video the view brings
down 2.5-fold or more (HD to the model's input) is decoded without the deblocking filter
(`video.skip_deblocking_for`): up to a fifth less decoding for under one grey level of the
kept frames. `workers.py` runs this in loader processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from microdualnet.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalise
from microdualnet.data.views import FullView, PersonView
from microdualnet.video import FrameStream, VideoInfo, skip_deblocking_for

ModelView = FullView | PersonView


@dataclass
class Batch:
    windows: np.ndarray  # row numbers in the window plan
    # [B, T, S, S, 3] uint8, or [B, T, 3, S, S] float32 when normalised; None for pose-only
    video: torch.Tensor | None
    keypoints: torch.Tensor  # [B, T, 25, 3] in input pixels


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
    """Video frames as the model's view keeps them, each decoded and prepared once, read
    forward only.

    Neighbouring batches share frames (windows overlap) and interleave them (a window's
    frames start among the previous window's). A batch therefore reads every frame that any
    batch needs up to its own last frame, and a prepared frame is kept until no later batch
    needs it: no frame is decoded twice and the reader never seeks back to a keyframe
    (reading batch by batch did, costing 1.6x the decoding of one forward pass).
    """

    def __init__(self, stream: FrameStream, batches: list[np.ndarray], view: ModelView) -> None:
        self.stream, self.view = stream, view
        self.needed = np.unique(np.concatenate([b.ravel() for b in batches]))
        # keep_from[k]: the first frame batches k, k+1, ... need; earlier ones can go.
        self.keep_from = np.minimum.accumulate([int(b.min()) for b in batches][::-1])[::-1]
        self.read_upto = 0  # self.needed[:read_upto] have been read
        self.cache: dict[int, np.ndarray] = {}

    def frames(self, k: int, idx: np.ndarray) -> list[np.ndarray]:
        """Batch k's kept frames `idx` (`[B, T]`), flattened."""
        for f in [f for f in self.cache if f < self.keep_from[k]]:
            del self.cache[f]
        upto = int(np.searchsorted(self.needed, idx.max(), side="right"))
        for index, pixels in self.stream.frames(self.needed[self.read_upto:upto]):
            self.cache[index] = self.view.prepare(pixels)
        self.read_upto = max(self.read_upto, upto)
        return [self.cache[f] for f in idx.ravel().tolist()]

    def windows(self, k: int, idx: np.ndarray, boxes: np.ndarray | None) -> list[np.ndarray]:
        """Batch k's windows `idx` (`[B, T]`) in the model's view: `B * T` uint8 `S x S x 3`
        frames; `boxes` `[B, 3]`: the person view's crops (None: the full view)."""
        kept = self.frames(k, idx)
        if boxes is None:
            return kept
        t, size = idx.shape[1], self.view.size
        out = np.empty((len(idx), t, size, size, 3), np.uint8)
        for b, box in enumerate(boxes):
            self.view.assemble(kept[b * t:(b + 1) * t], box, out[b])
        return list(out.reshape(-1, size, size, 3))


def batch_starts(n: int, batch_size: int) -> np.ndarray:
    """Where each batch of `n` windows starts, and `n` at the end.

    The first two batches hold a quarter and a half of `batch_size`: the model's process
    starts on a batch the loader has ready soon after it starts, instead of waiting for a
    full one (the start-up's critical path), while the loader, faster than the model, gets
    a batch ahead. Results do not depend on batch size (tested).
    """
    ramp = sorted({s for s in (batch_size // 4, batch_size // 2) if 0 < s < batch_size})
    ends = np.cumsum([*ramp, *[batch_size] * (-(-n // batch_size))])
    return np.array([0, *ends[ends < n], n] if n else [0], np.int64)


class WindowBatches:
    """The batches over `windows` (row numbers of the plan, ascending), made on demand.

    `frames` `[W, T]` and `keypoints` `[W, T, 25, 3]` (video pixels) are the plan's; batch k
    holds rows `windows[starts[k]:starts[k + 1]]` (`batch_starts`). Without `need_video`
    (pose-only models) nothing is decoded and `Batch.video` is None; with `normalised`,
    videos come as the model's float input instead of uint8. Picklable, so loader processes
    can take a copy.
    """

    def __init__(self, path: Path, frames: np.ndarray, keypoints: np.ndarray,
                 windows: np.ndarray, *, view: ModelView, batch_size: int, need_video: bool,
                 frame_shape: tuple[int, int], info: VideoInfo | None = None,
                 normalised: bool = False) -> None:
        """`info`: the video's probe, to seek into a stretch without probing it again."""
        self.path, self.frames, self.windows = path, frames, windows
        self.view, self.batch_size, self.need_video = view, batch_size, need_video
        self.size = view.size
        self.info, self.normalised = info, normalised
        # Crop boxes and keypoints of every window, from the keypoints alone.
        geometry = view.geometry(keypoints[windows], frame_shape)
        self.keypoints, self.boxes = geometry.keypoints, geometry.boxes
        self.starts = batch_starts(len(windows), batch_size)
        self.skip_deblocking = skip_deblocking_for(view.reduction(frame_shape))

    def __len__(self) -> int:
        return len(self.starts) - 1

    def rows(self, k: int) -> np.ndarray:
        return self.windows[self.starts[k]:self.starts[k + 1]]

    def batch_keypoints(self, k: int) -> torch.Tensor:
        """Batch k's keypoints in the test-time view `[B, T, 25, 3]` (a copy)."""
        return torch.from_numpy(self.keypoints[self.starts[k]:self.starts[k + 1]].copy())

    def video_buffer(self, n: int) -> tuple[tuple[int, ...], torch.dtype] | None:
        """Shape and dtype of the video of a batch of `n` windows (None: no video)."""
        if not self.need_video:
            return None
        t, s = self.frames.shape[1], self.size
        if self.normalised:
            return (n, t, 3, s, s), torch.float32
        return (n, t, s, s, 3), torch.uint8

    def stretch(self, part: int, parts: int) -> range:
        """Batch numbers of loader `part` of `parts`: consecutive, so each decodes only its
        stretch of the video."""
        return range(len(self) * part // parts, len(self) * (part + 1) // parts)

    def produce(self, ks: range, stream: FrameStream | None = None, shared: bool = False,
                reuse: bool = False) -> Iterator[Batch]:
        """Batches `ks` in order, each in a new tensor unless `reuse`; `stream`: a reader to
        use instead of opening one at the keyframe before the stretch. `shared` (a loader
        process): each video is made in shared memory, which it leaves for the model's
        process as it is. Made on the heap instead, the block a handed-over batch leaves
        behind is seldom reused: a loader would grow by about a batch per batch (2-3 GB on a
        20-min video). `reuse` (the model's own process, `--workers 0`): every video is made
        in one buffer, overwritten when the next batch is asked for. A new one per batch
        grows that process by about a batch per batch too: small arrays it keeps (the
        results) land in each freed batch's block, so the next batch no longer fits there."""
        if len(ks) == 0:
            return
        own = stream is None and self.need_video
        if own:
            stream = FrameStream(self.path, start=int(self.frames[self.rows(ks[0])].min()),
                                 info=self.info, skip_deblocking=self.skip_deblocking)
        try:
            yield from self._produce(ks, stream, shared, reuse)
        finally:
            if own:
                stream.close()

    def _produce(self, ks: range, stream: FrameStream | None, shared: bool, reuse: bool
                 ) -> Iterator[Batch]:
        prepared = (PreparedFrames(stream, [self.frames[self.rows(k)] for k in ks], self.view)
                    if self.need_video else None)
        buffer = None
        if prepared is not None and reuse:  # as large as the largest batch of `ks`
            shape, dtype = self.video_buffer(max(len(self.rows(k)) for k in ks))
            buffer = torch.empty(shape, dtype=dtype)
        for i, k in enumerate(ks):
            rows = self.rows(k)
            video = None
            if prepared is not None:
                shape, dtype = self.video_buffer(len(rows))
                video = torch.empty(shape, dtype=dtype) if buffer is None else buffer[:len(rows)]
                if shared:
                    video.share_memory_()
                boxes = None if self.boxes is None else self.boxes[
                    self.starts[k]:self.starts[k + 1]]
                pixels = prepared.windows(i, self.frames[rows], boxes)
                flat = video.view(-1, *video.shape[2:]).numpy()
                if self.normalised:  # from the kept frames straight into the model's input
                    normalise(pixels, out=flat)
                else:
                    np.stack(pixels, out=flat)
            yield Batch(rows, video, self.batch_keypoints(k))


def make_batches(stream: FrameStream | None, frames: np.ndarray, keypoints: np.ndarray,
                 windows: np.ndarray, *, view: ModelView, batch_size: int,
                 frame_shape: tuple[int, int], normalised: bool = False) -> Iterator[Batch]:
    """All batches over `windows` in this process, read from `stream` (None: pose only)."""
    batches = WindowBatches(Path(stream.path) if stream is not None else Path(), frames,
                            keypoints, windows, view=view, batch_size=batch_size,
                            need_video=stream is not None, frame_shape=frame_shape,
                            normalised=normalised)
    return batches.produce(range(len(batches)), stream=stream)
