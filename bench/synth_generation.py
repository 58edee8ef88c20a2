"""Time the synthetic world at demo size: the demo cohort and a training clip set.

    .venv/bin/python bench/synth_generation.py [--workers 2] [--out /tmp/synth-bench]

Prints wall time per writer and in total; the figures go into docs/synthetic.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from microdualnet.synthetic.clips import write_clip_set
from microdualnet.synthetic.cohort import CohortConfig, write_cohort
from microdualnet.synthetic.options import ClipSetOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="synth-bench-"))
    cohort_cfg = CohortConfig(workers=args.workers)
    clip_opts = ClipSetOptions(workers=args.workers)
    t0 = time.perf_counter()
    write_cohort(out / "cohort", cohort_cfg, overwrite=True)
    t1 = time.perf_counter()
    write_clip_set(out / "clips", clip_opts, overwrite=True)
    t2 = time.perf_counter()
    n_part = sum(cohort_cfg.groups.values())
    n_clips = sum(1 for _ in (out / "clips").glob("*/*.mp4"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"workers={args.workers}")
    print(f"cohort: {n_part} participants x {cohort_cfg.seconds:.0f} s at {cohort_cfg.fps:.0f} fps "
          f"{cohort_cfg.width}x{cohort_cfg.height}: {t1 - t0:.1f} s")
    print(f"clips: {n_clips} clips ({clip_opts.train_per_class}/{clip_opts.val_per_class}/"
          f"{clip_opts.test_per_class} per class, 14 classes): {t2 - t1:.1f} s")
    print(f"total: {t2 - t0:.1f} s")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
