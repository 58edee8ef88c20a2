"""Pose QC JSON files (one per participant) -> one pose-quality table, with flags.

The pose stage writes a QC record per participant (`<pid>.qc.json`): how many processed
frames showed a person, how upright the body was, which rule chose the participant among
several people, and a warning when that rule was the default guess. Those records sit in a
folder nobody reads; this table brings them to the report, so a cohort where the
interviewer may have been followed, or where the participant is often not found, is seen
before Table V is trusted.

A participant is flagged when:
- several people were in view and the sheet gave no `participant_side`/`participant_box`
  (the person nearest the centre was followed, which may be the interviewer);
- the track may have passed to another person (`track_warning`: with a hint, someone else
  in the hinted region nearer its anchor than the person followed; with the default rule,
  the participant lost and the track taken afresh);
- a person was found in less than `MIN_PERSON_FRACTION` of the processed frames;
- the OpenPose keypoints may be pixels of a smaller copy of the video
  (`pixel_frame_warning`: everyone's keypoints within its top-left two thirds).

The table holds derived numbers only: no path, no frame.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeio import InputError, atomic_path, write_provenance

log = logging.getLogger(__name__)

# Below this share of processed frames with a person, percent time rests on little video.
MIN_PERSON_FRACTION = 0.9
COLUMNS = ["participant_id", "backend", "excluded", "frames_processed", "person_pct",
           "upright_pct", "participant_rule", "others_in_view", "flags"]
_REQUIRED = ("participant_id", "backend", "frames_processed", "frames_with_person", "excluded")
OTHERS_FLAG = ("several people in view and no participant_side/participant_box in the sheet: "
               "the person nearest the centre was followed, which may be the interviewer")
TRACK_FLAG = ("the track may have passed from the participant to another person "
              "(track_warning in the pose QC file)")
PIXEL_FLAG = ("the OpenPose keypoints may be pixels of a smaller copy of the video "
              "(pixel_frame_warning in the pose QC file)")


def _pct(value: Any) -> float | None:
    return None if value is None else round(100 * float(value), 2)


def _others_in_view(qc: dict[str, Any]) -> bool:
    """Whether anyone besides the participant was seen (each backend counts it its way)."""
    return bool(qc.get("frames_several_people") or (qc.get("people_at_start") or 0) > 1)


def quality_row(qc: dict[str, Any], source: Path) -> dict[str, Any]:
    """One participant's row of the table from their QC record."""
    missing = [k for k in _REQUIRED if k not in qc]
    if missing:
        raise InputError(f"pose QC file {source} lacks key(s) {missing}; expected the JSON "
                         "`microdualnet pose --qc` writes")
    counts = {k: qc[k] for k in ("frames_processed", "frames_with_person")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
               for v in counts.values()):
        raise InputError(f"pose QC file {source}: {counts} must be whole numbers of frames")
    processed, found = counts["frames_processed"], counts["frames_with_person"]
    if found > processed:
        raise InputError(f"pose QC file {source}: frames_with_person {found} exceeds "
                         f"frames_processed {processed}")
    excluded = bool(qc["excluded"])
    rule = str(qc.get("participant_rule") or "")
    flags = []
    if not excluded:
        if qc.get("participant_warning"):
            flags.append(OTHERS_FLAG)
        if qc.get("track_warning"):
            flags.append(TRACK_FLAG)
        if qc.get("pixel_frame_warning"):
            flags.append(PIXEL_FLAG)
        if processed and found < MIN_PERSON_FRACTION * processed:
            flags.append(f"a person in {100 * found / processed:.1f}% of processed frames "
                         f"(under {100 * MIN_PERSON_FRACTION:.0f}%)")
    return {
        "participant_id": str(qc["participant_id"]),
        "backend": str(qc["backend"]),
        "excluded": excluded,
        "frames_processed": processed,
        "person_pct": round(100 * found / processed, 2) if processed else None,
        "upright_pct": _pct(qc.get("upright_fraction")),
        "participant_rule": rule.split(":", 1)[0] if rule else None,
        "others_in_view": _others_in_view(qc),
        "flags": "; ".join(flags),
    }


def quality_table(paths: list[Path]) -> pd.DataFrame:
    """The table, one row per QC file, in participant order."""
    rows = []
    for path in paths:
        try:
            qc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"pose QC file {path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"pose QC file {path} is not JSON: {err}") from None
        if not isinstance(qc, dict):
            raise InputError(f"pose QC file {path} is not a JSON object")
        rows.append(quality_row(qc, path))
    table = pd.DataFrame(rows, columns=COLUMNS)
    duplicated = table["participant_id"][table["participant_id"].duplicated()].tolist()
    if duplicated:
        raise InputError(f"pose QC files name participant(s) {duplicated} more than once")
    return table.sort_values("participant_id", ignore_index=True)


def flagged(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of participants with at least one flag."""
    return table[table["flags"] != ""]


def summary_line(table: pd.DataFrame) -> str:
    """One sentence for the report: how many, how often a person was found, how many flagged."""
    kept = table[~table["excluded"].astype(bool)]
    if kept.empty:
        return f"Pose QC of {len(table)} participants: none has pose."
    pct = kept["person_pct"].dropna()
    lowest = kept.loc[pct.idxmin()] if len(pct) else None
    found = (f"a person in a median {pct.median():.1f}% of processed frames (lowest "
             f"{lowest['person_pct']:.1f}%, {lowest['participant_id']})"
             if lowest is not None else "no frame processed")
    backends = ", ".join(sorted(set(kept["backend"])))
    return (f"Pose QC of {len(kept)} participants with pose ({backends}): {found}; "
            f"{len(flagged(kept))} flagged.")


def read_quality(path: Path) -> pd.DataFrame:
    """The table as written by `pose-quality`, checked for its columns."""
    if not path.is_file():
        raise InputError(f"pose-quality table {path} does not exist")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"participant_id": str, "flags": str,
                                                   "participant_rule": str},
                            keep_default_na=False, na_values={"person_pct": [""],
                                                              "upright_pct": [""]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"pose-quality table {path} is not a readable TSV: "
                         f"{' '.join(str(err).split())}") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"pose-quality table {path} lacks column(s) {missing}")
    for column in ("excluded", "others_in_view"):
        table[column] = table[column].map(lambda v: str(v).strip().lower() == "true")
    return table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pose-quality", help="pose QC JSON files -> one pose-quality TSV")
    p.add_argument("--qc", type=Path, nargs="+", required=True,
                   help="<pid>.qc.json files written by `microdualnet pose`")
    p.add_argument("--out", type=Path, required=True, help="TSV to write")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.set_defaults(run=run_pose_quality)


def run_pose_quality(args: argparse.Namespace) -> None:
    table = quality_table(args.qc)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    write_provenance(args.out.with_name(args.out.name + ".provenance.json"), "pose-quality",
                     params={"min_person_fraction": MIN_PERSON_FRACTION}, inputs=args.qc)
    log.info("wrote %s (%d participants, %d flagged)", args.out, len(table),
             len(flagged(table)))
