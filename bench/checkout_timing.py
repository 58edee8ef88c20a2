"""Timing one command of `python -m analysis` from two checkouts, interleaved, for the
bench scripts that compare this code with another commit's (`git worktree add DIR <commit>`).

Each job runs from the checkout it times: `python -m` puts the working folder first on
`sys.path`, so a job started from elsewhere could import another checkout's `analysis`.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_timed(args: list[str], tree: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of `python <args>` run from checkout `tree`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    clock = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, cwd=tree,
                   env={**os.environ, "PYTHONPATH": str(tree)})
    wall = time.perf_counter() - clock
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def time_checkouts(compare: Path | None, runs: int,
                   job: Callable[[str, Path], tuple[float, float]]
                   ) -> dict[str, tuple[Path, list[float], list[float]]]:
    """`job(name, tree)` `runs` times for this checkout ("this") and `compare` ("compare"),
    interleaved so that the machine's load falls on both alike: name -> (tree, walls, CPUs)."""
    trees = {"this": ROOT, **({"compare": compare.resolve()} if compare else {})}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for _ in range(runs):
        for name, tree in trees.items():
            times[name].append(job(name, tree))
    return {name: (trees[name], [w for w, _ in got], [c for _, c in got])
            for name, got in times.items()}


def checkout_args(doc: str, runs: int,
                  extend: Callable[[argparse.ArgumentParser], None] | None = None
                  ) -> argparse.Namespace:
    """The options of a bench that times one command here against `--compare`: `--out` (a
    scratch folder, made and resolved, since each job runs from the checkout it times),
    `--runs` (default `runs`) and `--compare`; `extend` adds the bench's own."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="scratch folder")
    parser.add_argument("--runs", type=int, default=runs, help=f"jobs per checkout ({runs})")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout whose `analysis` to time alongside")
    if extend is not None:
        extend(parser)
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    return args
