"""ELAN codings (`.eaf`, read and written with pympi-ling).

Read: the time-aligned annotations of each tier. The behaviour is the tier's name (one tier
per behaviour, `elan_behaviour_from: tier`) or the annotation's value (one tier holding
behaviour labels, `value`); `elan_tiers` in the mapping file limits which tiers are read.
A symbolic-association tier (labels on a dependent tier, e.g. picked from a controlled
vocabulary) takes the times of the annotations it refers to; it is read in value mode, when
`elan_tiers` names it, or, one tier per behaviour, when the mapping lists it. Other
symbolic (subdivision) tiers have no times of their own and are not read; with one tier per
behaviour, neither is a tier the mapping leaves out (null), so ELAN's time-subdivision tiers
(whose slots may be unaligned) do not stand in the way. Times are of the video: a video's
time origin (ELAN's synchronisation offset: annotation time 0 is that far into the video) is
added. Tiers whose PARTICIPANT is one of `other_subjects` are left out. Checked on ELAN's own
sample files (EAF 2.7, 2.8 and 3.0, from pympi-ling's test data) and hand-written variants.

Written for review: one tier per model action, each annotation valued with the action,
the video linked (absolute URL and a path relative to the `.eaf`), times in milliseconds.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote

import pandas as pd
import pympi

from analysis.codings.events import CodedEvent, check_events, to_table
from analysis.codings.mapping import CodingMap
from pipeio import InputError, atomic_write_text

SCHEMA_KEY = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"
ASSOCIATION = "Symbolic_Association"  # one dependent annotation per parent annotation


def _open(path: Path) -> pympi.Elan.Eaf:
    if not path.is_file():
        raise InputError(f"ELAN file {path} does not exist")
    try:
        return pympi.Elan.Eaf(str(path), suppress_version_warning=True)
    except KeyError as err:  # pympi needs the schema attribute ELAN writes on the root
        if err.args == (SCHEMA_KEY,):
            raise InputError(f"{path}: the root element lacks xsi:noNamespaceSchemaLocation, "
                             "which ELAN writes; open and save the file in ELAN") from None
        raise InputError(f"{path} is not an ELAN .eaf file ELAN could open "
                         f"(missing {err})") from err
    except Exception as err:  # pympi raises a bare Exception for XML it cannot parse
        raise InputError(f"{path} is not an ELAN .eaf file ELAN could open ({err})") from err


def _videos(eaf: pympi.Elan.Eaf) -> list[dict]:
    """The linked videos (ELAN often links the audio it extracted too); all media if none
    says it is a video."""
    media = eaf.media_descriptors
    return [m for m in media if m.get("MIME_TYPE", "").startswith("video")] or media


def _url_stem(url: str) -> str:
    """The file name without extension of a media URL (`file:///C:/v/a.mp4`, also as older
    ELAN versions wrote it on Windows, `file:/C:\\v\\a.mp4`)."""
    return PureWindowsPath(unquote(url).removeprefix("file:").lstrip("/")).stem


def _media_stem(eaf: pympi.Elan.Eaf, path: Path) -> str:
    videos = _videos(eaf)
    if not videos:
        raise InputError(f"{path}: participant_id_from is media, but the file links no media")
    stem = _url_stem(videos[0].get("MEDIA_URL", ""))
    if not stem:
        raise InputError(f"{path}: media URL {videos[0].get('MEDIA_URL')!r} names no file")
    return stem


def _time_origin_ms(eaf: pympi.Elan.Eaf, path: Path) -> int:
    """The videos' time origin: added to annotation times, they become video times."""
    origins = {_url_stem(m.get("MEDIA_URL", "")): m.get("TIME_ORIGIN") or "0"
               for m in _videos(eaf)}
    try:
        values = {int(v) for v in origins.values()}
    except ValueError:
        raise InputError(f"{path}: media time origin(s) {origins} are not whole "
                         "milliseconds") from None
    if len(values) > 1:
        raise InputError(f"{path}: the linked videos have different time origins (ms: "
                         f"{origins}), so annotation times are not the times of one video; "
                         "link only the participant's video")
    return values.pop() if values else 0


def _association(eaf: pympi.Elan.Eaf, tier: str) -> bool:
    """Whether `tier` is a symbolic-association tier (its annotations take their parent's
    times, one each)."""
    lt = eaf.tiers[tier][2].get("LINGUISTIC_TYPE_REF", "")
    return eaf.linguistic_types.get(lt, {}).get("CONSTRAINTS") == ASSOCIATION


def _spans(eaf: pympi.Elan.Eaf, tier: str) -> dict[str, tuple[str, str, str]]:
    """annotation id -> (start slot, end slot, value): a reference annotation's slots are
    those of the time-aligned annotation it (through its parents) refers to."""
    aligned, refs = eaf.tiers[tier][0], eaf.tiers[tier][1]
    out = {aid: (ts1, ts2, value) for aid, (ts1, ts2, value, _) in aligned.items()}
    for aid, (ref, value, _, _) in refs.items():
        seen = {aid}
        while ref not in seen and ref in eaf.annotations:
            seen.add(ref)
            parent_aligned, parent_refs = eaf.tiers[eaf.annotations[ref]][:2]
            if ref in parent_aligned:
                out[aid] = (*parent_aligned[ref][:2], value)
                break
            ref = parent_refs[ref][0]
        else:
            out[aid] = ("", "", value)  # refers to nothing: reported as unaligned
    return out


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
    origin_ms = _time_origin_ms(eaf, path)
    missing = sorted(set(mapping.elan_tiers) - set(eaf.tiers))
    if missing:
        raise InputError(f"{path}: tier(s) {missing} named in elan_tiers are not in the file "
                         f"(its tiers: {sorted(eaf.tiers)})")
    by_value = mapping.elan_behaviour_from == "value"
    tiers = [t for t in mapping.elan_tiers or list(eaf.tiers) if eaf.tiers[t][0]
             or (eaf.tiers[t][1] and _association(eaf, t)
                 and (by_value or t in mapping.elan_tiers or t in mapping.behaviours))]
    unread = [t for t in mapping.elan_tiers if t not in tiers and eaf.tiers[t][1]]
    if unread:
        raise InputError(f"{path}: tier {unread[0]!r} named in elan_tiers is a symbolic "
                         "subdivision tier, whose annotations have no times; name the tier it "
                         "depends on")
    if not mapping.elan_tiers:  # the interviewer's tiers, by ELAN's PARTICIPANT attribute
        tiers = [t for t in tiers if _participant(eaf, t) not in mapping.other_subjects]
    if not by_value:  # a tier left out is never read: ELAN's subdivision tiers may be
        known = mapping.known(set(tiers), str(path))  # unaligned
        tiers = [t for t in tiers if t in known and mapping.behaviours[t]]
    people = {_participant(eaf, t) for t in tiers} - {""}
    if len(people) > 1 and not mapping.elan_tiers:
        raise InputError(f"{path}: the tiers read belong to several participants "
                         f"({sorted(people)}); name the participant's tiers in elan_tiers, "
                         "or the others in other_subjects, in the mapping file")
    # an unlabelled segment whose label is on a read association tier is not an event
    labelled = {ref for t in tiers for ref, *_ in eaf.tiers[t][1].values()}
    events = []
    for tier in tiers:
        for aid, (ts1, ts2, value) in _spans(eaf, tier).items():
            behaviour = value.strip() if by_value else tier
            where = f"{path}, tier {tier!r}, annotation {aid}"
            if not behaviour and aid in labelled:
                continue
            if not behaviour:
                raise InputError(f"{where}: empty annotation value, so no behaviour; label "
                                 "it in ELAN, or name the tiers holding the labels in "
                                 "elan_tiers")
            start, end = eaf.timeslots.get(ts1), eaf.timeslots.get(ts2)
            if start is None or end is None:
                raise InputError(f"{where}: {behaviour!r} has an unaligned time slot (ELAN "
                                 "places it by interpolation, which is not read); align it "
                                 "in ELAN")
            events.append(CodedEvent(pid, behaviour, (start + origin_ms) / 1000,
                                     (end + origin_ms) / 1000, where))
    known = mapping.known({e.behaviour for e in events}, str(path))
    ours = [e for e in events if e.behaviour in known and mapping.behaviours[e.behaviour]]
    check_events(ours, (durations or {}).get(pid))
    return to_table(ours, mapping.behaviours), [pid]


def _participant(eaf: pympi.Elan.Eaf, tier: str) -> str:
    return eaf.tiers[tier][2].get("PARTICIPANT", "").strip()


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
