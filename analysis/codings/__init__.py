"""Human codings in (BORIS exports, ELAN `.eaf`), model events out for review.

Every reader returns the normalised events table (`EVENT_COLUMNS`: participant_id, action,
start_s, end_s), with behaviours renamed to model classes by the mapping file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.codings.boris import SPREADSHEET_SUFFIXES, WORKBOOK_SUFFIX, is_project, read_boris
from analysis.codings.elan import read_elan
from analysis.codings.events import EVENT_COLUMNS
from analysis.codings.mapping import CodingMap, load_mapping
from pipeio import InputError

BORIS_SUFFIXES = (".tsv", ".csv", WORKBOOK_SUFFIX)
ELAN_SUFFIXES = (".eaf",)

__all__ = ["EVENT_COLUMNS", "CodingMap", "Codings", "coding_files", "load_mapping",
           "read_codings"]


@dataclass
class Codings:
    """One coder's events and the participants they coded (a participant coded with no
    event at all spent 0% of the time in every action, which the events cannot show)."""

    events: pd.DataFrame
    participants: list[str]


def coding_files(source: Path) -> list[Path]:
    """A coding file, or every BORIS export and `.eaf` in a folder (name order; hidden files,
    such as the `._*` copies macOS leaves on shared drives, are not codings). BORIS's
    `.ods` and `.xls` exports and its project files (`.boris`, `.boris.gz`: a review
    project corrected and sent back instead of exported) are listed too, for `read_boris`
    to refuse by name: skipping one would silently leave its participant uncoded."""
    if source.is_dir():
        suffixes = BORIS_SUFFIXES + ELAN_SUFFIXES + SPREADSHEET_SUFFIXES
        files = sorted(p for p in source.iterdir() if not p.name.startswith(".")
                       and (p.suffix.lower() in suffixes or is_project(p)))
        if not files:
            raise InputError(f"no BORIS export (.tsv, .csv, .xlsx) or ELAN file (.eaf) in "
                              f"{source}")
        return files
    if not source.is_file():
        raise InputError(f"coding file or folder {source} does not exist")
    return [source]


def read_codings(sources: list[Path], mapping: CodingMap,
                 durations: dict[str, float] | None = None) -> Codings:
    """All events of the coding files (or folders) in `sources`.

    `durations` maps participant id to video length (s); a coding past it is refused. A
    participant coded in two files of one coder is refused too (which one would count?).
    """
    tables, seen, read = [], {}, {}
    for source, path in [(s, f) for s in sources for f in coding_files(Path(s))]:
        key = path.resolve()
        if key in read:
            raise InputError(f"coding file {path} is given twice (from {read[key]} and from "
                             f"{source}): give each file or folder once")
        read[key] = source
        if path.suffix.lower() in ELAN_SUFFIXES:
            table, pids = read_elan(path, mapping, durations)
        else:
            table, pids = read_boris(path, mapping, durations)
        for pid in pids:
            if pid in seen and seen[pid] == path:
                raise InputError(
                    f"participant {pid} is coded by two observations of {path}"
                    + (" (participant_id_from: file gives every observation of a file the "
                       "file's name: use observation or media for an export of several)"
                       if mapping.participant_id_from == "file" else ""))
            if pid in seen:
                raise InputError(f"participant {pid} is coded in both {seen[pid]} and {path}")
            seen[pid] = path
        tables.append(table)
    events = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=EVENT_COLUMNS)
    return Codings(events, list(seen))
