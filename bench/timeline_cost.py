"""Cost of one `timeline` job, the workflow's only per-participant step after inference
(290 jobs for the paper's cohort): wall and CPU seconds of `python -m analysis timeline` on
one participant as a study records them, median of repeated runs, each in a fresh process
as Snakemake starts it.

The participant is fabricated the way the tests make windows and pose files: 3 min at
30 fps, 1080p, the 52 MA-52 classes + background (357 windows, 2 s every 0.5 s), pose for
every frame, and a 290-participant truth file (the demo path passes one to every job).
`--compare DIR` times another checkout's `analysis` (e.g. `git worktree add DIR <commit>`)
interleaved with this one's, and says whether the two figures are byte-identical.

    python bench/timeline_cost.py --out /tmp/tlcost --runs 5 [--compare /tmp/old]
"""

from __future__ import annotations

import hashlib
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
from checkout_timing import checkout_args, run_timed, time_checkouts

from pipeio.atomic import atomic_path
from pipeio.windows import write_windows

FPS, FRAMES, WIDTH, HEIGHT = 30.0, 5400, 1920, 1080
CLASSES = [f"action {i:02d}" for i in range(52)] + ["no action"]
ENTITIES = ["body", "head", "left hand", "right hand", "legs"]


def make_inputs(folder: Path, cohort: int = 290, seed: int = 0) -> dict[str, Path]:
    """Windows, pose and truth files of participant sub-001 (runs of actions over a
    background-heavy softmax, 5% of windows without enough pose)."""
    rng = np.random.default_rng(seed)
    duration = FRAMES / FPS
    starts = np.arange(0, duration - 2.0 + 1e-9, 0.5)
    logits = rng.normal(0, 1, (len(starts), len(CLASSES)))
    logits[:, -1] += 2.0
    for _ in range(25):
        first = rng.integers(0, len(starts) - 10)
        logits[first:first + rng.integers(3, 10), rng.integers(0, 52)] += 6
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    valid = rng.random(len(starts)) > 0.05
    probs[~valid] = np.nan
    table = pd.DataFrame({"start_s": starts, "end_s": starts + 2.0,
                          "view_start_s": starts + 0.1, "view_end_s": starts + 1.9,
                          "valid": valid, "pose_fraction": np.where(valid, 1.0, 0.2)})
    routes = {p + e: rng.random(len(starts)) for p in ("route_st_", "route_ts_")
              for e in ENTITIES}
    table = pd.concat([table, pd.DataFrame(probs, columns=[f"prob_{c}" for c in CLASSES]),
                       pd.DataFrame(routes)], axis=1)
    meta = {"participant_id": "sub-001", "video": "sub-001.mp4", "model": "model",
            "model_sha256": "0" * 64, "class_names": CLASSES, "entities": ENTITIES,
            "window_s": 2.0, "hop_s": 0.5, "min_pose_fraction": 0.5, "fps": FPS,
            "video_frames": FRAMES, "duration_s": duration, "first_frame_s": 0.0,
            "width": WIDTH, "height": HEIGHT, "frames_per_window": 8, "stride_frames": 8,
            "model_fps": FPS, "excluded": None}
    paths = {"windows": folder / "sub-001.parquet", "pose": folder / "sub-001.npz",
             "truth": folder / "truth_events.tsv"}
    write_windows(paths["windows"], table.astype({c: np.float32 for c in table.columns
                                                  if c.startswith(("prob_", "route_"))}), meta)
    kp = (rng.random((FRAMES, 25, 3)) * [WIDTH, HEIGHT, 1]).astype(np.float32)
    kp[1000:1300, :, 2] = 0.0  # 10 s without a person
    with atomic_path(paths["pose"]) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, keypoints=kp, frame_index=np.arange(FRAMES), fps=np.float64(FPS),
                 video_frames=np.int64(FRAMES), width=np.int64(WIDTH),
                 height=np.int64(HEIGHT))
    rows = []
    for p in range(cohort):
        t = 0.0
        while t < duration - 5:
            length = rng.uniform(1, 6)
            rows.append((f"sub-{p + 1:03d}", CLASSES[rng.integers(0, 52)], round(t, 3),
                         round(t + length, 3)))
            t += length + rng.uniform(2, 10)
    with atomic_path(paths["truth"]) as tmp:
        pd.DataFrame(rows, columns=["participant_id", "action", "start_s", "end_s"]).to_csv(
            tmp, sep="\t", index=False)
    return paths


def command(paths: dict[str, Path], out: Path) -> list[str]:
    """The workflow's command line for one participant's timeline."""
    return ["-m", "analysis", "timeline", "--windows", str(paths["windows"]),
            "--pose", str(paths["pose"]), "--truth", str(paths["truth"]),
            "--decision", "threshold", "--threshold", "0.6", "--baseline", "median",
            "--credit", "window", "--out", str(out)]


def main() -> None:
    args = checkout_args(__doc__, runs=5)
    paths = make_inputs(args.out)
    times = time_checkouts(args.compare, args.runs, lambda name, tree: run_timed(
        command(paths, args.out / f"{name}.png"), tree))
    for name, (tree, wall, cpu) in times.items():
        print(f"{name} ({tree}): wall {statistics.median(wall):.2f} s, "
              f"CPU {statistics.median(cpu):.2f} s per job (median of {len(cpu)}); "
              f"290 jobs: {290 * statistics.median(cpu) / 60:.1f} CPU-min")
    if args.compare:
        digests = {hashlib.sha256((args.out / f"{n}.png").read_bytes()).hexdigest()
                   for n in times}
        print("figures", "byte-identical" if len(digests) == 1 else "differ")


if __name__ == "__main__":
    main()
