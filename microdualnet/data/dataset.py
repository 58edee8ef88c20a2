"""The torch Dataset over ClipRecords: sampling, reading, augmentation, and bad-clip reporting.

A clip that cannot be read comes back as a `Failure` (file and reason) rather than an
exception, so DataLoader workers never die with a traceback; `collate` drops failures from
the batch and hands them to the training loop, which counts them against a limit.

Randomness is drawn from (seed, epoch, clip index), so a clip's view does not depend on
which worker reads it, and a resumed run sees the same views as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from microdualnet.data import transforms
from microdualnet.data.augment import train_view
from microdualnet.data.clipio import read_clip
from microdualnet.data.personcrop import person_view
from microdualnet.data.records import ClipRecord
from microdualnet.data.sampling import sample_indices
from microdualnet.data.views import prescale
from pipeio.errors import InputError


@dataclass(frozen=True)
class ViewSpec:
    """How clips become model input: T frames `stride` apart, `size` px square."""

    num_frames: int
    stride: int
    size: int
    need_pose: bool = True
    train: bool = False
    scale: tuple[float, float] = (1.0, 1.15)
    flip_p: float = 0.5
    view: str = "full"  # "full": short side to size, crop; "person": square around the body
    margin: float = 1.5  # person view: square side / extent of the joints
    shift: float = 0.1  # person view, training: centre jitter as a fraction of the side
    source_short: int | None = None  # person view: frames' shorter side before the crop


@dataclass(frozen=True)
class Failure:
    """A clip that could not be read: dataset index and a one-line reason naming the file."""

    index: int
    reason: str


@dataclass
class Batch:
    video: torch.Tensor | None  # [B, T, 3, S, S] float, normalised
    keypoints: torch.Tensor | None  # [B, T, 25, 3] in input pixels
    labels: torch.Tensor  # [B] class indices
    indices: torch.Tensor  # [B] dataset indices
    failures: list[Failure] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def _read_guarded(record: ClipRecord, read) -> tuple[np.ndarray, np.ndarray]:
    """Run a file read; any library error (JSON, decoder, OpenCV) becomes an InputError."""
    try:
        return read()
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - a worker must report, never crash
        raise InputError(f"{record.video}: {type(err).__name__}: {err}") from err


class ClipCache:
    """Every clip decoded once: frames at the sampling stride, short side at most `max_short`.

    For small sets (the demo) this removes decoding from every epoch. Temporal jitter then
    moves in steps of the stride, which for stride 1 is the same as without the cache;
    evaluation centres a clip on the same every-stride-th-frame grid (`sample_indices`), so
    it reads the same frames here as from the video.
    """

    def __init__(self, frames: list[np.ndarray | None], keypoints: list[np.ndarray | None],
                 errors: dict[int, str], stride: int):
        self.frames, self.keypoints, self.errors, self.stride = frames, keypoints, errors, stride

    @classmethod
    def build(cls, records: Sequence[ClipRecord], stride: int, max_short: int, need_pose: bool,
              workers: int = 0) -> ClipCache:
        loader = DataLoader(_DecodeAll(records, stride, max_short, need_pose), batch_size=None,
                            num_workers=workers, collate_fn=_identity)
        frames: list[np.ndarray | None] = [None] * len(records)
        kps: list[np.ndarray | None] = [None] * len(records)
        errors: dict[int, str] = {}
        for i, item in loader:
            if isinstance(item, str):
                errors[i] = item
            else:
                frames[i], kps[i] = item
        return cls(frames, kps, errors, stride)

    def nbytes(self) -> int:
        return sum(f.nbytes for f in self.frames if f is not None)

    def sample(self, i: int, num_frames: int, rng: np.random.Generator | None
               ) -> tuple[np.ndarray, np.ndarray]:
        if i in self.errors:
            raise InputError(self.errors[i])
        frames, kp = self.frames[i], self.keypoints[i]
        idx = sample_indices(len(frames), num_frames, 1, rng)
        return frames[idx], kp[idx]


def _identity(x):
    return x


class _DecodeAll(Dataset):
    """Cache builder: whole clip at the stride, downscaled, or the reason it failed."""

    def __init__(self, records: Sequence[ClipRecord], stride: int, max_short: int,
                 need_pose: bool):
        self.records, self.stride, self.max_short = records, stride, max_short
        self.need_pose = need_pose

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        rec = self.records[i]
        try:
            frames, kp = _read_guarded(rec, lambda: read_clip(
                rec, lambda n: np.arange(0, n, self.stride), self.need_pose))
        except InputError as err:
            return i, str(err)
        return i, prescale(frames, kp, self.max_short)


class ClipDataset(Dataset):
    """Model-ready clips (`dict`) or `Failure`s; call `set_epoch` before each training epoch."""

    def __init__(self, records: Sequence[ClipRecord], spec: ViewSpec, seed: int = 0,
                 cache: ClipCache | None = None):
        if cache is not None and cache.stride != spec.stride:
            raise ValueError("the clip cache was built for another frame stride")
        self.records, self.spec, self.seed, self.cache = list(records), spec, seed, cache
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict | Failure:
        spec, rec = self.spec, self.records[i]
        rng = np.random.default_rng([self.seed, self.epoch, i]) if spec.train else None
        try:
            if self.cache is not None:
                frames, kp = self.cache.sample(i, spec.num_frames, rng)
            else:
                frames, kp = _read_guarded(rec, lambda: read_clip(
                    rec, lambda n: sample_indices(n, spec.num_frames, spec.stride, rng),
                    spec.need_pose))
        except InputError as err:
            return Failure(i, str(err))
        if spec.view == "person":  # from frames at the resolution the clip cache keeps
            frames, kp = prescale(frames, kp, spec.source_short)
            video, kp = person_view(frames, kp, spec.size, spec.margin, rng, spec.scale,
                                    spec.shift, spec.flip_p)
        elif rng is not None:
            video, kp = train_view(frames, kp, spec.size, rng, spec.scale, spec.flip_p)
        else:
            video, kp = transforms.eval_view(frames, kp, spec.size)
        return {"video": torch.from_numpy(video), "keypoints": torch.from_numpy(kp),
                "label": rec.label, "index": i}


def collate(items: list[dict | Failure]) -> Batch:
    """Stack the readable clips; failures ride along for the loop to log and count."""
    good = [x for x in items if not isinstance(x, Failure)]
    failures = [x for x in items if isinstance(x, Failure)]
    if not good:
        return Batch(None, None, torch.zeros(0, dtype=torch.long),
                     torch.zeros(0, dtype=torch.long), failures)
    return Batch(video=torch.stack([x["video"] for x in good]),
                 keypoints=torch.stack([x["keypoints"] for x in good]),
                 labels=torch.tensor([x["label"] for x in good], dtype=torch.long),
                 indices=torch.tensor([x["index"] for x in good], dtype=torch.long),
                 failures=failures)
