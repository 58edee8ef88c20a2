"""The windows Parquet contract: one row per window of one participant's video.

Columns: `start_s`, `end_s`, `valid` (enough pose to classify), `pose_fraction` (share of
the sampled frames with a person), `prob_<class name>` for every class (NaN where not
valid: never guessed), `route_st_<entity>` / `route_ts_<entity>` (mean routing weights of
the ST and TS paths over the window's frames). The file's key-value metadata
`microdualnet.windows` (JSON) holds the class and entity names in model order, the
participant, the video's length and frame rate, the window settings and, for a participant
with no window at all, the exclusion reason. `analysis.aggregate` reads these names without
importing this package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeio.atomic import atomic_path
from pipeio.errors import InputError

META_KEY = b"microdualnet.windows"
PROB_PREFIX = "prob_"
ROUTE_PREFIXES = ("route_st_", "route_ts_")


def write_windows(path: str | Path, table: pd.DataFrame, meta: dict[str, Any]) -> Path:
    """Write the table with its metadata atomically."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    merged = {**(arrow.schema.metadata or {}), META_KEY: json.dumps(meta).encode()}
    with atomic_path(path) as tmp:
        pq.write_table(arrow.replace_schema_metadata(merged), tmp)
    return Path(path)


def read_windows(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"windows file {path} does not exist")
    try:
        arrow = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"windows file {path} is not readable Parquet ({err})") from err
    raw = (arrow.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise InputError(f"windows file {path} lacks its {META_KEY.decode()} metadata")
    return arrow.to_pandas(), json.loads(raw)
