"""Data-parallel training under `torchrun` (torch.distributed DDP): the process's rank, the
process group, the rank's share of each global batch, and the few collectives the loop needs.

Without torchrun's environment (or with one process) everything here is the identity, so a
plain `python -m microdualnet train` runs exactly as a single process always has.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from pipeio.errors import InputError

# Ranks other than 0 wait while rank 0 validates and writes the epoch's files; a long
# validation must not look like a dead peer.
_TIMEOUT = timedelta(hours=3)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the only process that writes files and shows progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


ONE = Ranks()  # a plain single-process run


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment {name}={value!r}: expected an integer "
                         f"(torchrun sets it)") from None


def ranks_from_env() -> Ranks:
    """Read RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"environment RANK={rank}, WORLD_SIZE={world}: expected "
                         f"0 <= RANK < WORLD_SIZE")
    return Ranks(rank, world, _env_int("LOCAL_RANK", 0))


def per_process_batch(batch_size: int, world: int) -> int:
    """The clips each process takes from a global batch of `batch_size`."""
    if batch_size % world:
        raise InputError(f"optim.batch_size={batch_size} is not divisible by the "
                         f"{world} training processes; use a multiple of {world}")
    return batch_size // world


def join(ranks: Ranks, device: torch.device) -> None:
    """Join the job's process group (NCCL between GPUs, gloo between CPU processes) once per
    process: later runs in the same processes (train-ablation's variants) reuse it. (Made
    again after being destroyed, a gloo group failed to connect in one of two tries here,
    refused by the old group's port.) It is left when the process exits."""
    if not ranks.active or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=_TIMEOUT,
                            rank=ranks.rank, world_size=ranks.world)
    atexit.register(dist.destroy_process_group)


class RankShare(Sampler[list[int]]):
    """Rank r's slice of every global batch that one process would draw.

    The global batches are those of the single-process loader (a shuffling DataLoader with
    the same generator seed, drop_last), so N processes step on exactly the clips one
    process would; torch's DistributedSampler shuffles differently and could not be
    compared with a one-process run.
    """

    def __init__(self, size: int, batch_size: int, seed: int, ranks: Ranks) -> None:
        self.size, self.batch_size, self.seed, self.ranks = size, batch_size, seed, ranks
        self.share = per_process_batch(batch_size, ranks.world)

    def __len__(self) -> int:
        return self.size // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator()
        gen.manual_seed(self.seed)
        order = DataLoader(range(self.size), batch_size=self.batch_size, shuffle=True,
                           drop_last=True, generator=gen)
        lo = self.ranks.rank * self.share
        for batch in order:
            yield batch[lo:lo + self.share].tolist()


def barrier(ranks: Ranks) -> None:
    if ranks.active:
        dist.barrier()


def sum_over_ranks(values: list[float], ranks: Ranks, device: torch.device) -> list[float]:
    """Element-wise sums of every rank's `values` (float64, so counts stay exact)."""
    if not ranks.active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj: Any, ranks: Ranks) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not ranks.active:
        return [obj]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out


def from_main(obj: Any, ranks: Ranks) -> Any:
    """Rank 0's `obj` on every rank."""
    if not ranks.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
