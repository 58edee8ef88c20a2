"""iMiGUE reader: labelled segments of long interview videos.

Layout: `<root>/<split>.csv` (the annotation CSV: `video_id,label_id,start_frame,end_frame,...`),
`<root>/videos/<video_id>.mp4`, `<root>/pose/<video_id>/<video_id>_<12-digit frame>_keypoints.json`.
Frame numbers are those of the long video; `end_frame` is inclusive as in the release.
"""

from __future__ import annotations

import csv
from pathlib import Path

from microdualnet.data.labelmap import LabelMap
from microdualnet.data.records import ClipRecord, Problem
from pipeio.errors import InputError

REQUIRED = ("video_id", "label_id", "start_frame", "end_frame")


def read_split(root: str | Path, split: str, labels: LabelMap,
               video_ext: str = ".mp4") -> tuple[list[ClipRecord], list[Problem]]:
    """Records of one split's annotation CSV and the rows that cannot be used."""
    root = Path(root)
    table = root / f"{split}.csv"
    try:
        with open(table, newline="", encoding="utf-8-sig") as fh:  # Excel writes a BOM
            reader = csv.DictReader(fh)
            # the file's own line numbers: the reader skips blank lines without counting them
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:  # csv: e.g. a huge field
        raise InputError(f"iMiGUE annotation file {table}: {err}") from err
    if not rows:
        raise InputError(f"{table}: no annotation rows")
    missing = [c for c in REQUIRED if c not in rows[0][1]]
    if missing:
        raise InputError(f"{table}: missing column {missing[0]!r} (needs {', '.join(REQUIRED)})")
    records: list[ClipRecord] = []
    problems: list[Problem] = []
    first_line: dict[tuple[str, int, int], int] = {}  # segment -> line that listed it first
    for line, row in rows:
        where = f"{table}:{line}"
        try:
            label_id, start, end = (int(row[c]) for c in ("label_id", "start_frame", "end_frame"))
        except (TypeError, ValueError):
            problems.append(Problem(where, "label_id, start_frame and end_frame must be integers"))
            continue
        index = labels.index_of(label_id)
        if index is None:
            problems.append(Problem(where, f"label {label_id} is not in the label map"))
            continue
        if end < start or start < 0:
            problems.append(Problem(where, f"bad segment: frames {start}-{end}"))
            continue
        vid = row["video_id"].strip()
        if (vid, start, end) in first_line:  # counted twice in training and scoring
            problems.append(Problem(where, f"segment {vid} frames {start}-{end} is listed "
                                           f"again (first on line {first_line[vid, start, end]})"))
            continue
        first_line[vid, start, end] = line
        video = root / "videos" / f"{vid}{video_ext}"
        if not video.is_file():  # one problem per segment: each is a clip the run loses
            problems.append(Problem(where, f"{video}: video listed but missing"))
            continue
        records.append(ClipRecord(name=f"{vid}_{start}", video=video, label=index,
                                  pose_dir=root / "pose" / vid, pose_stem=vid,
                                  start_frame=start, end_frame=end + 1))
    return records, problems
