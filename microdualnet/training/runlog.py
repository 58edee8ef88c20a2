"""The training log: one JSON object per epoch in `training/log.jsonl`.

On resume the log is cut back to the epochs the checkpoint holds, so it always describes
the weights on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeio.atomic import atomic_write_text


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
