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

import numpy as np
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
# Metadata every windows file of one analysis must share (where recorded).
SHARED_SETTINGS = ("model_sha256", "window_s", "hop_s", "min_pose_fraction", "model_fps",
                   "frames_per_window", "view")


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
    meta = _metadata(arrow.schema, path)
    if meta is None:
        raise InputError(f"windows file {path} lacks its {META_KEY.decode()} metadata")
    table = arrow.to_pandas()
    need = ["start_s", "end_s", "valid"] + [PROB_PREFIX + c for c in meta.get("class_names", [])]
    missing = [c for c in need if c not in table.columns]
    if missing or not meta.get("class_names"):
        raise InputError(f"windows file {path} lacks column(s) {missing or 'class_names'}")
    _check_values(table, [PROB_PREFIX + c for c in meta["class_names"]], path)
    return table, meta


def _metadata(schema: pa.Schema, path: Path) -> dict[str, Any] | None:
    """The contract's metadata (None when absent)."""
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"windows file {path}: its {META_KEY.decode()} metadata is not "
                         f"JSON ({err})") from None
    if not isinstance(meta, dict):
        raise InputError(f"windows file {path}: its {META_KEY.decode()} metadata is not a "
                         "JSON object")
    return meta


def _check_values(table: pd.DataFrame, probs: list[str], path: Path) -> None:
    """Times are finite numbers and a valid window's probabilities lie in 0-1: one missing
    probability would otherwise silently drop time from the participant's valid time."""
    def first_bad(ok: np.ndarray) -> int | None:
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if len(bad) else None

    for col in ("start_s", "end_s", *(c for c in VIEW_COLUMNS if c in table.columns)):
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(np.float64)
        row = first_bad(np.isfinite(values))
        if row is not None:
            raise InputError(f"windows file {path}: window {row} has {col} "
                             f"{table[col].iloc[row]}, expected a finite number of seconds")
    if table.empty:  # an exclusion record
        return
    if not pd.api.types.is_bool_dtype(table["valid"]):
        raise InputError(f"windows file {path}: column valid is {table['valid'].dtype}, "
                         "expected true/false")
    valid = table.loc[table["valid"], probs]
    values = valid.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(values) & (values >= 0) & (values <= 1)
    row = first_bad(ok.all(axis=1))
    if row is not None:
        col = probs[int(np.flatnonzero(~ok[row])[0])]
        raise InputError(f"windows file {path}: valid window {valid.index[row]} has {col} "
                         f"{valid[col].iloc[row]}, expected a probability 0-1 (a valid "
                         "window is classified: run its infer job again)")


def windows_metadata(path: Path) -> dict[str, Any]:
    """The contract's metadata of a file without reading its table ({} when absent)."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"windows file {path} is not readable Parquet ({err})") from err
    return _metadata(schema, path) or {}


def check_made_by(files: list[Path], model_dir: str | Path) -> None:
    """Every windows file carries the digest of the model in `model_dir`: results made by an
    earlier or another model are refused, naming the first such file."""
    expected = model_digest(model_dir)
    for path in files:
        made_by = windows_metadata(Path(path)).get("model_sha256")
        if made_by != expected:
            by = f"model {made_by[:12]}" if made_by else "a model it does not record"
            raise InputError(f"windows file {path} was made by {by}, not by the model in "
                             f"{model_dir} ({expected[:12]}); run its infer job again")


def check_same_settings(files: list[Path]) -> None:
    """All files come from one model, sampling and window settings: percent times made
    otherwise are not comparable across participants. A setting a file does not record (an
    exclusion record has no video, so no model rate or view) is not compared."""
    first: dict[str, tuple[Any, Path]] = {}
    for path in map(Path, files):
        meta = windows_metadata(path)
        for key in SHARED_SETTINGS:
            value = meta.get(key)
            if value is None:
                continue
            seen, where = first.setdefault(key, (value, path))
            if value != seen:
                raise InputError(
                    f"windows file {path} has {key} {value!r} but windows file {where} has "
                    f"{seen!r}: one analysis needs one model and one set of window settings "
                    "(run the infer jobs again with one)")
