"""Cost of the `agreement` job at the paper's scale: CPU and wall seconds of
`python -m analysis agreement` as the workflow runs it, median of repeated runs, each in a
fresh process.

The inputs are fabricated once into `--out` (kept and reused while their parameters stay
the same), the way the tests make windows and coding files: 290 participants' windows files
of 3 min (the 52 MA-52 classes + background, 357 windows of 2 s every 0.5 s, 5% without
enough pose), the model's probabilities raised over a participant's true events; 36 of
them coded by two coders, the true events with 0.3 s of jitter and 10% missed, coder1 as
BORIS tabular exports and coder2 as ELAN files. `--compare DIR` times another checkout's
`analysis` (e.g. `git worktree add DIR <commit>`) interleaved with this one's and says
whether every output is byte-identical; `--profile` prints one run's cProfile top items.

    python bench/agreement_cost.py --out /tmp/agrcost --runs 3 [--compare /tmp/old]
"""

from __future__ import annotations

import hashlib
import os
import pstats
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from checkout_timing import ROOT, checkout_args, run_timed, time_checkouts

from analysis.codings.boris import write_boris_tabular
from analysis.codings.elan import write_elan
from pipeio import atomic_write_text
from pipeio.windows import write_windows

CLASSES = [f"action {i:02d}" for i in range(52)] + ["no action"]
FPS, SECONDS, WINDOW_S, HOP_S = 30.0, 180.0, 2.0, 0.5
DECISION = ["--decision", "threshold", "--threshold", "0.6", "--baseline", "median",
            "--credit", "window"]


def _truth(rng: np.random.Generator, pid: str) -> pd.DataFrame:
    """A participant's true events: 1-6 s of one action every 2-10 s."""
    rows, t = [], rng.uniform(0, 5)
    while t < SECONDS - 6:
        length = rng.uniform(1, 6)
        rows.append((pid, CLASSES[rng.integers(0, 52)], round(t, 3), round(t + length, 3)))
        t += length + rng.uniform(2, 10)
    return pd.DataFrame(rows, columns=["participant_id", "action", "start_s", "end_s"])


def _windows(folder: Path, rng: np.random.Generator, pid: str, truth: pd.DataFrame) -> None:
    starts = np.arange(0, SECONDS - WINDOW_S + 1e-9, HOP_S)
    logits = rng.normal(0, 1, (len(starts), len(CLASSES)))
    logits[:, -1] += 2.0
    for action, s, e in truth[["action", "start_s", "end_s"]].itertuples(index=False):
        inside = np.minimum(starts + WINDOW_S, e) - np.maximum(starts, s) > WINDOW_S / 2
        logits[inside, CLASSES.index(action)] += 6
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    valid = rng.random(len(starts)) > 0.05
    probs[~valid] = np.nan
    table = pd.concat([pd.DataFrame({"start_s": starts, "end_s": starts + WINDOW_S,
                                     "valid": valid,
                                     "pose_fraction": np.where(valid, 1.0, 0.2)}),
                       pd.DataFrame(probs.astype(np.float32),
                                    columns=[f"prob_{c}" for c in CLASSES])], axis=1)
    meta = {"participant_id": pid, "video": f"{pid}.mp4", "class_names": CLASSES,
            "entities": [], "window_s": WINDOW_S, "hop_s": HOP_S, "min_pose_fraction": 0.5,
            "fps": FPS, "duration_s": SECONDS, "first_frame_s": 0.0}
    write_windows(folder / f"{pid}.parquet", table, meta)


def _coder(rng: np.random.Generator, truth: pd.DataFrame) -> pd.DataFrame:
    """The true events as a coder codes them: 0.3 s of jitter on each end, 10% missed."""
    kept = truth[rng.random(len(truth)) >= 0.1]
    start = np.clip(kept["start_s"] + rng.normal(0, 0.3, len(kept)), 0, SECONDS)
    end = np.clip(kept["end_s"] + rng.normal(0, 0.3, len(kept)), 0, SECONDS)
    ok = end - start > 0.2
    return kept.assign(start_s=start.round(3), end_s=end.round(3))[ok]


def make_inputs(folder: Path, participants: int = 290, coded: int = 36,
                seed: int = 0) -> dict[str, Path]:
    """Windows, coders' and mapping files under `folder` (module docstring); made once."""
    paths = {"windows": folder / "windows", "coder1": folder / "coder1",
             "coder2": folder / "coder2", "mapping": folder / "mapping.yaml"}
    stamp = folder / f"inputs-{participants}-{coded}-{seed}.done"
    if stamp.is_file():
        return paths
    rng = np.random.default_rng(seed)
    pids = [f"sub-{p + 1:03d}" for p in range(participants)]
    for pid in pids:
        truth = _truth(rng, pid)
        _windows(paths["windows"], rng, pid, truth)
        if pid in pids[::participants // coded][:coded]:
            write_boris_tabular(paths["coder1"] / f"{pid}.tsv", _coder(rng, truth), pid,
                                folder / f"{pid}.mp4", SECONDS, FPS)
            write_elan(paths["coder2"] / f"{pid}.eaf", _coder(rng, truth),
                       folder / f"{pid}.mp4", CLASSES[:-1], date="2026-01-01T00:00:00+00:00")
    atomic_write_text(paths["mapping"], "behaviours:\n" + "".join(
        f"  {a}: {a}\n" for a in CLASSES[:-1]))
    stamp.touch()
    return paths


def command(paths: dict[str, Path], out: Path) -> list[str]:
    return ["-m", "analysis", "agreement", "--codings", f"coder1={paths['coder1']}",
            f"coder2={paths['coder2']}", "--mapping", str(paths["mapping"]), "--windows",
            str(paths["windows"]), "--out-dir", str(out), *DECISION]


def digests(out: Path) -> dict[str, str]:
    """Every output but the provenance record (it holds times and the output folder)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and "provenance" not in p.name}


def main() -> None:
    args = checkout_args(__doc__, runs=3, extend=lambda parser: parser.add_argument(
        "--profile", action="store_true",
        help="also profile one job of this checkout (cProfile, top 25)"))
    paths = make_inputs(args.out)
    times = time_checkouts(args.compare, args.runs, lambda name, tree: run_timed(
        command(paths, args.out / f"result-{name}"), tree))
    for name, (tree, wall, cpu) in times.items():
        print(f"{name} ({tree}): CPU {statistics.median(cpu):.1f} s, wall "
              f"{statistics.median(wall):.1f} s (median of {len(cpu)}; CPU "
              f"{', '.join(f'{c:.1f}' for c in cpu)})")
    if args.compare:
        this, other = (digests(args.out / f"result-{n}") for n in times)
        differ = sorted(k for k in this.keys() | other.keys() if this.get(k) != other.get(k))
        print("outputs", f"differ: {differ}" if differ else f"byte-identical ({len(this)} files)")
    if args.profile:
        stats = args.out / "agreement.prof"
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats),
                        *command(paths, args.out / "result-profile")], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
