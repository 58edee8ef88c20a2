"""Loader processes that prepare batches into reused shared-memory buffers while the model runs.

Processes rather than threads: a loader thread holding the GIL between its numpy and OpenCV
calls stalls the model's many small Python-level module calls (the demo model runs at half
speed beside one). A fixed ring of batch buffers is made once; a loader takes a free
buffer, fills it and sends its number; the model's process uses it and gives it back when it
asks for the next batch. Not torch's DataLoader, which hands every batch over in a new
shared-memory file: on 720p video it ran at 0.90 of the ring's windows/s (1080p: 0.96;
docs/benchmarks.md, "Inference loaders").

Each loader takes a stretch of consecutive batches and decodes only its stretch of the video
(from the keyframe before it), so decoding is shared out; batches therefore arrive out of
order and carry their window rows.
"""

from __future__ import annotations

import math
import mmap
import queue
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import torch
import torch.multiprocessing as mp

from microdualnet.inference.loader import Batch, WindowBatches
from pipeio.errors import InputError

_POLL_S = 0.5  # how often a waiting model process checks that its loaders are alive


@dataclass
class _Ready:  # batch k is in buffer `slot` (-1: no video); rows and keypoints the model's
    slot: int  # process has in its own copy of the WindowBatches
    k: int


@dataclass
class _Failed:  # bad input (a one-line InputError)
    message: str


@dataclass
class _Crashed:  # anything else: a bug, with the loader's traceback
    trace: str


@dataclass
class _Done:
    pass


def load_batches(batches: WindowBatches, workers: int) -> Iterator[Batch]:
    """The batches, prepared by `workers` processes ahead of the caller (0: in this process,
    no overlap). A batch's tensors are valid until the next batch is asked for.

    The processes start at once, so the first batches are prepared while the caller loads
    the model.
    """
    if workers == 0 or len(batches) == 0:
        return batches.produce(range(len(batches)))
    return _from_processes(batches, min(workers, len(batches)))


def _from_processes(batches: WindowBatches, workers: int) -> Iterator[Batch]:
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
    # Loaders run OpenCV on one thread. Set here, before forking: a forked child that changes
    # the thread count tears down the pool it inherited, whose worker threads it does not
    # have, and waits for them forever (seen when this process had used OpenCV's threads).
    cv2.setNumThreads(1)
    # One buffer in use by the model, and per loader one filled and one being filled.
    slots = 2 * workers + 1
    buffer = batches.video_buffer(batches.batch_size)
    ring = _shared((slots, *buffer[0]), buffer[1], ctx) if buffer is not None else None
    free, ready = ctx.Queue(), ctx.Queue()
    for slot in range(slots):
        free.put(slot)
    procs = [ctx.Process(target=_load, args=(batches, part, workers, ring, free, ready),
                         daemon=True, name=f"microdualnet-loader-{part}")
             for part in range(workers)]
    for proc in procs:
        proc.start()
    return _receive(batches, procs, ring, free, ready)


def _shared(shape: tuple[int, ...], dtype: torch.dtype, ctx) -> torch.Tensor:
    """A zeroed tensor the loader processes share. Forked ones inherit an anonymous shared
    mapping (nothing to create or copy: 0.1 ms, where torch's `share_memory_` takes 33 ms for
    the demo's 57 MB ring); spawned ones get torch's shared memory."""
    if ctx.get_start_method() == "fork":
        nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
        return torch.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype).view(shape)
    return torch.zeros(shape, dtype=dtype).share_memory_()


def _receive(batches: WindowBatches, procs: list, ring: torch.Tensor | None, free,
             ready) -> Iterator[Batch]:
    held = None  # the buffer the caller is using
    try:
        done = 0
        while done < len(procs):
            if held is not None:
                free.put(held)
                held = None
            item = _next(ready, procs)
            if isinstance(item, _Done):
                done += 1
            elif isinstance(item, _Failed):
                raise InputError(item.message)
            elif isinstance(item, _Crashed):
                raise RuntimeError(f"a loader process failed:\n{item.trace}")
            else:
                rows = batches.rows(item.k)
                held = item.slot if ring is not None else None
                video = ring[item.slot, :len(rows)] if ring is not None else None
                yield Batch(rows, video, batches.batch_keypoints(item.k))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for q in (free, ready):
            q.cancel_join_thread()
            q.close()


def _next(ready, procs: list) -> _Ready | _Failed | _Crashed | _Done:
    """The next message, or an error if a loader died without one (killed, out of memory)."""
    while True:
        try:
            return ready.get(timeout=_POLL_S)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"loader process {dead[0].name} died (exit code "
                                   f"{dead[0].exitcode}; out of memory?)") from None


def _load(batches: WindowBatches, part: int, parts: int, ring: torch.Tensor | None, free,
          ready) -> None:
    """A loader process: fill free buffers with this part's batches, then say it is done."""
    torch.set_num_threads(1)
    taken: list[int] = []

    def take(n: int) -> torch.Tensor:
        taken.append(free.get())
        return ring[taken[-1], :n]

    try:
        mine = batches.stretch(part, parts)
        for k, batch in zip(mine, batches.produce(mine, take), strict=True):
            ready.put(_Ready(taken.pop() if batch.video is not None else -1, k))
        ready.put(_Done())
    except InputError as err:
        ready.put(_Failed(str(err)))
    except Exception:  # noqa: BLE001 - sent to the model's process, which raises it
        ready.put(_Crashed(traceback.format_exc()))
