"""The model's events, for a coder to review in ELAN or BORIS.

Events are the runs of one label in the per-bin decisions of `analysis.aggregate` (the same
decisions that make percent time): a run of bins labelled with an action is one event from
the first bin's start to the last bin's end. Bins that are not valid (no person) carry no
label, so they end an event.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.aggregate import (
    Timeline,
    add_decision_args,
    decision_from,
    participant_timeline,
    windows_files,
)
from analysis.codings.boris import write_boris_project, write_boris_tabular
from analysis.codings.elan import write_elan
from analysis.codings.events import EVENT_COLUMNS
from analysis.inputs import file_lines, read_tsv
from pipeio import InputError
from pipeio.windows import read_windows, video_end_s

log = logging.getLogger(__name__)


def timeline_events(tl: Timeline) -> pd.DataFrame:
    """The normalised events table of one participant's per-bin labels."""
    rows = []
    end = tl.bin_start + tl.bin_width
    for i, action in enumerate(tl.actions):
        padded = np.concatenate([[False], tl.label == i, [False]]).astype(int)
        edges = np.flatnonzero(np.diff(padded))
        rows += [(tl.participant_id, action, float(tl.bin_start[a]), float(end[b - 1]))
                 for a, b in zip(edges[::2], edges[1::2], strict=True)]
    rows.sort(key=lambda r: (r[2], r[1]))  # time order, as the coding readers give
    return pd.DataFrame(rows, columns=EVENT_COLUMNS).astype(
        {"start_s": float, "end_s": float})


def _videos(sheet: Path | None) -> dict[str, Path]:
    """participant id -> video path, from the sheet's `video` column (relative to it)."""
    if sheet is None:
        return {}
    table = read_tsv(sheet, ("participant_id", "video"), "participant sheet")
    blank = table.index[table["video"].isna() | (table["video"].astype(str).str.strip() == "")]
    if len(blank):
        raise InputError(f"participant sheet {sheet}: column video is empty on "
                         f"{file_lines(blank)}")
    twice = table.index[table["participant_id"].duplicated()]
    if len(twice):  # which video would be linked?
        raise InputError(f"participant sheet {sheet}: column participant_id repeats on "
                         f"{file_lines(twice)}")
    return {p: sheet.parent / v for p, v in zip(table["participant_id"], table["video"],
                                                 strict=True)}


def write_review_files(tl: Timeline, meta: dict, out_dir: Path, video: Path,
                       subject: str = "") -> list[Path]:
    """`elan/<pid>.eaf`, `boris/<pid>.tsv` and `boris/<pid>.boris` under `out_dir`; `meta`
    is the windows file's metadata (the video's length and frame rate). Event times are the
    windows', the player's (`pipeio.windows`), so they are written as they are; the media
    length BORIS is told is where the video ends on that clock, as its player gives it."""
    end, fps = video_end_s(meta), meta.get("fps")
    if not end or not fps:
        log.warning("participant %s: no events written (%s)", tl.participant_id,
                    tl.excluded or "the windows file lacks the video's length or frame rate")
        return []
    events, pid = timeline_events(tl), tl.participant_id
    return [write_elan(out_dir / "elan" / f"{pid}.eaf", events, video, tl.actions),
            write_boris_tabular(out_dir / "boris" / f"{pid}.tsv", events, pid, video,
                                end, fps, subject),
            write_boris_project(out_dir / "boris" / f"{pid}.boris", events, pid, video,
                                end, fps, tl.actions, subject)]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review-codings", help="the model's events as ELAN and BORIS files, "
                       "for coders to review")
    p.add_argument("--windows", type=Path, nargs="+", action="extend", required=True,
                   help="windows Parquet files or folders of them")
    p.add_argument("--out-dir", type=Path, required=True,
                   help="writes elan/<pid>.eaf, boris/<pid>.tsv and boris/<pid>.boris")
    p.add_argument("--participants", type=Path, default=None,
                   help="participant sheet: its video column links the videos (default: the "
                   "video path recorded in each windows file)")
    p.add_argument("--subject", default="",
                   help="BORIS subject to code the events under (default: none)")
    add_decision_args(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.set_defaults(run=run_review_codings)


def run_review_codings(args: argparse.Namespace) -> None:
    decision, videos = decision_from(args), _videos(args.participants)
    for path in windows_files(args.windows):
        tl, meta = participant_timeline(path, decision), read_windows(path)[1]
        if args.participants is not None and tl.participant_id not in videos:
            raise InputError(f"participant {tl.participant_id} ({path}) is not in "
                             f"{args.participants}")
        video = videos.get(tl.participant_id) or Path(meta.get("video", ""))
        for written in write_review_files(tl, meta, args.out_dir, video, args.subject):
            log.info("wrote %s", written)
