"""ELAN codings (`.eaf`, read and written with pympi-ling).

Read: the time-aligned annotations of each tier. The behaviour is the tier's name (one tier
per behaviour, `elan_behaviour_from: tier`) or the annotation's value (one tier holding
behaviour labels, `value`); `elan_tiers` in the mapping file limits which tiers are read.
Symbolic (reference) tiers have no times of their own and are not read; with one tier per
behaviour, neither is a tier the mapping leaves out (null), so ELAN's time-subdivision tiers
(whose slots may be unaligned) do not stand in the way. Checked on ELAN's own sample files
(EAF 2.7, 2.8 and 3.0, from pympi-ling's test data).

Written for review: one tier per model action, each annotation valued with the action,
the video linked (absolute URL and a path relative to the `.eaf`), times in milliseconds.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pympi

from analysis.codings.events import CodedEvent, check_events, to_table
from analysis.codings.mapping import CodingMap
from pipeio import InputError, atomic_write_text


def _open(path: Path) -> pympi.Elan.Eaf:
    if not path.is_file():
        raise InputError(f"ELAN file {path} does not exist")
    try:
        return pympi.Elan.Eaf(str(path), suppress_version_warning=True)
    except Exception as err:  # pympi raises a bare Exception for XML it cannot parse
        raise InputError(f"{path} is not an ELAN .eaf file ELAN could open ({err})") from err


def _media_stem(eaf: pympi.Elan.Eaf, path: Path) -> str:
    if not eaf.media_descriptors:
        raise InputError(f"{path}: participant_id_from is media, but the file links no media")
    url = eaf.media_descriptors[0]["MEDIA_URL"]
    return Path(unquote(urlparse(url).path)).stem


def read_elan(path: str | Path, mapping: CodingMap,
              durations: dict[str, float] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The normalised events table of one `.eaf` file (module docstring) and its
    participant; a coding past the video's length (`durations`, by participant) is refused."""
    path = Path(path)
    eaf = _open(path)
    if mapping.participant_id_from == "observation":
        raise InputError(f"{path}: ELAN files have no observation id; set "
                         "participant_id_from to file or media in the mapping file")
    source = path.stem if mapping.participant_id_from == "file" else _media_stem(eaf, path)
    pid = mapping.participant_id(source, str(path))
    missing = sorted(set(mapping.elan_tiers) - set(eaf.tiers))
    if missing:
        raise InputError(f"{path}: tier(s) {missing} named in elan_tiers are not in the file "
                         f"(its tiers: {sorted(eaf.tiers)})")
    tiers = [t for t in mapping.elan_tiers or list(eaf.tiers) if eaf.tiers[t][0]]
    if mapping.elan_behaviour_from == "tier":  # a tier left out is never read: ELAN's
        known = mapping.known(set(tiers), str(path))  # subdivision tiers may be unaligned
        tiers = [t for t in tiers if t in known and mapping.behaviours[t]]
    events = []
    for tier in tiers:
        aligned = eaf.tiers[tier][0]
        for aid, (ts1, ts2, value, _) in aligned.items():
            behaviour = tier if mapping.elan_behaviour_from == "tier" else value.strip()
            where = f"{path}, tier {tier!r}, annotation {aid}"
            start, end = eaf.timeslots.get(ts1), eaf.timeslots.get(ts2)
            if start is None or end is None:
                raise InputError(f"{where}: {behaviour!r} has an unaligned time slot; align "
                                 "it in ELAN")
            events.append(CodedEvent(pid, behaviour, start / 1000, end / 1000, where))
    known = mapping.known({e.behaviour for e in events}, str(path))
    ours = [e for e in events if e.behaviour in known and mapping.behaviours[e.behaviour]]
    check_events(ours, (durations or {}).get(pid))
    return to_table(ours, mapping.behaviours), [pid]


def write_elan(path: str | Path, events: pd.DataFrame, video: str | Path,
               actions: list[str], date: str | None = None) -> Path:
    """One participant's events as an `.eaf` with a tier per action (empty tiers kept, so a
    coder can add what the model missed), linked to `video`. `date` (ISO 8601) fixes the
    header date, which is otherwise now."""
    path, video = Path(path), Path(video)
    eaf = pympi.Elan.Eaf(author="microdualnet")
    eaf.adocument["DATE"] = date or datetime.now(UTC).isoformat(timespec="seconds")
    eaf.add_linked_file(video.resolve().as_uri(),
                        relpath=os.path.relpath(video.resolve(), path.resolve().parent),
                        mimetype="video/mp4")
    for action in actions:
        eaf.add_tier(action)
    eaf.remove_tier("default")
    for action, start, end in events[["action", "start_s", "end_s"]].itertuples(index=False):
        eaf.add_annotation(action, int(round(start * 1000)), int(round(end * 1000)),
                           value=action)
    return atomic_write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n'
                             + pympi.Elan.to_string(eaf) + "\n")
