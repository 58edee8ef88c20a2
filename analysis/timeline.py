"""Per-participant QC timeline: the labelled actions over time and where pose was usable.

Draws only derived data (labels, validity, optionally the pose file's per-frame person
flags and the true events of a synthetic cohort), never video frames.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.aggregate import (
    Decision,
    Timeline,
    add_decision_args,
    decision_from,
    participant_timeline,
)
from analysis.inputs import numeric_column, read_tsv
from pipeio import InputError, atomic_path
from pipeio.windows import first_frame_s, windows_metadata

# The pose contract's "frame has a person" rule (microdualnet/pose/npz.py), restated.
PERSON_MIN_JOINTS = 3
PERSON_MIN_CONFIDENCE = 0.3


def person_frames(pose_path: Path, windows_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (s) and per-frame person flags from a pose `.npz`, which must be of the
    video the windows file was made from (frame count, rate and size), or the strip would
    show another recording's pose under this participant's actions."""
    try:
        with np.load(pose_path, allow_pickle=False) as data:
            kp, frames, fps = data["keypoints"], data["frame_index"], float(data["fps"])
            shape = {key: data[key].item() for key in ("video_frames", "width", "height")
                     if key in data}
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as err:
        raise InputError(f"pose file {pose_path} is not a readable pose .npz ({err})") from err
    meta = windows_metadata(windows_path)
    differ = [f"{key} {shape[key]} vs {meta[key]}" for key in shape
              if meta.get(key) is not None and shape[key] != meta[key]]
    if meta.get("fps") is not None and abs(fps - meta["fps"]) > 1e-3 * meta["fps"]:
        differ.append(f"fps {fps:g} vs {meta['fps']:g}")
    if differ:
        raise InputError(f"pose file {pose_path} is not of the video windows file "
                         f"{windows_path} was made from ({', '.join(differ)}): give the pose "
                         "file of the same participant and recording")
    found = (kp[..., 2] > PERSON_MIN_CONFIDENCE).sum(-1) >= PERSON_MIN_JOINTS
    # On the windows' clock: the player's, from the time it shows the first frame at.
    return first_frame_s(meta) + frames / fps, found


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(int)))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def plot_timeline(tl: Timeline, out: Path, pose: tuple[np.ndarray, np.ndarray] | None = None,
                  truth: pd.DataFrame | None = None) -> Path:
    """One figure: a row per action (estimated bars, true events as outlines) + QC strips.

    Drawn on a bare `Figure` (saved through the Agg canvas), not through pyplot: one job per
    participant, and pyplot's import and figure registry cost each job time and draw nothing.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    n = len(tl.actions)
    duration = float(tl.bin_start[-1] + tl.bin_width[-1]) if len(tl.bin_start) else 1.0
    fig = Figure(figsize=(10, 1.2 + 0.28 * n))
    ax, qc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [max(n, 1), 2]})
    colours = colormaps["tab20"](np.linspace(0, 1, max(n, 1)))
    # Limits before the bars: set, they turn autoscaling off, which every bar set would
    # otherwise redo (a tenth of the Python calls that draw 52 actions).
    ax.set_ylim(-0.6, n - 0.4)
    ax.invert_yaxis()
    qc.set_xlim(0, duration)
    if truth is not None:  # as arrays: selecting each action's rows in pandas costs more
        named = truth["action"].to_numpy()
        start_s = truth["start_s"].to_numpy(np.float64)
        length_s = truth["end_s"].to_numpy(np.float64) - start_s
    for i, action in enumerate(tl.actions):
        spans = [(tl.bin_start[a], float(tl.bin_width[a:a + k].sum()))
                 for a, k in _runs(tl.label == i)]
        ax.broken_barh(spans, (i - 0.35, 0.7), facecolors=colours[i])
        if truth is not None:
            mine = named == action
            ax.broken_barh(list(zip(start_s[mine], length_s[mine], strict=True)),
                           (i - 0.45, 0.9), facecolors="none", edgecolors="black",
                           linewidth=0.8)
    ax.set_yticks(range(n), tl.actions, fontsize=7)
    title = f"{tl.participant_id}: estimated actions"
    ax.set_title(title + (" (outlines: true events)" if truth is not None else ""), fontsize=9)
    rows = [("valid windows", [(tl.bin_start[a], float(tl.bin_width[a:a + k].sum()))
                               for a, k in _runs(tl.valid)])]
    if pose is not None:
        times, found = pose
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
        rows.append(("person in pose", [(times[a], k * step) for a, k in _runs(found)]))
    qc.set_ylim(-0.6, len(rows) - 0.4)
    for r, (_, spans) in enumerate(rows):
        qc.broken_barh(spans, (r - 0.35, 0.7), facecolors="tab:green")
    qc.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=7)
    qc.set_xlabel("time (s)")
    if tl.excluded:
        # The figure is in `snakemake --report`: a reason naming the video stays out of it.
        # (Imported here: the report module's own imports are of no use to the other jobs.)
        from analysis.report import public_reason, stage_of

        reason = public_reason(tl.excluded, stage_of(tl.excluded))
        qc.set_title(f"excluded: {reason}", fontsize=8, color="tab:red")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120)
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("timeline", help="per-participant QC timeline figure")
    p.add_argument("--windows", type=Path, required=True, help="one participant's windows "
                   "Parquet")
    p.add_argument("--out", type=Path, required=True, help="figure (.png or .pdf)")
    p.add_argument("--pose", type=Path, default=None, help="the participant's pose .npz: "
                   "adds a strip of the frames with a person")
    p.add_argument("--truth", type=Path, default=None, help="truth_events.tsv of a synthetic "
                   "cohort: outlines the true events")
    add_decision_args(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.set_defaults(run=run_timeline)


def run_timeline(args: argparse.Namespace) -> None:
    decision: Decision = decision_from(args)
    tl = participant_timeline(args.windows, decision)
    truth = None
    if args.truth is not None:
        what = f"true events {args.truth}"
        events = read_tsv(args.truth, ("participant_id", "action", "start_s", "end_s"),
                          "true events")
        for col in ("start_s", "end_s"):
            events[col] = numeric_column(events, col, what)
        truth = events[events["participant_id"] == tl.participant_id]
    pose = person_frames(args.pose, args.windows) if args.pose is not None else None
    plot_timeline(tl, args.out, pose, truth)
