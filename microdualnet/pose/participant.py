"""Which person is the participant, when the recording shows several (the interviewer too).

A study says where the participant sits in its participant sheet: `participant_side`
(`left` or `right`: the half of the frame, as the camera sees it) or `participant_box`
(`x0,y0,x1,y1`, fractions of the frame's width and height). Without either, the stated
default applies: the participant is the person nearest the frame's centre.

Both pose backends follow that person through the video (`follow`): where people first
appear, the candidate nearest the anchor (the side's centre line, the box's centre, or the
frame's centre) is taken; then in each frame the candidate nearest to where the participant
was last seen, as long as it is within `MAX_JUMP` body sizes. With a hint, only people whose
centre lies in the hinted region (the side's half, the box) are candidates at all, so the
interviewer on the other side never takes the track over. A frame where no candidate is
that near counts as lost (the participant was not detected there, or moved away); with a
hint the candidate nearest the anchor is then taken at once;
with the default rule only after `REACQUIRE_AFTER` lost frames in a row, so a frame where
the detector missed the participant does not hand the track to whoever else is in view.
QC counts the frames with several people, lost frames, and frames where another person was
nearer the anchor than the one followed, and warns when several people were in view and the
sheet said nothing (the default rule is a guess; on synthetic two-person recordings it
followed the interviewer for 3 of 36 to 2 of 3 participants: docs/benchmarks.md), and
warns (`track_warning`) when the track may have passed to someone else. The
workflow's pose-quality table (`analysis/pose_quality.py`) brings that warning to the report.

Video-call recordings: in gallery view (a tile per person) a side or box that holds the
participant's tile works as for a camera. When the call switches to speaker view, or a tile
changes size, every person jumps at once: the participant is lost, and the candidate nearest
the anchor, often the interviewer now large in the middle, is taken. Nothing in the joints
says which person the child's new (small, corner) tile holds, so following does not guess;
QC counts the times the track was taken afresh by someone `SIZE_JUMP` times larger or
smaller than the person last followed (`track_size_jumps`), which a person does not become
between two sightings, and warns. A tile swap at the same size is not seen.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microdualnet.body25 import NUM_JOINTS
from pipeio.errors import InputError
from pipeio.textfile import read_utf8

SEEN = 0.1  # joints below this confidence do not count for matching
MAX_JUMP = 0.5  # in units of the followed person's box diagonal, between processed frames
REACQUIRE_AFTER = 10  # lost frames in a row before the default rule looks afresh
SIZE_JUMP = 1.5  # size ratio between the person last followed and the one taken afresh
SEVERAL_PEOPLE_WARN = 0.01  # share of frames with others in view that earns a QC warning
SIDES = ("left", "right")


@dataclass(frozen=True)
class ParticipantHint:
    """Where the participant sits: a side, a box (fractions of the frame), or neither."""

    side: str | None = None
    box: tuple[float, float, float, float] | None = None

    @property
    def rule(self) -> str:
        if self.side is not None:
            return f"sheet: participant_side {self.side}"
        if self.box is not None:
            return "sheet: participant_box " + ",".join(f"{v:g}" for v in self.box)
        return "default: the person nearest the frame centre"

    def anchor(self, width: int, height: int) -> np.ndarray:
        """The point (px) the participant is looked for around."""
        if self.side is not None:
            return np.array([width * (0.25 if self.side == "left" else 0.75), height / 2])
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            return np.array([width * (x0 + x1) / 2, height * (y0 + y1) / 2])
        return np.array([width / 2, height / 2])

    def region(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Where the participant may be (px, x0 y0 x1 y1): the side's half, the box, or the
        frame. A side's half reaches a tenth of the width past the middle."""
        if self.side == "left":
            return 0, 0, int(round(0.6 * width)), height
        if self.side == "right":
            return int(round(0.4 * width)), 0, width, height
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            return (int(math.floor(x0 * width)), int(math.floor(y0 * height)),
                    int(math.ceil(x1 * width)), int(math.ceil(y1 * height)))
        return 0, 0, width, height

    def to_json(self) -> dict[str, Any]:
        return {"side": self.side, "box": list(self.box) if self.box else None,
                "rule": self.rule}


NO_HINT = ParticipantHint()  # the sheet says nothing: the default rule


def parse_hint(side: Any = None, box: Any = None, where: str = "") -> ParticipantHint:
    """The hint from a sheet's cells or command-line values; empty cells mean none. A bad
    value is an `InputError` naming `where` (file and line, or the option)."""
    prefix = f"{where}: " if where else ""
    side = None if _empty(side) else str(side).strip()
    box_text = None if _empty(box) else str(box).strip()
    if side is not None and side not in SIDES:
        raise InputError(f"{prefix}participant_side {side!r} must be 'left' or 'right'")
    if side is not None and box_text is not None:
        raise InputError(f"{prefix}give participant_side or participant_box, not both")
    parsed = None
    if box_text is not None:
        try:
            parsed = tuple(float(v) for v in box_text.split(","))
        except ValueError:
            parsed = ()
        if len(parsed) != 4 or not all(math.isfinite(v) for v in parsed):
            raise InputError(f"{prefix}participant_box {box_text!r} must be four numbers "
                             "x0,y0,x1,y1 (fractions of the frame's width and height)")
        x0, y0, x1, y1 = parsed
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise InputError(f"{prefix}participant_box {box_text!r} lies outside the frame: "
                             "needs 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return ParticipantHint(side, parsed)


def hint_from_sheet(sheet: str | Path, participant_id: str) -> ParticipantHint:
    """The hint in a participant sheet's (TSV) row of `participant_id`: its
    `participant_side` / `participant_box` cells, none where the columns are absent."""
    sheet = Path(sheet)
    text = read_utf8(sheet, "participant sheet")  # as the workflow reads it (BOM dropped)
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t"))
    found = [(line, row) for line, row in enumerate(rows, start=2)
             if row.get("participant_id") == participant_id]
    if not found:
        raise InputError(f"participant sheet {sheet} has no participant_id {participant_id!r}")
    if len(found) > 1:  # which row holds the participant's place is not ours to guess
        lines = ", ".join(str(line) for line, _ in found)
        raise InputError(f"participant sheet {sheet} has participant_id {participant_id!r} "
                         f"on more than one line (lines {lines}); keep one row per participant")
    line, row = found[0]
    return parse_hint(row.get("participant_side"), row.get("participant_box"),
                      f"{sheet}: line {line}")


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


@dataclass
class FollowStats:
    """What following the participant had to do, for the QC summary."""

    rule: str
    frames_several_people: int = 0
    frames_track_lost: int = 0  # candidates, but none near where the participant was
    frames_other_nearer_anchor: int = 0  # another person nearer the anchor than the one taken
    # another person who could be the participant (in the hint's region) nearer its anchor
    frames_other_eligible_nearer_anchor: int = 0
    track_restarts: int = 0  # times the track was lost and taken afresh from the anchor
    track_size_jumps: int = 0  # restarts onto someone SIZE_JUMP times larger or smaller
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"participant_rule": self.rule,
                "frames_several_people": self.frames_several_people,
                "frames_track_lost": self.frames_track_lost,
                "frames_other_nearer_anchor": self.frames_other_nearer_anchor,
                "frames_other_eligible_nearer_anchor": self.frames_other_eligible_nearer_anchor,
                "track_restarts": self.track_restarts,
                "track_size_jumps": self.track_size_jumps, **self.extra}


def several_people_warning(rule: str, several: int, frames: int) -> str | None:
    """The QC warning for a default-rule participant among others in view, or None."""
    if not rule.startswith("default") or frames == 0 or several <= SEVERAL_PEOPLE_WARN * frames:
        return None
    return (f"several people in view in {several} of {frames} frames and the sheet gives no "
            "participant_side or participant_box: the person nearest the centre was followed, "
            "which may be the interviewer")


def track_warning(stats: FollowStats, frames: int) -> str | None:
    """The QC warning that the track may have passed to someone else, or None.

    Why: following keeps whoever it last took. With a hint, a frame where the detector
    missed the participant while the interviewer leaned into the hinted region (or a parent
    sat in it) hands the track to them at once, and continuity then keeps them while the
    participant, back in view, sits nearer the hint's anchor. With the default rule, a
    participant who left while someone else stayed in view is replaced by that person after
    `REACQUIRE_AFTER` frames, which the several-people warning misses when the two were never
    in view together.
    A video call switching from gallery to speaker view moves everyone at once; the track
    is then taken afresh by someone of another size (`track_size_jumps`), hint or not.
    """
    if frames == 0:
        return None
    parts = []
    nearer = stats.frames_other_eligible_nearer_anchor
    if not stats.rule.startswith("default") and nearer > SEVERAL_PEOPLE_WARN * frames:
        parts.append(f"in {nearer} of {frames} frames another person inside the hinted region "
                     "was nearer its anchor than the person followed: the track may have "
                     "passed to the interviewer or a parent (or the participant sits off the "
                     "hint)")
    if stats.rule.startswith("default") and stats.track_restarts:
        parts.append(f"the participant was lost and the person nearest the centre taken afresh "
                     f"{stats.track_restarts} time(s): while the participant was away the "
                     "track may have passed to someone else (the interviewer)")
    if stats.track_size_jumps:
        parts.append(f"the track was taken afresh {stats.track_size_jumps} time(s) by someone "
                     f"at least {SIZE_JUMP:g} times larger or smaller than the person last "
                     "followed: a video call's layout switch (gallery to speaker view, a tile "
                     "resized) or another person; from there the track may follow the "
                     "interviewer (record the call in gallery view only)")
    return "; ".join(parts) or None


def seen_extent(person: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The seen joints' box as its corners (x0, y0) and (x1, y1), or None with fewer than 2
    seen."""
    seen = person[person[:, 2] > SEEN, :2]
    if len(seen) < 2:
        return None
    return seen.min(0), seen.max(0)


def box(person: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Centre and diagonal of the seen joints' box, or None with fewer than 2 seen."""
    extent = seen_extent(person)
    if extent is None:
        return None
    lo, hi = extent
    return (lo + hi) / 2, float(max(np.linalg.norm(hi - lo), 1.0))


def pad_boxes(rows: list[list[tuple[float, float, float, float]]]) -> np.ndarray:
    """`[T, M, 4]` float32 of each row's boxes (x0, y0, x1, y1), NaN where a row has fewer."""
    out = np.full((len(rows), max(map(len, rows), default=0), 4), np.nan, np.float32)
    for t, row in enumerate(rows):
        if row:
            out[t, :len(row)] = row
    return out


def other_boxes(people: list[np.ndarray], track: np.ndarray) -> np.ndarray:
    """The boxes (`pad_boxes`) of the seen joints of everyone but the followed person (the
    row of `track`), in each frame's `[P, 25, 3]` people: who else a full-view model sees."""
    rows = []
    for frame_people, followed in zip(people, track, strict=True):
        row = []
        for person in frame_people:
            extent = seen_extent(person)
            if extent is not None and not np.array_equal(person, followed):
                row.append((*extent[0], *extent[1]))
        rows.append(row)
    return pad_boxes(rows)


def size_ratio(ref: np.ndarray, cand: np.ndarray) -> float:
    """How many times larger or smaller (>= 1) `cand` is than `ref`: the diagonals of the
    boxes of the joints both see (3 or more), so a table hiding the legs in one sighting and
    not the other changes nothing; else of each one's seen joints (inf when not placed)."""
    both = (ref[:, 2] > SEEN) & (cand[:, 2] > SEEN)
    if both.sum() >= 3:
        ref, cand = ref[both], cand[both]
    ref_box, cand_box = box(ref), box(cand)
    if ref_box is None or cand_box is None:
        return np.inf
    return max(ref_box[1], cand_box[1]) / min(ref_box[1], cand_box[1])


def _distance(ref: np.ndarray, cand: np.ndarray) -> float:
    """Mean joint distance over joints both see (box centres if fewer), in reference sizes."""
    ref_box, cand_box = box(ref), box(cand)
    if ref_box is None or cand_box is None:
        return np.inf
    both = (ref[:, 2] > SEEN) & (cand[:, 2] > SEEN)
    if both.sum() >= 2:
        d = float(np.linalg.norm(ref[both, :2] - cand[both, :2], axis=1).mean())
    else:
        d = float(np.linalg.norm(ref_box[0] - cand_box[0]))
    return d / ref_box[1]


def _inside(centre: np.ndarray, region: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = region
    return bool(x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1)


def follow(people: list[np.ndarray], hint: ParticipantHint, width: int,
           height: int) -> tuple[np.ndarray, FollowStats]:
    """One `[T, 25, 3]` track from each frame's `[P, 25, 3]` people (zeros where the
    participant is not found), and what it took."""
    out = np.zeros((len(people), NUM_JOINTS, 3), np.float32)
    stats = FollowStats(hint.rule)
    anchor, region = hint.anchor(width, height), hint.region(width, height)
    limited = region != (0, 0, width, height)
    ref: np.ndarray | None = None
    lost_run = 0
    for t, frame_people in enumerate(people):
        cands = [(p, c) for p in frame_people if (c := box(p)) is not None]
        if len(cands) > 1:
            stats.frames_several_people += 1
        if not cands:
            continue
        to_anchor = [float(np.linalg.norm(c[0] - anchor)) for _, c in cands]
        # With a hint nobody outside its region can be the participant, however near.
        eligible = [i for i, (_, c) in enumerate(cands) if not limited or _inside(c[0], region)]
        pick = None
        if ref is not None:
            dists = {i: _distance(ref, cands[i][0]) for i in eligible}
            best = min(dists, key=dists.get) if dists else None
            if best is not None and dists[best] <= MAX_JUMP:
                pick, lost_run = best, 0
            else:
                stats.frames_track_lost += 1
                lost_run += 1
        if pick is None:  # first sight, or lost: the candidate nearest the anchor
            if not eligible or (ref is not None and not limited
                                and lost_run <= REACQUIRE_AFTER):
                continue
            pick, lost_run = min(eligible, key=lambda i: to_anchor[i]), 0
            if ref is not None:
                stats.track_restarts += 1
                if size_ratio(ref, cands[pick][0]) >= SIZE_JUMP:
                    stats.track_size_jumps += 1
        if min(to_anchor) < to_anchor[pick]:
            stats.frames_other_nearer_anchor += 1
        if min(to_anchor[i] for i in eligible) < to_anchor[pick]:
            stats.frames_other_eligible_nearer_anchor += 1
        out[t] = ref = cands[pick][0]
    return out, stats
