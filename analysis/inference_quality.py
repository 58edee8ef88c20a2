"""The inference warnings of every participant, in one small table (`aggregate` writes it).

`infer` records two warnings in each windows file's metadata (`pipeio.windows`): the video is
slower than the model samples (`frame_rate_warning`, with `repeated_frame_share`), and
someone besides the participant is in a full-view model's input (`others_in_view_warning`,
with `others_in_view_share`). The metadata sits in files nobody opens; this table brings the
warnings to report.html and the run's last lines without reading every windows file again.
It holds derived numbers and the warnings' text only: no path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analysis.inputs import read_tsv

SHARES = ("repeated_frame_share", "others_in_view_share")
WARNINGS = ("frame_rate_warning", "others_in_view_warning")
COLUMNS = ["participant_id", "repeated_frame_share", "frame_rate_warning",
           "others_in_view_share", "others_in_view_warning"]


def quality_table(metadata: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per participant (participant -> their windows file's metadata), in
    participant order; a fact the file does not record (an older infer, a participant
    without windows) is an empty cell."""
    rows = [{"participant_id": pid, **{c: meta.get(c) for c in COLUMNS[1:]}}
            for pid, meta in sorted(metadata.items())]
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in SHARES:
        table[column] = pd.to_numeric(table[column])
    return table


def read_inference_quality(path: str | Path) -> pd.DataFrame:
    """The table as `aggregate` wrote it, checked for its columns (an empty cell: NaN)."""
    return read_tsv(path, tuple(COLUMNS), "inference-quality table", text_columns=WARNINGS)


def warned_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the participants with either warning."""
    return table[table[list(WARNINGS)].notna().any(axis=1)]


def warned(table: pd.DataFrame, column: str) -> list[str]:
    """The participants whose `column` (one of WARNINGS) holds a warning."""
    return table.loc[table[column].notna(), "participant_id"].tolist()
