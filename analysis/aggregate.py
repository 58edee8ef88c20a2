"""Windows Parquet files -> the long percent-time table (no torch; reads the files directly).

Time is cut into bins of `bin_s`. A bin takes the mean class probabilities of the valid
windows whose span covers its centre; a bin no valid window covers is not valid time. A
window's span is, with `credit: window`, the window itself (`start_s`-`end_s`); with
`credit: view`, the time its sampled frames show (`view_start_s`-`view_end_s`), widened about
its middle to the hop where it is shorter, and meeting its neighbour's where the frame grid
still leaves a gap, so that consecutive windows leave none. The two
agree for a model that views its whole window (the paper preset: 8 frames 0.27 s apart,
2.13 s, for 2-s windows); for one that views less (the demo preset: 0.96 s), `view` credits
each decision to the moments it was made from rather than spreading it over the window.
Each valid bin gets at most one label:

- `background` decision: the most probable class, where the background class ("no action")
  means no action;
- `threshold` decision: the most probable action (background ignored), only if its mean
  probability reaches the threshold.

Before the decision, the `median` baseline (default) subtracts from every action's bin
probabilities that participant's median over their valid time: their resting level. A
position-defined action (head up, stretching feet) is defined against a person's neutral
posture, which a 2-D view does not fix; some people's resting posture sits near the model's
boundary, and their rest would otherwise be read as the action for minutes. Rest fills most
of a conversation, so the median is the resting level as long as no single action fills half
of the participant's valid time; an action whose median itself reaches the threshold (it
would fill most of the time) is left uncorrected and logged. `none` skips the step.

percent_time = 100 * labelled time / valid time, so a participant's actions sum to at most
100. A participant with no valid time (no person, video shorter than one window) is left out
of the table and listed in the exclusions file with the reason. A third file holds every
participant's inference warnings from their windows file (`analysis.inference_quality`).
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from analysis.inference_quality import quality_table
from analysis.inputs import (
    SHEET_COLUMNS,
    TABLE_COLUMNS,
    is_workflow_column,
    listed,
    read_sheet,
    read_tsv,
)
from analysis.redact import without_paths
from pipeio import InputError, atomic_path, write_provenance
from pipeio.provenance import read_provenance
from pipeio.windows import (
    PROB_PREFIX,
    VIEW_COLUMNS,
    check_made_by,
    check_same_settings,
    files_metadata,
    read_windows,
    video_end_s,
)

log = logging.getLogger(__name__)

Baseline = Literal["median", "none"]
BASELINES: tuple[str, ...] = get_args(Baseline)  # the resting-level choices (module docstring)
Credit = Literal["window", "view"]
CREDITS: tuple[str, ...] = get_args(Credit)  # which span a window's probabilities cover
RESULT_COLUMNS = ("action", "percent_time", "valid_s")  # the table's columns after the sheet's



@dataclass(frozen=True)
class Decision:
    """How a bin's mean probabilities become a label."""

    mode: Literal["background", "threshold"] = "threshold"
    background: str = "no action"
    threshold: float = 0.6
    bin_s: float = 0.1
    baseline: Baseline = "median"
    credit: Credit = "window"

    def __post_init__(self) -> None:
        if self.mode not in ("background", "threshold"):
            raise InputError(f"decision must be background or threshold, got {self.mode!r}")
        if self.baseline not in BASELINES:
            raise InputError(f"baseline must be {' or '.join(BASELINES)}, got {self.baseline!r}")
        if self.credit not in CREDITS:
            raise InputError(f"credit must be {' or '.join(CREDITS)}, got {self.credit!r}")
        if not 0 <= self.threshold <= 1:
            raise InputError(f"threshold must be within 0-1, got {self.threshold}")
        if not (self.bin_s > 0 and math.isfinite(self.bin_s)):
            raise InputError(f"bin size must be a positive number of seconds, got {self.bin_s}")


@dataclass
class Timeline:
    """Per-bin result for one participant (also what the timeline figure draws)."""

    participant_id: str
    classes: list[str]
    actions: list[str]  # classes that count as actions (background removed)
    bin_start: np.ndarray  # [N] seconds
    bin_width: np.ndarray  # [N] seconds (the last bin may be cut by the video's end)
    probs: np.ndarray  # [N, C] mean probabilities, NaN where not valid
    valid: np.ndarray  # [N] bool
    label: np.ndarray  # [N] index into `actions`, -1 for no action or not valid
    baseline: np.ndarray  # [C] resting level subtracted before the decision (0: none)
    excluded: str | None = None

    @property
    def valid_s(self) -> float:
        return float(self.bin_width[self.valid].sum())

    def percent_time(self) -> dict[str, float]:
        total = self.valid_s
        return {a: (100.0 * float(self.bin_width[self.label == i].sum()) / total
                    if total > 0 else math.nan) for i, a in enumerate(self.actions)}


def credited_spans(table: pd.DataFrame, credit: Credit, hop_s: float | None,
                   path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (s) of the time each window's probabilities are credited to."""
    if credit == "window" or table.empty:
        return table["start_s"].to_numpy(np.float64), table["end_s"].to_numpy(np.float64)
    missing = [c for c in VIEW_COLUMNS if c not in table.columns]
    if missing or hop_s is None:
        raise InputError(f"windows file {path} lacks {missing or 'hop_s in its metadata'}, "
                         "which credit 'view' needs (written by an older infer: run its infer "
                         "job again, or use credit 'window')")
    lo, hi = (table[c].to_numpy(np.float64) for c in VIEW_COLUMNS)
    mid, half = (lo + hi) / 2, np.maximum(hi - lo, hop_s) / 2
    lo, hi = mid - half, mid + half
    # Views sit on the frame grid, so neighbouring windows' middles are not exactly a hop
    # apart: where their widened spans leave a gap, the two meet in its middle.
    start = table["start_s"].to_numpy(np.float64)
    order = np.argsort(start, kind="stable")
    a, b = order[:-1], order[1:]
    step = start[b] - start[a]
    gap = np.isclose(step, hop_s, rtol=0, atol=1e-6) & (hi[a] < lo[b])
    meet = (hi[a] + lo[b]) / 2
    hi[a[gap]], lo[b[gap]] = meet[gap], meet[gap]
    return lo, hi


def bin_grid(duration_s: float, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin starts and widths: bins of `bin_s` from 0 to the video's end (`duration_s`, on the
    player's clock: after any lead-in before the first frame, where no window lies), the last
    one cut by it."""
    n = max(int(math.ceil(duration_s / bin_s - 1e-9)), 0)
    start = np.arange(n) * bin_s
    return start, np.minimum(start + bin_s, duration_s) - start


def bin_centres(start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """The points that place a bin: a span (window, coded event) [s, e) covers the bins whose
    centre lies in it. The centre of the last, cut bin is its own, so a span reaching the
    video's end covers it. Each centre is nudged up by 1e-9 of its width: a time written on it
    (8.15 s on a 0.1-s grid, where 81 * 0.1 + 0.05 is 8.149999999999999) reaches it."""
    return start + width / 2 + 1e-9 * width


def _bin_means(starts: np.ndarray, ends: np.ndarray, probs: np.ndarray, duration: float,
               bin_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin starts, widths and mean probabilities of the spans (valid windows) covering each
    bin."""
    start, width = bin_grid(duration, bin_s)
    n = len(start)
    centre = bin_centres(start, width)
    # The bins whose centre lies in [start, end) of a span are [lo, hi).
    lo = np.searchsorted(centre, starts, side="left")
    hi = np.searchsorted(centre, ends, side="left")
    acc = np.zeros((n + 1, probs.shape[1]))
    count = np.zeros(n + 1)
    np.add.at(acc, lo, probs)
    np.add.at(acc, hi, -probs)
    np.add.at(count, lo, 1)
    np.add.at(count, hi, -1)
    acc, count = np.cumsum(acc, 0)[:n], np.round(np.cumsum(count)[:n])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count[:, None] > 0, acc / count[:, None], np.nan)
    return start, width, mean


def label_bins(probs: np.ndarray, classes: list[str], decision: Decision) -> tuple[list[str],
                                                                                  np.ndarray]:
    """Action names and per-bin label (index into them, -1 for none or not valid)."""
    has_bg = decision.background in classes
    if decision.mode == "background" and not has_bg:
        raise InputError(f"decision 'background' needs a class named {decision.background!r}; "
                         f"the model's classes are {classes} (use --decision threshold)")
    action_idx = [i for i, c in enumerate(classes) if not (has_bg and c == decision.background)]
    actions = [classes[i] for i in action_idx]
    label = np.full(len(probs), -1)
    valid = ~np.isnan(probs).any(1)
    if not valid.any():
        return actions, label
    p = probs[valid]
    if decision.mode == "background":
        best = p.argmax(1)
        to_action = {c: k for k, c in enumerate(action_idx)}
        chosen = np.array([to_action.get(int(b), -1) for b in best])
    else:
        sub = p[:, action_idx]
        best = sub.argmax(1)
        top = sub[np.arange(len(sub)), best]
        # An action at probability 0 (every action at or below its resting level, or a
        # one-hot background row) is none, also at threshold 0: argmax would pick the first.
        chosen = np.where((top >= decision.threshold) & (top > 0), best, -1)
    label[valid] = chosen
    return actions, label


def resting_level(probs: np.ndarray, valid: np.ndarray, classes: list[str],
                  decision: Decision, participant_id: str = "") -> np.ndarray:
    """Per class, the probability to subtract before the decision (module docstring)."""
    base = np.zeros(len(classes))
    if decision.baseline == "none" or not valid.any():
        return base
    median = np.median(probs[valid], axis=0)
    for i, c in enumerate(classes):
        if c == decision.background:
            continue
        if median[i] >= decision.threshold and median[i] > 0:
            log.warning("participant %s: %r has a median probability of %.2f over the valid "
                        "time (it would fill most of it); its resting level is not subtracted",
                        participant_id, c, median[i])
            continue
        base[i] = median[i]
    return base


def participant_of(meta: dict[str, Any], path: str | Path) -> str:
    """The participant a windows file is of: its metadata's, else its file name's."""
    return str(meta.get("participant_id") or Path(path).name.removesuffix(".parquet"))


def participant_timeline(path: str | Path, decision: Decision) -> Timeline:
    table, meta = read_windows(path)
    classes = list(meta["class_names"])
    pid = participant_of(meta, path)
    end = video_end_s(meta)  # bins reach the video's end on the clock of the window times
    if end is None:
        end = float(table["end_s"].max()) if len(table) else 0.0
    rows = table[table["valid"].astype(bool)]
    starts, ends = credited_spans(rows, decision.credit, meta.get("hop_s"), path)
    # A bin stands for the spans over its centre: a span shorter than a bin may hold none.
    # Credited spans last window_s (credit window) or at least hop_s (credit view).
    key = "window_s" if decision.credit == "window" else "hop_s"
    span = meta.get(key)
    if span and decision.bin_s > float(span) * (1 + 1e-9):
        raise InputError(f"windows file {path}: bins of {decision.bin_s:g} s are longer than "
                         f"the {float(span):g} s a window's probabilities are credited to "
                         f"({key} in its metadata, credit {decision.credit}): a window holding "
                         "no bin's centre would be left out; use a bin of at most "
                         f"{float(span):g} s (default 0.1)")
    start, width, probs = _bin_means(starts, ends,
                                     rows[[PROB_PREFIX + c for c in classes]].to_numpy(
                                         np.float64), end, decision.bin_s)
    valid = ~np.isnan(probs).any(1) if len(probs) else np.zeros(0, bool)
    baseline = resting_level(probs, valid, classes, decision, pid)
    actions, label = label_bins(np.clip(probs - baseline, 0.0, None), classes, decision)
    excluded = meta.get("excluded")
    if not excluded and table.empty:
        excluded = "no window at all (a video shorter than one window?)"
    elif not excluded and not valid.any():
        excluded = (f"no valid window (too little pose: fewer than "
                    f"{meta.get('min_pose_fraction', '?')} of sampled frames with a person)")
    return Timeline(pid, classes, actions, start, width, probs, valid, label, baseline,
                    excluded)


def windows_files(sources: list[Path]) -> list[Path]:
    """Expand folders to their `*.parquet` files, in name order; hidden files (a killed job's
    temporary `.<pid>.*.tmp.parquet`) are not windows files."""
    files: list[Path] = []
    for src in sources:
        if src.is_dir():
            files += sorted(f for f in src.glob("*.parquet") if not f.name.startswith("."))
        else:
            files.append(src)
    if not files:
        raise InputError(f"no windows files found in {[str(s) for s in sources]}")
    return files


def aggregate(files: list[Path], sheet: pd.DataFrame, decision: Decision,
              covariates: list[str] | None = None, min_valid_s: float = 0.0,
              metadata: Mapping[Path, dict[str, Any]] | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long percent-time table and the exclusions (participant_id, reason); `metadata`:
    the files' `files_metadata` where the caller has it already."""
    if covariates is None:
        covariates = [c for c in sheet.columns
                      if c not in SHEET_COLUMNS and not is_workflow_column(c)]
    # participant_id and group are in the table already; a column listed twice once.
    covariates = [c for c in dict.fromkeys(covariates) if c not in SHEET_COLUMNS]
    unknown = [c for c in covariates if c not in sheet.columns]
    if unknown:
        raise InputError(f"covariate(s) {unknown} are not columns of the participant sheet")
    taken = [c for c in covariates if c in RESULT_COLUMNS]
    if taken:  # the table would have two columns of one name, the sheet's value lost
        raise InputError(f"participant sheet column(s) {taken} have the name of a column "
                         f"aggregate computes ({', '.join(RESULT_COLUMNS)}): rename them in "
                         "the sheet (or, running aggregate by hand, leave them out with "
                         "--covariates)")
    check_same_settings(files_metadata(files) if metadata is None else metadata)
    timelines = [participant_timeline(f, decision) for f in files]
    pids = [t.participant_id for t in timelines]
    repeated = sorted({p for p in pids if pids.count(p) > 1})
    if repeated:  # the participant is the metadata's, whatever the files are named
        where = [str(f) for f, p in zip(files, pids, strict=True) if p == repeated[0]]
        raise InputError(f"participant(s) {listed(repeated)} have more than one windows file "
                         f"({repeated[0]}: {', '.join(where)}; the participant_id in a "
                         "file's metadata names its participant, not the file name)")
    in_sheet = set(sheet["participant_id"])
    for problem, found in (("not in the participant sheet", sorted(set(pids) - in_sheet)),
                           ("in the sheet but without a windows file",
                            sorted(in_sheet - set(pids)))):
        if found:
            raise InputError(f"participant(s) {listed(found)} are {problem}")
    actions = timelines[0].actions
    rows, excluded = [], []
    info = sheet.set_index("participant_id")
    # Participant order, not file order: the files' or the sheet's order changes no byte.
    for tl in sorted(timelines, key=lambda t: t.participant_id):
        if tl.actions != actions:
            raise InputError(f"participant {tl.participant_id}: classes {tl.actions} differ "
                             f"from {actions} (windows made with different models)")
        reason = tl.excluded or (f"only {tl.valid_s:.1f} s of valid time (< {min_valid_s} s)"
                                 if tl.valid_s < min_valid_s else None)
        if reason:
            log.warning("excluded participant %s: %s", tl.participant_id, reason)
            excluded.append((tl.participant_id, reason))
            continue
        base = {"participant_id": tl.participant_id, "group": info.at[tl.participant_id, "group"],
                **{c: info.at[tl.participant_id, c] for c in covariates}}
        rows += [{**base, "action": a, "percent_time": pct, "valid_s": tl.valid_s}
                 for a, pct in tl.percent_time().items()]
    columns = ["participant_id", "group", *covariates, *RESULT_COLUMNS]
    return (pd.DataFrame(rows, columns=columns),
            pd.DataFrame(excluded, columns=["participant_id", "reason"]))


def default_exclusions_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".tsv") + "_exclusions.tsv")


def default_quality_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".tsv") + "_quality.tsv")


def inference_quality(metadata: Mapping[Path, dict[str, Any]]) -> pd.DataFrame:
    """Every participant's inference warnings (`analysis.inference_quality`), from the
    windows files' metadata (path -> its metadata, `files_metadata`)."""
    return quality_table({participant_of(meta, path): meta for path, meta in metadata.items()})


def add_decision_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decision", choices=("background", "threshold"), default="threshold",
                   help="threshold (default): most probable action if its mean probability "
                   ">= --threshold; background: most probable class, background class = no "
                   "action")
    p.add_argument("--background", default="no action",
                   help="name of the background class (default 'no action')")
    p.add_argument("--threshold", type=float, default=0.6,
                   help="for --decision threshold (0.6; docs/inference.md says why)")
    p.add_argument("--bin-s", type=float, default=0.1, help="time bin in seconds (0.1)")
    p.add_argument("--baseline", choices=BASELINES, default="median",
                   help="median (default): subtract each participant's median probability of "
                   "every action (their resting level) before the decision; none: raw")
    p.add_argument("--credit", choices=CREDITS, default="window",
                   help="window (default): a window's probabilities cover the whole window; "
                   "view: only the time its sampled frames show (widened to the hop)")


def decision_from(args: argparse.Namespace) -> Decision:
    return Decision(args.decision, args.background, args.threshold, args.bin_s, args.baseline,
                    args.credit)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("aggregate", help="windows Parquet files -> long percent-time table")
    p.add_argument("--windows", type=Path, nargs="+", action="extend", required=True,
                   help="windows Parquet files or folders of them")
    p.add_argument("--participants", type=Path, required=True, help="participant sheet TSV")
    p.add_argument("--out", type=Path, required=True, help="percent-time TSV to write")
    p.add_argument("--exclusions", type=Path, default=None,
                   help="exclusions TSV (default: <out>_exclusions.tsv)")
    p.add_argument("--quality", type=Path, default=None,
                   help="inference warnings TSV, one row per participant (default: "
                   "<out>_quality.tsv)")
    p.add_argument("--covariates", default=None,
                   help="comma-separated sheet columns to carry (default: all but "
                   "participant_id, group and the workflow's video, participant_side, "
                   "participant_box and codings_<coder>; '' for none)")
    p.add_argument("--min-valid-s", type=float, default=0.0,
                   help="exclude participants with less valid time than this (s)")
    p.add_argument("--model", type=Path, default=None, metavar="MODEL_DIR",
                   help="refuse windows files not made by the model in this folder")
    add_decision_args(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.set_defaults(run=run_aggregate)


def run_aggregate(args: argparse.Namespace) -> None:
    covariates = None if args.covariates is None else [
        c.strip() for c in args.covariates.split(",") if c.strip()]
    files, decision = windows_files(args.windows), decision_from(args)
    metadata = files_metadata(files)  # for the checks and the quality table
    if args.model is not None:
        check_made_by(metadata, args.model)
    sheet = read_sheet(args.participants)
    table, excluded = aggregate(files, sheet, decision, covariates, args.min_valid_s, metadata)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6f")
    # The reasons without paths: the file is shared (its log line keeps them whole).
    videos = [str(meta.get("video") or "") for meta in metadata.values()]
    if "video" in sheet.columns:
        videos += [str(v) for v in sheet["video"]]
    videos += [Path(v).name for v in videos]
    excluded["reason"] = [without_paths(str(r), videos) for r in excluded["reason"]]
    with atomic_path(args.exclusions or default_exclusions_path(args.out)) as tmp:
        excluded.to_csv(tmp, sep="\t", index=False)
    with atomic_path(args.quality or default_quality_path(args.out)) as tmp:
        inference_quality(metadata).to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    write_provenance(args.out.with_name(args.out.name + ".provenance.json"), "aggregate",
                     params={**asdict(decision), "min_valid_s": args.min_valid_s,
                             "covariates": covariates},
                     inputs=[*files, args.participants])
    log.info("wrote %s (%d participants, %d excluded)", args.out,
             table["participant_id"].nunique(), len(excluded))


def add_truth_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("truth-percent-time", help="a synthetic cohort's true percent time as "
                       "the percent-time table (the workflow's truth path)")
    p.add_argument("--truth", type=Path, required=True,
                   help="truth_percent_time.tsv of `microdualnet synth cohort`")
    p.add_argument("--out", type=Path, required=True, help="percent-time TSV to write")
    p.add_argument("--exclusions", type=Path, default=None,
                   help="exclusions TSV, empty (default: <out>_exclusions.tsv)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.set_defaults(run=run_truth_percent_time)


def run_truth_percent_time(args: argparse.Namespace) -> None:
    """The table unchanged, byte for byte; its provenance names the cohort's record (seed,
    planted effects) beside the truth file, which made the numbers."""
    read_tsv(args.truth, TABLE_COLUMNS, "true percent-time table")
    cohort_record = args.truth.with_name("provenance.json")
    cohort = read_provenance(cohort_record, "cohort provenance")
    with atomic_path(args.out) as tmp:
        shutil.copyfile(args.truth, tmp)
    with atomic_path(args.exclusions or default_exclusions_path(args.out)) as tmp:
        tmp.write_text("participant_id\treason\n", encoding="utf-8")
    write_provenance(args.out.with_name(args.out.name + ".provenance.json"),
                     "percent time from truth", {"cohort": cohort},
                     [args.truth, cohort_record])
    log.info("wrote %s from %s", args.out, args.truth)
