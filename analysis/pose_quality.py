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
  the participant lost and the track taken afresh; either way, the track taken afresh by
  someone of another size, as when a video call switches from gallery to speaker view);
- a person was found in less than `MIN_PERSON_FRACTION` of the processed frames;
- the OpenPose keypoints may be pixels of a smaller copy of the video
  (`pixel_frame_warning`: everyone's keypoints within its top-left two thirds);
- its OpenPose JSON is identical to another participant's (`openpose_keypoints_sha256`),
  unless both are one recording (same video name) in which the sheet's seats followed two
  different people (`participant_keypoints_sha256`);
- its OpenPose files are named after another participant's video and not after its own
  (`openpose_stem_sha256` against the others' `video_stem_sha256`). A name that merely
  differs from the video's is no flag: studies rename videos to pseudonyms after OpenPose.

The last two catch a folder copied under two participants, or two folders swapped: when
every recording has the same length, the frame count the pose stage checks cannot. They
stay flags, loudly logged, rather than errors: the JSON cannot tell which participant of
the pair is the copy, and this table is made beside percent time and Table V, not before
them, so an error would withhold the report that names them while those are written.
QC records written before the digests existed lack them and get neither flag.

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
TRACK_FLAG = ("the track may have passed from the participant to another person, or a "
              "video call's layout switched under it (track_warning in the pose QC file)")
PIXEL_FLAG = ("the OpenPose keypoints may be pixels of a smaller copy of the video "
              "(pixel_frame_warning in the pose QC file)")
SAME_JSON = "OpenPose JSON identical to that of "
NAMED_JSON = "OpenPose files named after the video of "


def same_json_flag(ids: list[str]) -> str:
    return (f"{SAME_JSON}{', '.join(ids)}: one video's JSON under several participants (a "
            "folder copied?), so at most one of them has their own pose")


def named_json_flag(ids: list[str]) -> str:
    return (f"{NAMED_JSON}{', '.join(ids)}, not this participant's: the JSON of another "
            "participant's video (folders swapped or copied?)")


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


def _same_json(qc: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two participants' OpenPose JSON is one and the same, and not one recording
    of two children (same video name) whose seats followed different people."""
    digest = qc.get("openpose_keypoints_sha256")
    if not digest or digest != other.get("openpose_keypoints_sha256"):
        return False
    followed = qc.get("participant_keypoints_sha256"), other.get("participant_keypoints_sha256")
    return not (qc.get("video_stem_sha256") == other.get("video_stem_sha256")
                and all(followed) and followed[0] != followed[1])


def json_of_others(records: list[dict[str, Any]]) -> list[list[str]]:
    """Each record's flags that its OpenPose JSON may be another participant's (QC digests
    compared; records without them, as written before the digests existed, get none).

    Records are grouped by digest first, so a cohort of thousands compares only the few
    records that share one rather than every pair."""
    by_json: dict[str, list[dict[str, Any]]] = {}
    by_video: dict[str, list[dict[str, Any]]] = {}
    for qc in records:
        if qc.get("openpose_keypoints_sha256"):
            by_json.setdefault(qc["openpose_keypoints_sha256"], []).append(qc)
        if qc.get("video_stem_sha256"):
            by_video.setdefault(qc["video_stem_sha256"], []).append(qc)
    out = []
    for qc in records:
        flags = []
        same = sorted(str(o["participant_id"])
                      for o in by_json.get(qc.get("openpose_keypoints_sha256") or "", [])
                      if o is not qc and _same_json(qc, o))
        if same:
            flags.append(same_json_flag(same))
        stem, own = qc.get("openpose_stem_sha256"), qc.get("video_stem_sha256")
        named = (sorted(str(o["participant_id"]) for o in by_video.get(stem, []) if o is not qc)
                 if stem and own and stem != own else [])
        if named:
            flags.append(named_json_flag(named))
        out.append(flags)
    return out


def has_json_of_others(table: pd.DataFrame) -> pd.Series:
    """Which rows carry a flag that their OpenPose JSON may be another participant's."""
    flags = table["flags"].astype(str)
    return flags.str.contains(SAME_JSON, regex=False) | flags.str.contains(NAMED_JSON,
                                                                          regex=False)


def quality_table(paths: list[Path]) -> pd.DataFrame:
    """The table, one row per QC file, in participant order."""
    records = []
    for path in paths:
        try:
            qc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"pose QC file {path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"pose QC file {path} is not JSON: {err}") from None
        if not isinstance(qc, dict):
            raise InputError(f"pose QC file {path} is not a JSON object")
        records.append(qc)
    rows = [quality_row(qc, path) for qc, path in zip(records, paths, strict=True)]
    for row, flags in zip(rows, json_of_others(records), strict=True):
        if flags and not row["excluded"]:
            row["flags"] = "; ".join(flags + ([row["flags"]] if row["flags"] else []))
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
    others = int(has_json_of_others(kept).sum())
    of_others = (f" ({others} with OpenPose JSON that may be another participant's)"
                 if others else "")
    return (f"Pose QC of {len(kept)} participants with pose ({backends}): {found}; "
            f"{len(flagged(kept))} flagged{of_others}.")


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
    p.add_argument("--qc", type=Path, nargs="+", action="extend", required=True,
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
    for _, row in table[has_json_of_others(table)].iterrows():
        log.warning("participant %s: %s", row["participant_id"], row["flags"])
    log.info("wrote %s (%d participants, %d flagged)", args.out, len(table),
             len(flagged(table)))
