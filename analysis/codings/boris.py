"""BORIS codings: the "tabular events" and "aggregated events" exports in, events out.

Read (TSV, CSV by the `.csv` suffix, or an Excel workbook by `.xlsx`, every sheet; BORIS's
other exports are refused by name), both layouts BORIS has written:

- tabular events, one row per START, STOP or POINT: the single-header layout of BORIS 8
  (`Observation id`, ..., `Media duration (s)`, `FPS`, `Subject`, `Behavior`,
  `Behavioral category`, `Modifier #n`, `Behavior type` holding START/STOP/POINT, `Time`,
  ...) and the older one (`Observation id`/`Time offset (s)` rows above a header `Time`,
  `Media file path`, `Total length`, `FPS`, `Subject`, `Behavior`, ..., `Status`);
- aggregated events, one row per event: `Behavior type` STATE or POINT, `Start (s)`,
  `Stop (s)`.

A state event is a START and the next STOP of the same subject, behaviour and modifiers.
An observation with a time offset exported over "Media file(s) duration" is refused:
BORIS 8 cuts it at the media's length with the offset added (`_check_interval`).

Written for review: the model's events as a tabular events TSV in BORIS 8's layout (what
`read_boris` reads back: BORIS itself exports this layout but does not import it) and as a
BORIS project file (`.boris`, JSON in the layout of BORIS's project format 7.0) with an
ethogram of the model's actions and one observation linked to the video, for a coder to
open in BORIS, correct, and export again. BORIS pairs the project's state events itself
(each behaviour's events alternate START, STOP), so the file lists event times only.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import pandas as pd

from analysis.codings.events import CodedEvent, check_events, to_table
from analysis.codings.mapping import CodingMap
from pipeio import InputError, atomic_write_text
from pipeio.textfile import read_utf8

NO_SUBJECT = ("", "No focal subject")  # BORIS's two spellings of "coded without a subject"
MEDIA_COLUMNS = ("Media file name", "Media file path", "Media file", "Source")
DURATION_COLUMNS = ("Media duration (s)", "Total length")
# BORIS 8's length of the exported interval (tabular and aggregated events): the media's
# duration when exported over "Media file(s) duration", else the coded span.
SPAN_COLUMNS = ("Observation duration", "Coding duration")
#: Times equal within this are one (BORIS writes milliseconds).
MS_S = 5e-4
#: A media duration further than this from the analysed video's length is another recording
#: (or a trimmed copy of it); re-encoding changes a length by a frame or two.
MEDIA_TOLERANCE_S = 1.0
PLAYER_PREFIX = "player #1:"
MISSING = ("", "NA")  # BORIS writes NA where it has no value (a live observation's media)
WORKBOOK_SUFFIX = ".xlsx"
# BORIS's other export formats: refused by name, not read as garbled text.
SPREADSHEET_SUFFIXES = (".ods", ".xls")
UNREAD_SUFFIXES = (*SPREADSHEET_SUFFIXES, ".html", ".pkl", ".rds")
PROJECT_SUFFIXES = (".boris", ".boris.gz")  # the coder's project (saved compressed or not)
META_CELLS = 3  # the most values a row above the header holds in the older layout


@dataclass
class _Observation:
    """What one observation of the file says about its video, and its events."""

    media: str = ""
    duration_s: float | None = None
    events: list[CodedEvent] = field(default_factory=list)
    offset_s: float = 0.0
    span_s: float | None = None  # SPAN_COLUMNS
    written_s: list[float] = field(default_factory=list)  # all its times, offset included


@dataclass
class _Table:
    """Rows of one text file or one sheet of a workbook, with where they come from."""

    where: str  # the file, or the file and sheet
    unit: str  # what a row number counts: a text file's lines or a sheet's rows
    rows: list[tuple[int, list[str]]]  # (line or row number, cells) of every non-empty row


def is_project(path: Path) -> bool:
    """Whether `path` is a BORIS project file: it holds the codings, but is not an export."""
    return path.name.lower().endswith(PROJECT_SUFFIXES)


def _tables(path: Path) -> list[_Table]:
    """The file's rows: one table for a TSV or CSV, one per sheet of a workbook."""
    if is_project(path):  # e.g. the review project a coder corrected and sent back
        raise InputError(f"{path}: a BORIS project file is not read; open it in BORIS, export "
                         "the events (Observations > Export events, tabular or aggregated) "
                         "as TSV, CSV or XLSX, and keep the project out of coding folders")
    suffix = path.suffix.lower()
    if suffix in UNREAD_SUFFIXES:
        raise InputError(f"{path}: BORIS's {path.suffix} export is not read; export the "
                         "events again as TSV, CSV or XLSX (and keep other files out of "
                         "coding folders)")
    if suffix == WORKBOOK_SUFFIX:
        return _workbook_tables(path)
    # BORIS writes UTF-8; a spreadsheet may have saved the file again in another encoding.
    text = read_utf8(path, "BORIS export", advice="export it again from BORIS, or save it as "
                     "UTF-8")
    # newline="": lines may end in CR alone (a spreadsheet on a Mac saved the file again)
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter="," if suffix == ".csv" else "\t")
    try:
        rows = [(reader.line_num, [c.strip() for c in row])
                for row in reader if any(c.strip() for c in row)]
    except csv.Error as err:
        raise InputError(f"{path}, line {reader.line_num}: not readable as a BORIS export "
                         f"({err}); export it again from BORIS") from None
    return [_Table(str(path), "line", rows)]


def _workbook_tables(path: Path) -> list[_Table]:
    """Every sheet of an `.xlsx` export (BORIS writes one sheet per observation), its cells
    as the text a TSV export holds, so both go through one reader."""
    import openpyxl  # here: a third of a second that only workbook readers should pay

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: not a readable .xlsx workbook ({err}); export the events "
                         "again from BORIS") from None
    try:
        tables = []
        for sheet in book.worksheets:
            rows = [(n, [_cell_text(v) for v in values])
                    for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
            tables.append(_Table(f"{path}, sheet {sheet.title!r}", "row",
                                 [(n, cells) for n, cells in rows if any(cells)]))
    finally:
        book.close()
    return [t for t in tables if t.rows] or [_Table(str(path), "row", [])]


def _cell_text(value: object) -> str:
    """A workbook cell as TSV text: whole numbers without `.0`, so a subject or observation
    coded `1` reads as the `1` a mapping file names."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {what} {text!r} is not a number of seconds")
    return value


def _media(cell: dict[str, str]) -> str:
    """The row's media file: BORIS 8 writes `Not found` for an event outside every video."""
    for column in MEDIA_COLUMNS:
        text = cell.get(column, "")
        if text not in (*MISSING, "Not found"):
            return text.removeprefix(PLAYER_PREFIX).strip()
    return ""


def _duration(text: str, where: str) -> float | None:
    """The video's length from a duration cell; several media files are refused."""
    if text in MISSING:
        return None
    if ";" in text or "|" in text:
        raise InputError(f"{where}: an observation with several media files ({text}) is not "
                         "supported; code one video per observation")
    return _number(text, "media duration", where)


def read_boris(path: str | Path, mapping: CodingMap,
               durations: dict[str, float] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The normalised events table of a BORIS export (module docstring) and the participants
    it codes (one per observation, also those with no event).

    `durations` (participant id -> video length in s, e.g. from the windows files) adds to
    the media duration BORIS wrote; a coding past either is refused.
    """
    path = Path(path)
    observations: dict[str, _Observation] = {}
    subjects: set[str] = set()
    for table in _tables(path):
        _read_table(table, mapping, observations, subjects)
    stray = sorted(subjects - {*map(_subject, mapping.other_subjects),
                               _subject(mapping.participant_subject)})
    if stray:
        raise InputError(f"{path}: subject(s) {stray} are neither participant_subject "
                         f"({mapping.participant_subject!r}) nor in other_subjects of the "
                         "mapping file")
    return _normalise(path, observations, mapping, durations or {})


def _read_table(table: _Table, mapping: CodingMap, observations: dict[str, _Observation],
                subjects: set[str]) -> None:
    """Add one table's events to `observations` (by observation id) and the subjects other
    than the participant to `subjects`."""
    rows, unit = table.rows, table.unit
    head = next((i for i, (_, r) in enumerate(rows) if _is_header(r)), None)
    if head is None:
        resaved = any(";Behavior;" in ";".join(r) for _, r in rows[:30])
        raise InputError(f"{table.where}: not a BORIS tabular or aggregated events export (no "
                         "header row with Behavior and Time or Start (s))"
                         + ("; its columns are separated by ';' (saved by a spreadsheet?): "
                            "export it again from BORIS" if resaved else ""))
    again = next((line for line, r in rows[head + 1:] if _is_header(r)), None)
    if again is not None:  # its columns may differ, and the rows above it would read as events
        raise InputError(f"{table.where}, {unit} {again}: a second header row (the first is "
                         f"on {unit} {rows[head][0]}): exports joined into one file? Give "
                         "each BORIS export as a file of its own")
    # Above the header, the older layout writes `name<TAB>value` rows (Observation id, Time
    # offset (s), ...); a row with more values is an event out of place (a spreadsheet
    # sorted with the header row among the data), which would otherwise be lost unread.
    above = next(((line, r) for line, r in rows[:head] if sum(map(bool, r)) > META_CELLS),
                 None)
    if above is not None:
        raise InputError(f"{table.where}, {unit} {above[0]}: a row of "
                         f"{sum(map(bool, above[1]))} values above the header row ({unit} "
                         f"{rows[head][0]}), expected the header first (sorted in a "
                         "spreadsheet with the header among the rows?); export it again from "
                         "BORIS")
    meta = {r[0]: r[1] for _, r in rows[:head] if len(r) >= 2}  # older layout's top rows
    header = rows[head][1]
    col = {name: k for k, name in enumerate(header)}
    aggregated = "Start (s)" in col
    if aggregated and "Stop (s)" not in col:
        raise InputError(f"{table.where}, {unit} {rows[head][0]}: the header has Start (s) but "
                         "no Stop (s); export the aggregated events again from BORIS")
    status = next((c for c in ("Status", "Behavior type") if c in col), None)
    if status is None:
        raise InputError(f"{table.where}: header lacks Status or Behavior type")
    modifiers = [k for name, k in col.items() if name.startswith("Modifier")]
    open_states: dict[tuple, tuple[int, float]] = {}
    participant = _subject(mapping.participant_subject)
    for line, r in rows[head + 1:]:
        where = f"{table.where}, {unit} {line}"
        cell = {name: (r[k] if k < len(r) else "") for name, k in col.items()}
        # BORIS adds the observation's time offset to every time it writes.
        offset = _number(cell.get("Time offset (s)", meta.get("Time offset (s)", "0")) or "0",
                         "time offset", where)
        shift = f" (times less the time offset, {offset:g} s)" if offset else ""
        obs_id = cell.get("Observation id", meta.get("Observation id", ""))
        obs = observations.setdefault(obs_id, _Observation())
        media = _media(cell)
        if media and obs.media and media != obs.media:  # BORIS 7 names each row's media
            raise InputError(f"{where}: observation {obs_id!r} has several media files "
                             f"({obs.media}, {media}; times run on across them), which is not "
                             "supported; code one video per observation")
        obs.media = obs.media or media
        if obs.duration_s is None:
            obs.duration_s = _duration(next((cell[c] for c in DURATION_COLUMNS
                                             if cell.get(c)), ""), where)
        span = next((cell[c] for c in SPAN_COLUMNS if cell.get(c)), "")
        if obs.span_s is None and span not in MISSING:
            obs.span_s = _number(span, "observation duration", where)
        obs.offset_s = offset
        for column in ("Start (s)", "Stop (s)") if aggregated else ("Time",):
            with contextlib.suppress(ValueError):  # every subject's: BORIS cut them all
                obs.written_s.append(float(cell[column]))
        subject = _subject(cell.get("Subject", ""))
        if subject != participant:
            subjects.add(subject)
            continue
        behaviour, kind = cell["Behavior"], cell[status].upper()
        start = _number(cell["Start (s)" if aggregated else "Time"], "time", where) - offset
        if kind == "POINT":  # an instant: its length comes from the mapping (_normalise)
            obs.events.append(CodedEvent(obs_id, behaviour, start, start, where + shift,
                                         point=True))
            continue
        if aggregated:
            end = _number(cell["Stop (s)"], "stop", where) - offset
            obs.events.append(CodedEvent(obs_id, behaviour, start, end, where + shift))
            continue
        key = (obs_id, subject, behaviour, tuple(r[k] for k in modifiers if k < len(r)))
        if kind == "START":
            if key in open_states:
                raise InputError(f"{where}: START of {behaviour!r} while the START on {unit} "
                                 f"{open_states[key][0]} has no STOP")
            open_states[key] = (line, start)
        elif kind == "STOP":
            if key not in open_states:
                raise InputError(f"{where}: STOP of {behaviour!r} without a START")
            first, t0 = open_states.pop(key)
            obs.events.append(CodedEvent(obs_id, behaviour, t0, start,
                                         f"{table.where}, {unit}s {first}-{line}{shift}"))
        else:
            raise InputError(f"{where}: {status} {cell[status]!r} of {behaviour!r} is not "
                             "START, STOP or POINT")
    if open_states:
        (obs_id, _, behaviour, _), (line, _) = next(iter(open_states.items()))
        _check_interval(table.where, obs_id, observations[obs_id])  # its STOP cut off?
        raise InputError(f"{table.where}, {unit} {line}: START of {behaviour!r} has no STOP")


def _is_header(cells: list[str]) -> bool:
    """Whether a row is the header of a tabular or an aggregated events export."""
    return "Behavior" in cells and ("Time" in cells or "Start (s)" in cells)


def _subject(name: str) -> str:
    """A subject as compared: BORIS's two spellings of "no subject" are one."""
    return "" if name in NO_SUBJECT else name


def _normalise(path: Path, observations: dict[str, _Observation], mapping: CodingMap,
               durations: dict[str, float]) -> tuple[pd.DataFrame, list[str]]:
    events: list[CodedEvent] = []
    pids = []
    if not observations:  # an export without rows: nothing was seen
        if mapping.participant_id_from != "file":
            raise InputError(f"{path}: no events, so the participant it codes cannot be read "
                             f"from its {mapping.participant_id_from} (BORIS writes those on "
                             "event rows); name the file after the participant and set "
                             "participant_id_from: file in the mapping file")
        observations = {"": _Observation()}
    for obs_id, obs in observations.items():
        if mapping.participant_id_from == "media" and not obs.media:
            raise InputError(f"{path}: observation {obs_id!r} names no media file (a live "
                             "observation?), so participant_id_from: media cannot name its "
                             "participant; use file or observation in the mapping file")
        # BORIS on Windows writes Windows paths: split on either separator.
        source = {"file": path.stem, "observation": obs_id,
                  "media": PureWindowsPath(obs.media).stem}[mapping.participant_id_from]
        pid = mapping.participant_id(source, str(path))
        pids.append(pid)
        _check_interval(str(path), obs_id, obs)
        known = mapping.known({e.behaviour for e in obs.events}, str(path))
        video_s = durations.get(pid)
        if (obs.duration_s is not None and video_s is not None
                and abs(obs.duration_s - video_s) > MEDIA_TOLERANCE_S):
            raise InputError(
                f"{path}: observation {obs_id!r} was coded on a video of {obs.duration_s:.1f} s "
                f"(its media duration) but participant {pid}'s video is {video_s:.1f} s: a "
                "coding of another recording, or of an untrimmed or re-cut copy, has its "
                "events at the wrong times; code the video the pipeline analysed, or leave "
                "this participant's coding out")
        limits = [d for d in (obs.duration_s, video_s) if d is not None]
        duration = min(limits) if limits else None
        ours = _points_lengthened(
            [CodedEvent(pid, e.behaviour, e.start_s, e.end_s, e.where, e.point)
             for e in obs.events if e.behaviour in known and mapping.behaviours[e.behaviour]],
            mapping.point_duration_s, duration)
        check_events(ours, duration)
        events += ours
    return to_table(events, mapping.behaviours), pids


def _check_interval(where: str, obs_id: str, obs: _Observation) -> None:
    """Refuse an observation with a time offset exported over "Media file(s) duration":
    BORIS 8 (8.27.4 seen) then keeps the times from 0 to the media's duration as written,
    offset included, so it leaves out or cuts at that bound what was coded in the video's
    last (first, for a negative offset) seconds the offset long, and the file cannot tell."""
    if not obs.offset_s or obs.span_s is None or obs.duration_s is None:
        return
    # Over the media's duration the exported span is the media's duration and every time
    # lies within it. Exported over the observed events instead, a span of the media's
    # duration with every time within it would put an event outside the video.
    if abs(obs.span_s - obs.duration_s) <= MS_S and all(
            -MS_S <= t <= obs.duration_s + MS_S for t in obs.written_s):
        part = "last" if obs.offset_s > 0 else "first"
        raise InputError(
            f"{where}: observation {obs_id!r} has a time offset ({obs.offset_s:g} s) and was "
            f"exported over the media file's duration ({obs.duration_s:.3f} s), which BORIS "
            "applies to the times with the offset added: what was coded in the video's "
            f"{part} {abs(obs.offset_s):g} s is left out or cut short; export it again with "
            "the time interval 'Observed events'")


def _points_lengthened(events: list[CodedEvent], point_s: float | None,
                       duration_s: float | None) -> list[CodedEvent]:
    """POINT events given the mapping's length, cut where the video or the next event of
    the behaviour begins: the length is ours, so it must not make an overlap or run past the
    video the coder saw."""
    out = []
    for ev in events:
        if not ev.point:
            out.append(ev)
            continue
        if point_s is None:
            raise InputError(f"{ev.where}: POINT event of {ev.behaviour!r}; the model's "
                             "classes last, so set point_duration_s in the mapping file "
                             "or code it as a state event")
        if duration_s is not None and ev.start_s >= duration_s:
            raise InputError(f"{ev.where}: POINT event of {ev.behaviour!r} at "
                             f"{ev.start_s:.3f} s, at or past the video's end "
                             f"({duration_s:.3f} s): no part of it lies in the video")
        later = [e.start_s for e in events
                 if e.behaviour == ev.behaviour and e.start_s > ev.start_s]
        end = min([ev.start_s + point_s, *later, *([duration_s] if duration_s is not None else [])])
        out.append(CodedEvent(ev.participant_id, ev.behaviour, ev.start_s, end, ev.where))
    return out


TABULAR_HEADER = ["Observation id", "Observation date", "Description", "Observation duration",
                  "Observation type", "Source", "Time offset (s)", "Media duration (s)", "FPS",
                  "Subject", "Behavior", "Behavioral category", "Behavior type", "Time",
                  "Media file name", "Image index", "Image file path", "Comment"]


def _status_rows(events: pd.DataFrame) -> list[tuple[float, str, str]]:
    """(time, behaviour, START/STOP) in time order, a STOP before a START at the same time."""
    marks = [(float(t), 0 if s == "STOP" else 1, a, s) for a, t0, t1 in
             events[["action", "start_s", "end_s"]].itertuples(index=False)
             for t, s in ((t0, "START"), (t1, "STOP"))]
    return [(t, a, s) for t, _, a, s in sorted(marks)]


def write_boris_tabular(path: str | Path, events: pd.DataFrame, observation_id: str,
                        video: str | Path, duration_s: float, fps: float,
                        subject: str = "") -> Path:
    """One participant's events as a BORIS 8 tabular events TSV (what `read_boris` reads);
    the video path is relative to the file."""
    video = Path(os.path.relpath(Path(video).resolve(), Path(path).resolve().parent))
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(TABULAR_HEADER)
    for t, action, status in _status_rows(events):
        writer.writerow([observation_id, "", "", f"{duration_s:.3f}", "Media file(s)",
                         f"{PLAYER_PREFIX}{video}", "0.0", f"{duration_s:.3f}", f"{fps:.3f}",
                         subject, action, "", status, f"{t:.3f}", str(video),
                         str(int(round(t * fps))), "NA", ""])
    return atomic_write_text(path, out.getvalue())


def write_boris_project(path: str | Path, events: pd.DataFrame, observation_id: str,
                        video: str | Path, duration_s: float, fps: float,
                        actions: Iterable[str], subject: str = "") -> Path:
    """A BORIS project file with an ethogram of `actions` (state events) and one media
    observation of `video` holding `events`; the video path is relative to the file."""
    path = Path(path)
    media = os.path.relpath(Path(video).resolve(), path.resolve().parent)
    project = {
        "time_format": "s", "project_date": "", "project_name": observation_id,
        "project_description": "Events written by Micro-DualNet for review",
        "project_format_version": "7.0",
        "subjects_conf": {"0": {"key": "", "name": subject, "description": ""}}
        if subject else {},
        "behaviors_conf": {str(k): {"type": "State event", "key": "", "code": a,
                                    "description": "", "color": "", "category": "",
                                    "modifiers": {}, "excluded": "", "coding map": ""}
                           for k, a in enumerate(actions)},
        "observations": {observation_id: {
            "file": {str(p): ([media] if p == 1 else []) for p in range(1, 9)},
            "type": "MEDIA", "date": "", "description": "", "time offset": 0.0,
            "events": [[round(t, 3), subject, a, "", "", int(round(t * fps))]
                       for t, a, _ in _status_rows(events)],
            "observation time interval": [0, 0], "independent_variables": {},
            "visualize_spectrogram": False, "visualize_waveform": False,
            "close_behaviors_between_videos": False,
            "media_info": {"length": {media: duration_s}, "fps": {media: fps},
                           "hasVideo": {media: True}, "hasAudio": {media: False},
                           "offset": {"1": 0.0}},
        }},
        "behavioral_categories": [], "behavioral_categories_config": {},
        "independent_variables": {}, "coding_map": {}, "behaviors_coding_map": [],
        "converters": {},
    }
    return atomic_write_text(path, json.dumps(project, indent=1) + "\n")
