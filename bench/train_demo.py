"""Demo training benchmark: synthetic clips -> demo preset -> test Top-1, wall time, figures.

    .venv/bin/python bench/train_demo.py [--clips DIR] [--out DIR] [--threads 1]

Self-contained: generates the default synthetic clip set into --clips when it is missing,
trains with configs/train_demo.yaml (a fresh run), evaluates the best model on the test
split and prints the time and metrics. Target (issue 4): >= 90% Top-1 in < 10 min on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=Path("results/bench/synthetic_clips"))
    parser.add_argument("--out", type=Path, default=Path("results/bench/train_demo"))
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "train_demo.yaml")
    parser.add_argument("--threads", type=int, default=None, help="override config threads")
    args = parser.parse_args()

    from microdualnet.synthetic.clips import write_clip_set
    from microdualnet.synthetic.options import ClipSetOptions
    from microdualnet.training.config import load_config
    from microdualnet.training.loop import train

    if not (args.clips / "test_list_videos.txt").is_file():
        t0 = time.perf_counter()
        write_clip_set(args.clips, ClipSetOptions(), overwrite=True)
        print(f"generated clip set in {time.perf_counter() - t0:.1f} s -> {args.clips}")
    sets = [f"data.root={args.clips}", "progress=false"]
    if args.threads is not None:
        sets.append(f"threads={args.threads}")
    cfg = load_config(args.config, sets)
    t0 = time.perf_counter()
    metrics = train(cfg, args.out, resume=False)
    wall = time.perf_counter() - t0
    test = metrics["test"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, torch threads "
          f"{cfg.threads}, load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    print(f"training + evaluation wall time: {wall:.1f} s ({wall / 60:.2f} min); "
          f"epochs {cfg.optim.epochs}, training loop {metrics['train_seconds']:.1f} s")
    print(f"test: Top-1 {test['top1']:.2f}  Top-5 {test['top5']:.2f}  "
          f"F1 action micro/macro {test['f1_action_micro']:.2f}/{test['f1_action_macro']:.2f}  "
          f"body micro/macro {test['f1_body_micro']:.2f}/{test['f1_body_macro']:.2f}  "
          f"F1_mean {test['f1_mean']:.2f}")
    print(f"target >= 90% Top-1 in < 600 s: "
          f"{'met' if test['top1'] >= 90 and wall < 600 else 'NOT met'}")
    print(f"figures: {args.out / 'training' / 'curves.png'}, "
          f"{args.out / 'training' / 'confusion.png'}")


if __name__ == "__main__":
    main()
