"""What a finished workflow run prints last: where the report is, and what needs a look.

A researcher running `snakemake --cores N` on a cohort reads the terminal, not the QC
files. Named there, each with the file that says why: participants excluded; those the
pose QC flagged (the interviewer may have been followed; OpenPose JSON perhaps another
participant's, on a line of its own); those whose video is slower than the model samples
(frames repeated in its windows) or who have someone else in a full-view model's input
(`percent_time_quality.tsv`); and a Table V left empty because no test could be run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.inference_quality import read_inference_quality, warned
from analysis.pose_quality import flagged, has_json_of_others, read_quality
from pipeio import InputError

EXCLUSION_FILES = ("percent_time_exclusions.tsv", "stats/exclusions.tsv")
INFERENCE_QUALITY = "percent_time_quality.tsv"  # aggregate's table of infer's warnings
NAMED = 10  # participants named in a line; the rest are counted


def _named(ids: list[str]) -> str:
    more = len(ids) - NAMED
    return ", ".join(ids[:NAMED]) + (f" and {more} more" if more > 0 else "")


def run_summary(results: str | Path, model_path: bool = True) -> list[str]:
    """Lines for the end of a run (empty when the run made none of these files).

    `model_path`: the run analysed the model's percent time, so the pose-quality table and
    the upstream exclusions are this path's (a truth-path run does not read files a model
    run left). Best effort: a file it cannot read gives a line saying so, never an error
    that would turn a finished run into a failed one.
    """
    try:
        return _summary(Path(results), model_path)
    except Exception as err:  # noqa: BLE001 - a summary must not fail the run it describes
        return [f"(no run summary: {' '.join(str(err).split())})"]


def _excluded_ids(path: Path) -> set[str]:
    """The participants an exclusions list names; a damaged list is an error naming it (the
    line then says which file to look at)."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"exclusions list {path} is not a readable TSV: {err}") from None
    if "participant_id" not in table.columns:
        raise InputError(f"exclusions list {path} lacks column participant_id")
    ids = table["participant_id"]
    return set(ids[ids != ""])


def _untested(hurdle: Path) -> str | None:
    """A line when no test could be run (a pilot of a few participants a group, below
    stats.min_participants): the run succeeds with an empty Table V, which looks like a
    finding of no differences unless the terminal says why."""
    if not hurdle.is_file():
        return None
    try:
        table = pd.read_csv(hurdle, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"hurdle table {hurdle} is not a readable TSV: {err}") from None
    if table.empty or {"estimable", "reason"} - set(table.columns):
        return None
    if (table["estimable"] == "True").any():
        return None
    reason, count = next(iter(table["reason"].value_counts().items()))
    return (f"No test could be run, so Table V is empty: {hurdle} gives each test's reason, "
            f"most often '{reason}' ({count} of {len(table)} tests; docs/statistics.md, "
            "'Not estimable')")


def _summary(results: Path, model_path: bool) -> list[str]:
    lines = []
    if (results / "report.html").is_file():
        lines.append(f"Report: {results / 'report.html'}")
    excluded: set[str] = set()
    names = EXCLUSION_FILES if model_path else EXCLUSION_FILES[1:]
    files = [results / name for name in names if (results / name).is_file()]
    for path in files:
        excluded |= _excluded_ids(path)
    if excluded:
        lines.append(f"Excluded: {len(excluded)} participant(s) ({_named(sorted(excluded))}); "
                     f"reasons in {' and '.join(map(str, files))}")
    untested = _untested(results / "stats" / "hurdle.tsv")
    if untested:
        lines.append(untested)
    quality = results / "pose_quality.tsv"
    if model_path and quality.is_file():
        table = read_quality(quality)
        ids = flagged(table)["participant_id"].tolist()
        others = table[has_json_of_others(table)]["participant_id"].tolist()
        if others:
            lines.append(f"OpenPose JSON perhaps another participant's: {len(others)} "
                         f"participant(s) ({_named(others)}), identical to another's or named "
                         f"after another's video: see the flags in {quality}, fix the "
                         "OpenPose folders and rerun")
        if ids:
            lines.append(f"Pose QC flagged {len(ids)} participant(s) ({_named(ids)}): see {quality} "
                         "(e.g. several people in view and no participant_side in the sheet: "
                         "the interviewer may have been followed)")
    inference = results / INFERENCE_QUALITY
    if model_path and inference.is_file():
        table = read_inference_quality(inference)
        slow = warned(table, "frame_rate_warning")
        shared = warned(table, "others_in_view_warning")
        if slow:
            lines.append(f"Videos slower than the model samples: {len(slow)} participant(s) "
                         f"({_named(slow)}), frames repeated in their windows: see "
                         f"frame_rate_warning in {results / 'windows'}/<id>.parquet's "
                         "metadata or logs/infer/<id>.log")
        if shared:
            lines.append(f"Others in the full-view model's input: {len(shared)} participant(s) "
                         f"({_named(shared)}), the model may count their movements as the "
                         "participant's: use a person-view model (docs/training.md) or crop "
                         f"the recordings; see others_in_view_warning in {results / 'windows'}"
                         "/<id>.parquet's metadata or logs/infer/<id>.log")
    return lines
