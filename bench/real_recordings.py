"""A model trained at one frame rate, run on recordings as studies make them.

Trains a demo-preset model on synthetic clips at `--train-fps` (30: MA-52's rate), in the
person view, then runs the real stages (OpenPose JSON pose with the sheet's participant
side -> infer -> aggregate) on synthetic cohorts at 25, 30 and 60 fps (160 x 120, the
participant centred) and at 1280 x 720 with the participant on a side, with and without an
interviewer beside them. Prints, per cohort and action, Pearson r between
estimated and true percent time, and how much the interviewer's own micro-actions move the
participant's percent time (mean absolute difference per action between the two HD
cohorts, which hold the same participants and events).

    python bench/real_recordings.py --out results/real_recordings            # all of it
    python bench/real_recordings.py --out results/real_recordings --model M  # skip training

Every stage keeps its output under --out and is skipped when it is already there, so an
interrupted run continues.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from percent_time_agreement import agreement

from analysis.aggregate import Decision, aggregate
from microdualnet.cli import main as cli_main
from microdualnet.contract import read_contract
from microdualnet.inference.runner import InferenceOptions, run_inference
from microdualnet.pose.extract import extract_pose
from microdualnet.pose.participant import hint_from_sheet
from pipeio.atomic import atomic_path
from pipeio.windows import write_windows

ROOT = Path(__file__).resolve().parents[1]
# name: (fps, width, height, extra synth cohort options)
COHORTS = {
    "25fps": (25, 160, 120, []),
    "30fps": (30, 160, 120, []),
    "60fps": (60, 160, 120, []),
    "720p_interviewer": (30, 1280, 720, ["--participant-side", "random", "--interviewer"]),
    "720p_alone": (30, 1280, 720, ["--participant-side", "random"]),
}


def _run(argv: list[str]) -> None:
    if cli_main(argv) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")


def train_model(out: Path, fps: float, view: str, seed: int) -> Path:
    clips, model = out / f"clips_{fps:g}fps", out / f"model_{fps:g}fps_{view}"
    if not clips.is_dir():
        _run(["synth", "clips", "--out", str(clips), "--fps", str(fps), "--seed", str(seed)])
    if not (model / "training" / "metrics.json").is_file():
        _run(["train", "--config", str(ROOT / "configs/train_demo.yaml"), "--out", str(model),
              "--set", f"data.root={clips}", "--set", f"data.view={view}",
              "--set", "progress=false"])
    return model


def make_cohort(out: Path, name: str, per_group: int, seconds: float, seed: int) -> Path:
    fps, width, height, extra = COHORTS[name]
    cohort = out / "cohorts" / name
    if not (cohort / "participants.tsv").is_file():
        _run(["synth", "cohort", "--out", str(cohort), "--per-group", str(per_group),
              "--seconds", str(seconds), "--fps", str(fps), "--width", str(width),
              "--height", str(height), "--seed", str(seed), "--overwrite", *extra])
    return cohort


def estimate(model: Path, cohort: Path, work: Path) -> tuple[pd.DataFrame, float]:
    """Percent time of every participant through pose, infer and aggregate; CPU seconds."""
    sheet = pd.read_csv(cohort / "participants.tsv", sep="\t", dtype={"participant_id": str})
    opts = InferenceOptions(device="cpu", progress=False)
    files, cpu = [], 0.0
    for pid, video in zip(sheet["participant_id"], sheet["video"], strict=True):
        windows = work / "windows" / f"{pid}.parquet"
        files.append(windows)
        if windows.is_file():
            continue
        start = time.process_time()
        pose = work / "pose" / f"{pid}.npz"
        extract_pose("openpose", cohort / video, pose, openpose_dir=cohort / "openpose" / pid,
                     progress=False, hint=hint_from_sheet(cohort / "participants.tsv", pid))
        result = run_inference(model, cohort / video, pose, opts)
        write_windows(windows, result.table, {"participant_id": pid, **result.meta})
        cpu += time.process_time() - start
    estimated, _ = aggregate(files, sheet, Decision("threshold", threshold=0.6, bin_s=0.1,
                                                    baseline="median"))
    return estimated, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=None, help="a trained model (default: "
                    "train one on clips at --train-fps)")
    ap.add_argument("--train-fps", type=float, default=30)
    ap.add_argument("--view", choices=("full", "person"), default="person")
    ap.add_argument("--cohorts", nargs="+", default=list(COHORTS), choices=list(COHORTS))
    ap.add_argument("--per-group", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = args.model or train_model(args.out, args.train_fps, args.view, 0)
    contract = read_contract(model)
    results, estimates = [], {}
    for name in args.cohorts:
        cohort = make_cohort(args.out, name, args.per_group, args.seconds, args.seed)
        estimated, cpu = estimate(model, cohort, args.out / "runs" / model.name / name)
        estimates[name] = estimated
        truth = pd.read_csv(cohort / "truth_percent_time.tsv", sep="\t",
                            dtype={"participant_id": str})
        planted = {e["action"] for e in yaml.safe_load(
            (cohort / "cohort_config.yaml").read_text())["effects"]}
        table = agreement(estimated[["participant_id", "action", "percent_time"]],
                          truth[["participant_id", "action", "percent_time"]], planted)
        table.insert(0, "cohort", name)
        results.append(table)
        print(f"{name}: {int(table['pass'].sum())}/{len(table)} actions at r >= 0.9, lowest "
              f"{table['pearson_r'].min():.3f}; pose + infer {cpu:.0f} CPU-s", flush=True)
    table = pd.concat(results)
    print(f"\n# real recordings, {date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; model {model} (trained at {contract.fps:g} fps, "
          f"{contract.view.kind} view, {contract.frames} frames stride "
          f"{contract.frame_stride}); cohorts {args.per_group} per group x {args.seconds:g} s")
    wide = table.pivot(index="action", columns="cohort", values="pearson_r")
    print(wide[[c for c in args.cohorts if c in wide]].to_markdown(floatfmt=".3f"))
    print(table.groupby("cohort")["pearson_r"].min().rename("lowest r").to_markdown(
        floatfmt=".3f"))
    if {"720p_interviewer", "720p_alone"} <= set(estimates):
        both = estimates["720p_interviewer"].merge(
            estimates["720p_alone"], on=["participant_id", "action"], suffixes=("_with", "_alone"))
        both["diff"] = (both["percent_time_with"] - both["percent_time_alone"]).abs()
        effect = both.groupby("action")["diff"].agg(["mean", "max"])
        print("\nInterviewer in view: |percent time with - alone|, points, per action")
        print(effect.to_markdown(floatfmt=".3f"))
        print(f"largest mean absolute difference: {effect['mean'].max():.3f} points "
              f"(target < 1)")
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / f"agreement_{model.name}.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
