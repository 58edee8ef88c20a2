"""A model folder's `model.json`, readable without torch (inference planning, pose CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeio.errors import InputError

META_FILE = "model.json"
FORMAT = "microdualnet-model/1"


def read_meta(folder: str | Path) -> dict[str, Any]:
    """model.json of a model folder, checked for the format tag."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise InputError(f"model folder {folder}: missing {META_FILE}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path}: key 'format' must be {FORMAT!r}")
    if not isinstance(meta.get("config"), dict):
        raise InputError(f"{path}: key 'config' is missing or not an object")
    return meta
