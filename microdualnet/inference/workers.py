"""Loader processes (torch DataLoader workers) that prepare batches while the model runs.

Processes rather than threads: a loader thread holding the GIL between its numpy and OpenCV
calls stalls the model's many small Python-level module calls (the demo model runs at half
speed beside one). Each loader takes a stretch of consecutive batches and decodes only its
stretch of the video (from the keyframe before it), so decoding is shared out; batches
therefore arrive out of order and carry their batch number. DataLoader rather than a
hand-built ring of reused shared-memory buffers: on HD video it ran at 0.96-0.98 of the
ring's windows/s, within the 5% that issue 15 allowed (docs/benchmarks.md, "Inference
loaders").
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from microdualnet.inference.loader import Batch, WindowBatches
from pipeio.errors import InputError

if TYPE_CHECKING:
    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter


@dataclass
class _Failed:  # bad input (a one-line InputError)
    message: str


@dataclass
class _Crashed:  # anything else: a bug, with the loader's traceback
    trace: str


class _Stretches(IterableDataset):
    """(batch number, video) of the batches; DataLoader worker i of n takes stretch i.
    Keypoints and rows are not sent: the model's process has its own copy of them."""

    def __init__(self, batches: WindowBatches) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor | None] | _Failed | _Crashed]:
        worker = get_worker_info()
        part, parts = (0, 1) if worker is None else (worker.id, worker.num_workers)
        mine = self.batches.stretch(part, parts)
        try:
            for k, batch in zip(mine, self.batches.produce(mine, shared=True), strict=True):
                yield k, batch.video
        except InputError as err:
            yield _Failed(str(err))
        except Exception:  # noqa: BLE001 - sent to the model's process, which raises it
            yield _Crashed(traceback.format_exc())


def load_batches(batches: WindowBatches, workers: int) -> Iterator[Batch]:
    """The batches, prepared by `workers` processes ahead of the caller (0: in this process,
    no overlap, each video in the buffer of the one before: use it before asking for the next).

    The processes start at once, so the first batches are prepared while the caller loads
    the model.
    """
    if workers == 0 or len(batches) == 0:
        return batches.produce(range(len(batches)), reuse=True)
    # Loaders run OpenCV on one thread. Set here, before forking: a forked child that changes
    # the thread count tears down the pool it inherited, whose worker threads it does not
    # have, and waits for them forever (seen when this process had used OpenCV's threads).
    cv2.setNumThreads(1)
    fork = "fork" in mp.get_all_start_methods()
    # One pass per process, so no persistent workers; uint8 batches go to a GPU (pinned).
    loader = DataLoader(_Stretches(batches), batch_size=None,
                        num_workers=min(workers, len(batches)), prefetch_factor=2,
                        pin_memory=not batches.normalised and torch.cuda.is_available(),
                        multiprocessing_context="fork" if fork else None)
    return _receive(batches, iter(loader))  # iter(): the workers start now


def _receive(batches: WindowBatches, items: _MultiProcessingDataLoaderIter
             ) -> Iterator[Batch]:
    try:
        for item in _checked(items):
            if isinstance(item, _Failed):
                raise InputError(item.message)
            if isinstance(item, _Crashed):
                raise RuntimeError(f"a loader process failed:\n{item.trace}")
            k, video = item
            yield Batch(batches.rows(k), video, batches.batch_keypoints(k))
    finally:
        # Now, not when the iterator is garbage-collected (an exception's traceback keeps it).
        items._shutdown_workers()


def _checked(items: _MultiProcessingDataLoaderIter) -> Iterator[object]:
    """The items; a loader that died without a word (killed, out of memory) is an error
    naming its exit code, not a hang."""
    try:
        yield from items
    except RuntimeError as err:
        found = re.match(r"DataLoader worker \(pid\(?s?\)? ([\d, ]+)\)", str(err))
        if found is None:
            raise
        pid = int(found.group(1).split(",")[0])
        code = next((w.exitcode for w in items._workers if w.pid == pid), None)  # private
        raise RuntimeError(f"loader process {pid} died (exit code {code}; out of "
                           "memory?)") from None
