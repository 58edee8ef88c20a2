"""MA-52 layout reader (also the synthetic clips): split lists, mp4 clips, OpenPose JSON.

`<root>/<split>_list_videos.txt` lists `<name>.mp4 <action_id>`; clips are `<root>/<split>/`
and pose is `<root>/pose/<split>/<name>/`. Lines that cannot be used (malformed, label not in
the map, missing clip, a clip listed again) come back as Problems instead of stopping the run.
"""

from __future__ import annotations

import re
from pathlib import Path

from microdualnet.data.labelmap import LabelMap, ma52_label_map, read_label_map
from microdualnet.data.records import ClipRecord, Problem
from pipeio.errors import InputError
from pipeio.textfile import read_utf8


def label_map_for(root: str | Path) -> LabelMap:
    """The folder's `label_map.tsv` if it has one (synthetic clips), else the MA-52 table."""
    path = Path(root) / "label_map.tsv"
    return read_label_map(path) if path.is_file() else ma52_label_map()


def _id_summary(ids: tuple[int, ...]) -> str:
    """`ids 0-51` for a run of ids, else the ids themselves (a label map's ids need not be
    consecutive: the synthetic clips use 9, 14, 24, 45, 52, and 10 is none of them)."""
    ids = tuple(sorted(ids))
    if ids == tuple(range(ids[0], ids[-1] + 1)):
        return f"ids {ids[0]}-{ids[-1]}"
    shown = ", ".join(map(str, ids[:20])) + (f", ... ({len(ids) - 20} more)" if len(ids) > 20 else "")
    return f"ids {shown}"


def read_split(root: str | Path, split: str, labels: LabelMap) -> tuple[list[ClipRecord],
                                                                        list[Problem]]:
    """Records of one split and the problems found while listing it."""
    root = Path(root)
    listing = root / f"{split}_list_videos.txt"
    if not listing.is_file():  # name the splits there are: 'valid' for 'val' is a common slip
        found = sorted(p.name.removesuffix("_list_videos.txt")
                       for p in root.glob("*_list_videos.txt"))
        there = f"its splits: {', '.join(found)}" if found else "none is there"
        raise InputError(f"MA-52 split list {listing} does not exist ({there})")
    records: list[ClipRecord] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}  # clip name -> line that listed it first
    text = read_utf8(listing, "MA-52 split list", advice="save the list as UTF-8")
    known = _id_summary(labels.label_ids)
    if labels == ma52_label_map() and not (root / "label_map.tsv").is_file():
        # a folder that lost its label_map.tsv falls back to MA-52's table: say so
        known += f": the MA-52 class table, as {root} has no label_map.tsv"
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{listing}:{line_no}"
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"-?[0-9]+", parts[1]):
            problems.append(Problem(where, f"expected '<name>.mp4 <action_id>', got {line!r}"))
            continue
        index = labels.index_of(int(parts[1]))
        if index is None:
            problems.append(Problem(where, f"label {parts[1]} is not in the label map ({known})"))
            continue
        if parts[0] in first_line:  # counted twice in training and scoring, or two labels
            problems.append(Problem(where, f"clip {parts[0]} is listed again (first on line "
                                           f"{first_line[parts[0]]})"))
            continue
        first_line[parts[0]] = line_no
        video = root / split / parts[0]
        if not video.is_file():
            problems.append(Problem(str(video), "clip listed but missing"))
            continue
        stem = Path(parts[0]).stem
        records.append(ClipRecord(name=stem, video=video, label=index,
                                  pose_dir=root / "pose" / split / stem, pose_stem=stem))
    return records, problems
