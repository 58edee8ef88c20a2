"""The windows Parquet contract: one row per window of one participant's video.

Times are the video's as a coder's player shows it (`microdualnet.video`): frame i of the
video is at `first_frame_s + i / fps` (metadata; 0 where not recorded), so windows, the
model's review files and human codings share one clock.

Columns: `start_s`, `end_s` (the window), `view_start_s`, `view_end_s` (the time its sampled
frames show, each frame standing for one sampling stride: `WindowPlan.view_s`; absent from
files written before they were added), `valid` (enough pose to classify), `pose_fraction`
(share of the sampled frames with a person), `prob_<class name>` for every class (the
model's softmax, summing to 1; NaN where not valid: never guessed), `route_st_<entity>` /
`route_ts_<entity>` (mean routing weights of the ST and TS paths over the window's frames).
The file's key-value metadata `microdualnet.windows` (JSON) holds the class and entity
names in model order, the participant, the video's length, frame rate and first frame's
time, the window settings, how many of the sampled frames repeat the one before them in
their window and why (`repeated_frame_share`, `frame_rate_warning`: a video slower than the
model samples), how often someone else is inside a full-view model's input
(`others_in_view_share`, `others_in_view_warning`) and, for a participant with no window at
all, the exclusion reason.

It lives in `pipeio` because both sides speak it: inference (torch) writes it and
`analysis.aggregate` (no torch) reads it.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeio.atomic import atomic_path
from pipeio.errors import InputError
from pipeio.modelfiles import model_digest
from pipeio.values import is_finite_number

META_KEY = b"microdualnet.windows"
PROB_PREFIX = "prob_"
VIEW_COLUMNS = ("view_start_s", "view_end_s")
ROUTE_PREFIXES = ("route_st_", "route_ts_")
#: How far past the recorded end of the video a window may start (a length rounded by another
#: tool); one starting later means a length in other units or of another video.
LATE_S = 1.0
#: How far a valid window's probabilities may sum from 1 (float32 softmax over the classes,
#: stored as float32: a few 1e-7).
SUM_TOL = 1e-3
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
        raise _not_parquet(path, err) from err
    meta = _metadata(arrow.schema, path)
    if meta is None:
        raise InputError(f"windows file {path} lacks its {META_KEY.decode()} metadata")
    # pandas' own metadata may be damaged: JSON of the wrong kind, cut short, nested too deep.
    try:
        table = arrow.to_pandas()
    except (TypeError, ValueError, RecursionError, pa.ArrowException) as err:
        raise _not_parquet(path, err) from None
    names = meta.get("class_names")
    if names and not (isinstance(names, list) and all(isinstance(c, str) for c in names)):
        raise InputError(f"windows file {path}: its metadata has class_names "
                         f"{reprlib.repr(names)}, expected a list of class names")
    need = ["start_s", "end_s", "valid"] + [PROB_PREFIX + c for c in names or []]
    missing = [c for c in need if c not in table.columns]
    if missing or not names:
        raise InputError(f"windows file {path} lacks column(s) {missing or 'class_names'}")
    twice = sorted({c for c in meta["class_names"] if meta["class_names"].count(c) > 1})
    if twice:  # one prob_ column read for two classes: the second class's time is lost
        raise InputError(f"windows file {path}: its class_names {meta['class_names']} name "
                         f"{twice} twice, expected each class once")
    _check_values(table, [PROB_PREFIX + c for c in meta["class_names"]], path)
    _check_times(table, meta, path)
    return table, meta


def _not_parquet(path: Path, err: Exception) -> InputError:
    """The error for a file Arrow cannot read as a windows table, its message on one line (a
    damaged footer's ends in a line break)."""
    return InputError(f"windows file {path} is not readable Parquet ({' '.join(str(err).split())})")


def _metadata(schema: pa.Schema, path: Path) -> dict[str, Any] | None:
    """The contract's metadata (None when absent)."""
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise InputError(f"windows file {path}: its {META_KEY.decode()} metadata is not "
                         f"JSON ({err})") from None
    if not isinstance(meta, dict):
        raise InputError(f"windows file {path}: its {META_KEY.decode()} metadata is not a "
                         "JSON object")
    return meta


def _check_values(table: pd.DataFrame, probs: list[str], path: Path) -> None:
    """Times are finite numbers and a valid window's probabilities lie in 0-1 and sum to 1:
    one missing probability would otherwise silently drop time from the participant's valid
    time, and scores that are not a softmax would be read against the softmax's threshold."""
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
    row = first_bad(table["valid"].notna().to_numpy(bool))
    if row is not None:  # a nullable boolean column (pandas' `boolean`) with a gap
        raise InputError(f"windows file {path}: window {row} has valid missing, expected "
                         "true/false")
    valid = table.loc[table["valid"], probs]
    values = valid.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(values) & (values >= 0) & (values <= 1)
    row = first_bad(ok.all(axis=1))
    if row is not None:
        col = probs[int(np.flatnonzero(~ok[row])[0])]
        raise InputError(f"windows file {path}: valid window {valid.index[row]} has {col} "
                         f"{valid[col].iloc[row]}, expected a probability 0-1 (a valid "
                         "window is classified: run its infer job again)")
    total = values.sum(axis=1)
    row = first_bad(np.abs(total - 1) <= SUM_TOL)
    if row is not None:
        raise InputError(f"windows file {path}: valid window {valid.index[row]}'s "
                         f"probabilities sum to {total[row]:.4g}, expected 1 (the model's "
                         "softmax over all its classes: the threshold and the resting level "
                         "mean something else for scores of each class on its own, or for "
                         "some of the classes)")


def _check_times(table: pd.DataFrame, meta: dict[str, Any], path: Path) -> None:
    """Each window ends after it starts and is listed once, and the video's length, frame
    rate and window settings are numbers. A window ending before its start would subtract its
    probabilities from its neighbours' bins, a window listed twice (two runs in one file)
    would be averaged in unseen, and one starting after the recorded end of the video (its
    length in other units) would be left out: each silently changes the percent time."""
    for key, unit in (("duration_s", "seconds"), ("window_s", "seconds"),
                      ("hop_s", "seconds"), ("fps", "frames a second")):
        value = meta.get(key)
        if value is not None and not (is_finite_number(value) and value >= 0):
            raise InputError(f"windows file {path}: its metadata has {key} {value!r}, "
                             f"expected a number of {unit}")
    origin = meta.get("first_frame_s")
    if origin is not None and not is_finite_number(origin):
        raise InputError(f"windows file {path}: its metadata has first_frame_s {origin!r}, "
                         "expected the time (s) a player shows the video's first frame at")
    if table.empty:
        return
    start, end = (pd.to_numeric(table[c]).to_numpy(np.float64) for c in ("start_s", "end_s"))
    bad = np.flatnonzero(end <= start)
    if len(bad):
        row = int(bad[0])
        raise InputError(f"windows file {path}: window {row} ends at {end[row]:g} s, not "
                         f"after its start {start[row]:g} s, expected end_s > start_s")
    again = np.flatnonzero(pd.DataFrame({"start": start, "end": end}).duplicated())
    if len(again):
        row = int(again[0])
        first = int(np.flatnonzero((start == start[row]) & (end == end[row]))[0])
        raise InputError(f"windows file {path}: window {row} ({start[row]:g}-{end[row]:g} s) "
                         f"repeats window {first}, expected each window once (two runs in "
                         "one file? run its infer job again)")
    video_end = video_end_s(meta)
    plan_s = [meta.get(k) for k in ("window_s", "hop_s")]
    if video_end and None not in plan_s and video_end > end.max() + sum(plan_s) + LATE_S:
        raise InputError(f"windows file {path}: its windows end at {end.max():g} s, but the "
                         f"video at {video_end:g} s (duration_s after first_frame_s in its "
                         "metadata), expected windows up to the video's end (a length in "
                         "other units, or of another video)")
    if video_end:
        late = np.flatnonzero(start > video_end + LATE_S)
        if len(late):
            row = int(late[0])
            raise InputError(f"windows file {path}: window {row} starts at {start[row]:g} s, "
                             f"more than {LATE_S:g} s after the video's end ({video_end:g} s: "
                             "duration_s after first_frame_s in its metadata), expected "
                             "windows within the video (its time would be left out)")


def first_frame_s(meta: dict[str, Any]) -> float:
    """When a player shows the video's first frame, the origin of the window times (0 in
    files written before it was recorded)."""
    return float(meta.get("first_frame_s") or 0.0)


def video_end_s(meta: dict[str, Any]) -> float | None:
    """When the video ends on the clock of the window times: `duration_s` after the first
    frame's time (None where the length is not recorded)."""
    duration = meta.get("duration_s")
    if not duration:
        return None
    return first_frame_s(meta) + float(duration)


def windows_metadata(path: Path) -> dict[str, Any]:
    """The contract's metadata of a file without reading its table ({} when absent)."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as err:
        raise _not_parquet(path, err) from err
    return _metadata(schema, path) or {}


def files_metadata(files: Iterable[str | Path]) -> dict[Path, dict[str, Any]]:
    """Each windows file's metadata by path (`windows_metadata`), in the files' order: read
    once for every check and table that needs it."""
    return {Path(path): windows_metadata(Path(path)) for path in files}


def check_made_by(metadata: Mapping[Path, dict[str, Any]], model_dir: str | Path) -> None:
    """Every windows file (path -> its metadata, `files_metadata`) carries the digest of the
    model in `model_dir`: results made by an earlier or another model are refused, naming
    the first such file."""
    expected = model_digest(model_dir)
    for path, meta in metadata.items():
        made_by = meta.get("model_sha256")
        if made_by != expected:
            by = f"model {made_by[:12]}" if made_by else "a model it does not record"
            raise InputError(f"windows file {path} was made by {by}, not by the model in "
                             f"{model_dir} ({expected[:12]}); run its infer job again")


def check_same_settings(metadata: Mapping[Path, dict[str, Any]]) -> None:
    """All files (path -> its metadata, `files_metadata`) come from one model, sampling and
    window settings: percent times made otherwise are not comparable across participants. A
    setting a file does not record (an exclusion record has no video, so no model rate or
    view) is not compared."""
    first: dict[str, tuple[Any, Path]] = {}
    for path, meta in metadata.items():
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
