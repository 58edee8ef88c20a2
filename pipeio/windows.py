"""The windows Parquet contract: one row per window of one participant's video.

Columns: `start_s`, `end_s` (the window), `view_start_s`, `view_end_s` (the time its sampled
frames show, each frame standing for one sampling stride: `WindowPlan.view_s`; absent from
files written before they were added), `valid` (enough pose to classify), `pose_fraction`
(share of the sampled frames with a person), `prob_<class name>` for every class (NaN where not
valid: never guessed), `route_st_<entity>` / `route_ts_<entity>` (mean routing weights of
the ST and TS paths over the window's frames). The file's key-value metadata
`microdualnet.windows` (JSON) holds the class and entity names in model order, the
participant, the video's length and frame rate, the window settings and, for a participant
with no window at all, the exclusion reason.

It lives in `pipeio` because both sides speak it: inference (torch) writes it and
`analysis.aggregate` (no torch) reads it.
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
from pipeio.modelfiles import model_digest

META_KEY = b"microdualnet.windows"
PROB_PREFIX = "prob_"
VIEW_COLUMNS = ("view_start_s", "view_end_s")
ROUTE_PREFIXES = ("route_st_", "route_ts_")


def write_windows(path: str | Path, table: pd.DataFrame, meta: dict[str, Any]) -> Path:
    """Write the table with its metadata atomically."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    merged = {**(arrow.schema.metadata or {}), META_KEY: json.dumps(meta).encode()}
    with atomic_path(path) as tmp:
        pq.write_table(arrow.replace_schema_metadata(merged), tmp)
    return Path(path)


def read_windows(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A windows Parquet file and its metadata, checked for the contract's columns."""
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
    meta = json.loads(raw)
    table = arrow.to_pandas()
    need = ["start_s", "end_s", "valid"] + [PROB_PREFIX + c for c in meta.get("class_names", [])]
    missing = [c for c in need if c not in table.columns]
    if missing or not meta.get("class_names"):
        raise InputError(f"windows file {path} lacks column(s) {missing or 'class_names'}")
    return table, meta


def check_made_by(files: list[Path], model_dir: str | Path) -> None:
    """Every windows file carries the digest of the model in `model_dir`: results made by an
    earlier or another model are refused, naming the first such file."""
    expected = model_digest(model_dir)
    for path in files:
        try:
            raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
        except (OSError, pa.ArrowException) as err:
            raise InputError(f"windows file {path} is not readable Parquet ({err})") from err
        made_by = json.loads(raw).get("model_sha256") if raw else None
        if made_by != expected:
            by = f"model {made_by[:12]}" if made_by else "a model it does not record"
            raise InputError(f"windows file {path} was made by {by}, not by the model in "
                             f"{model_dir} ({expected[:12]}); run its infer job again")
