"""The normalised events table every coding reader returns, and the checks all formats share.

One row per coded event: `participant_id`, `action` (a model class name), `start_s`, `end_s`
(seconds from the start of the video, `start_s < end_s`). Readers name where an event came
from (`where`: file and line, or file, tier and annotation) so a check can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeio import InputError

EVENT_COLUMNS = ["participant_id", "action", "start_s", "end_s"]

# A coding may end this far past the video's end (tools round times to ms or to frames);
# further is a coding of another, longer video.
END_TOLERANCE_S = 0.1


@dataclass(frozen=True)
class CodedEvent:
    """One interval of one coded behaviour, with where it was read (for messages)."""

    participant_id: str
    behaviour: str
    start_s: float
    end_s: float
    where: str
    point: bool = False  # a BORIS POINT event: an instant, given a length by the mapping


def check_events(events: list[CodedEvent], duration_s: float | None) -> None:
    """Refuse events past the video's end and overlapping events of one behaviour.

    Overlap is checked per participant and coded behaviour (two behaviours may overlap: a
    coder may see nodding while the feet are crossed).
    """
    for ev in events:
        if ev.end_s <= ev.start_s:
            raise InputError(f"{ev.where}: {ev.behaviour!r} ends at {ev.end_s:.3f} s, not "
                             f"after its start at {ev.start_s:.3f} s")
        if ev.start_s < 0:
            raise InputError(f"{ev.where}: {ev.behaviour!r} starts before the video "
                             f"({ev.start_s:.3f} s)")
        if duration_s is not None and ev.end_s > duration_s + END_TOLERANCE_S:
            raise InputError(f"{ev.where}: {ev.behaviour!r} ends at {ev.end_s:.3f} s, after "
                             f"the end of the {duration_s:.3f} s video (a coding of another "
                             "video?)")
    keyed = sorted(events, key=lambda e: (e.participant_id, e.behaviour, e.start_s))
    for a, b in zip(keyed, keyed[1:], strict=False):
        if (a.participant_id, a.behaviour) == (b.participant_id, b.behaviour) \
                and b.start_s < a.end_s:
            raise InputError(f"{b.where}: {b.behaviour!r} from {b.start_s:.3f} s overlaps "
                             f"the one at {a.where} ({a.start_s:.3f}-{a.end_s:.3f} s); one "
                             "behaviour is either going on or not")


def to_table(events: list[CodedEvent], actions: dict[str, str | None]) -> pd.DataFrame:
    """The normalised table: behaviours renamed to their model class (None: left out, as the
    mapping says), events of one class that touch or overlap merged into one, rows in time
    order per participant."""
    rows = sorted((e.participant_id, actions[e.behaviour], e.start_s, e.end_s)
                  for e in events if actions[e.behaviour] is not None)
    merged: list[list] = []
    for pid, action, start, end in rows:
        last = merged[-1] if merged else None
        if last is not None and last[:2] == [pid, action] and start <= last[3]:
            last[3] = max(last[3], end)  # two coded behaviours mapped onto one class
        else:
            merged.append([pid, action, start, end])
    merged.sort(key=lambda r: (r[0], r[2], r[1]))  # participant, then time order
    return pd.DataFrame(merged, columns=EVENT_COLUMNS).astype(
        {"participant_id": str, "action": str, "start_s": float, "end_s": float})
