"""How well each pose backend follows the participant when an interviewer is in view.

On a synthetic cohort made with an interviewer (`synth cohort --participant-side random
--interviewer`, which writes both people's exact joints to `truth_people/`), runs the pose
stage for every participant with the sheet's `participant_side` and without it (the default
rule), and counts per processed frame whether the pose found belongs to the participant
(median joint distance to the participant's true joints below half their body size, and
nearer them than the interviewer), to the interviewer (a swap), or to nobody.

    python bench/participant_tracking.py --cohort /tmp/two_person --backends openpose mediapipe
    python bench/participant_tracking.py --make --width 1280 --height 720 --fps 30 --seconds 60
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from microdualnet.cli import main as cli_main
from microdualnet.pose.extract import extract_pose
from microdualnet.pose.npz import has_person, load_pose
from microdualnet.pose.participant import NO_HINT, hint_from_sheet


def classify(kp: np.ndarray, participant: np.ndarray, interviewer: np.ndarray) -> np.ndarray:
    """Per frame: 'participant', 'interviewer' or 'none' for keypoints `[T, 25, 3]` against
    both people's true joints `[T, 25, 2]`."""
    out = np.full(len(kp), "none", dtype=object)
    person = has_person(kp)
    for t in np.flatnonzero(person):
        seen = kp[t, :, 2] > 0.3
        d_p = float(np.median(np.linalg.norm(kp[t, seen, :2] - participant[t, seen], axis=1)))
        d_i = float(np.median(np.linalg.norm(kp[t, seen, :2] - interviewer[t, seen], axis=1)))
        size = float(np.linalg.norm(participant[t].max(0) - participant[t].min(0)))
        out[t] = "participant" if d_p < d_i and d_p < 0.5 * size else (
            "interviewer" if d_i < d_p else "none")
    return out


def run(cohort: Path, backends: list[str], work: Path) -> pd.DataFrame:
    sheet = pd.read_csv(cohort / "participants.tsv", sep="\t", dtype=str)
    rows = []
    for pid, video in zip(sheet["participant_id"], sheet["video"], strict=True):
        truth = np.load(cohort / "truth_people" / f"{pid}.npz")
        for backend in backends:
            for rule, hint in (("sheet side", hint_from_sheet(cohort / "participants.tsv", pid)),
                               ("default", NO_HINT)):
                out = work / f"{pid}-{backend}-{rule.replace(' ', '_')}.npz"
                start = time.process_time()
                qc = extract_pose(backend, cohort / video, out, progress=False, hint=hint,
                                  openpose_dir=cohort / "openpose" / pid
                                  if backend == "openpose" else None)
                cpu = time.process_time() - start
                pose = load_pose(out)
                who = classify(pose.keypoints, truth["participant"][pose.frame_index],
                               truth["interviewer"][pose.frame_index])
                rows.append({"participant": pid, "backend": backend, "rule": rule,
                             "frames": len(who), "kept": int((who == "participant").sum()),
                             "swapped": int((who == "interviewer").sum()),
                             "missing": int((who == "none").sum()),
                             "lost_qc": qc.get("frames_track_lost"), "cpu_s": round(cpu, 1)})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, default=None, help="a cohort made with an "
                    "interviewer (default: make one with --make's options)")
    ap.add_argument("--make", action="store_true", help="synthesise the cohort first")
    ap.add_argument("--per-group", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--backends", nargs="+", default=["openpose", "mediapipe"],
                    choices=["openpose", "mediapipe"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cohort = args.cohort
        if cohort is None or args.make:
            cohort = cohort or work / "cohort"
            assert cli_main(["synth", "cohort", "--out", str(cohort), "--per-group",
                             str(args.per_group), "--seconds", str(args.seconds), "--fps",
                             str(args.fps), "--width", str(args.width), "--height",
                             str(args.height), "--seed", str(args.seed),
                             "--participant-side", "random", "--interviewer",
                             "--overwrite"]) == 0
        table = run(cohort, args.backends, work)
    print(f"# participant tracking, {date.today()}, {platform.processor() or platform.machine()}"
          f", cohort {cohort}")
    print(table.to_markdown(index=False))
    total = table.groupby(["backend", "rule"])[["frames", "kept", "swapped", "missing",
                                                "cpu_s"]].sum()
    total["kept_%"] = (100 * total["kept"] / total["frames"]).round(2)
    total["swapped_%"] = (100 * total["swapped"] / total["frames"]).round(2)
    print()
    print(total.reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
