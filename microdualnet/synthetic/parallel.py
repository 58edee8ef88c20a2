"""Run independent generation tasks on worker processes with a progress bar.

Every task draws its randomness from its own seed (never from a worker's state), so the
output is identical for any number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def run_tasks(fn: Callable[[T], R], tasks: Sequence[T], workers: int, desc: str,
              unit: str = "item") -> list[R]:
    """Apply `fn` to every task (in order of the result list) with `workers` processes."""
    bar = tqdm(total=len(tasks), desc=desc, unit=unit, dynamic_ncols=True, mininterval=0.5)
    results: list[R]
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(fn(task))
            bar.update()
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            it: Iterable[R] = pool.imap(fn, tasks, chunksize=1)
            results = []
            for res in it:
                results.append(res)
                bar.update()
    bar.close()
    return results
