"""Whether an interrupted training run can be continued, and the checkpoint folders it
keeps: the config keys that may change on resumption, a digest of the training data, and the
best epoch's checkpoint under training/best (copied, removed, found).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from microdualnet.data import sources
from microdualnet.data.records import ClipRecord
from microdualnet.training.config import TrainConfig
from pipeio.atomic import atomic_path
from pipeio.modelfiles import META_FILE, WEIGHTS_FILE
from pipeio.provenance import file_sha256

# Keys that may change between an interrupted run and its resumption (dotted paths): none
# changes the model (the augmentations are drawn per clip whichever worker reads it).
RESUMABLE_CHANGES = {"progress", "threads", "device", "data.workers"}
# The best epoch's checkpoint while training runs (under training/): the model folder's own
# files are written at the end, so a model folder is complete or absent, and a workflow that
# removes them before rerunning the job loses no epoch.
BEST_DIR = "best"
CHECKPOINT_FILES = (WEIGHTS_FILE, META_FILE)


def unresumable(saved: dict[str, Any], cfg: TrainConfig, data_digest: str,
                best_dir: Path) -> str | None:
    """Why the saved state cannot be continued by this run, or None when it can: another
    config, other training data (`data_digest`), or the best epoch's weights gone from
    both training/best and the model folder."""
    import yaml

    before = yaml.safe_load(saved["config"])
    now = cfg.model_dump(mode="json")
    _resolve_root(before)
    _resolve_root(now)
    diff = config_difference(before, now)
    if diff:
        return f"was written with a different config ({diff})"
    if saved.get("data", data_digest) != data_digest:
        return ("was written for other training data (the split lists, label map, clip files' "
                "sizes or frame rate differ)")
    if saved["best_epoch"] and best_source(best_dir) is None and not _best_in_state(saved):
        return f"has no best-epoch weights beside it ({best_dir} is missing)"
    return None


def _resolve_root(config: Any) -> None:
    """`data.root` as the folder it names from here, so that the same folder written
    relative or absolute (or with a trailing slash) is the same config."""
    data = config.get("data") if isinstance(config, dict) else None
    if isinstance(data, dict) and isinstance(data.get("root"), str):
        data["root"] = str(Path(data["root"]).resolve())


def config_difference(before: Any, now: Any, prefix: str = "") -> str | None:
    """The first key (dotted path) whose value differs, outside `RESUMABLE_CHANGES`, with
    both values: `optim.epochs: 4 in the state, 8 now`; None when the configs agree."""
    if isinstance(before, dict) and isinstance(now, dict):
        for key in sorted(set(before) | set(now)):
            path = f"{prefix}{key}"
            if path in RESUMABLE_CHANGES:
                continue
            found = config_difference(before.get(key), now.get(key), f"{path}.")
            if found:
                return found
        return None
    if before == now:
        return None
    return f"{prefix.rstrip('.')}: {before!r} in the state, {now!r} now"


def _best_in_state(saved: dict[str, Any]) -> bool:
    """The state's own weights are its best epoch's (whose metrics it holds)."""
    return bool(saved.get("best_metrics")) and saved["best_epoch"] == saved["epoch"]


def best_is_behind(saved: dict[str, Any], best_dir: Path) -> bool:
    """training/best lacks the state's best epoch, which is the state's own: the run stopped
    between writing the state and the best model (or while writing the best model's files),
    and the best model is written again from the state."""
    if not _best_in_state(saved):
        return False
    try:
        meta = json.loads((best_dir / META_FILE).read_text(encoding="utf-8"))
        written = meta["metrics"]["best_epoch"]
    except (OSError, ValueError, KeyError, TypeError):
        return True
    return written != saved["best_epoch"] or not (best_dir / WEIGHTS_FILE).is_file()


def complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in CHECKPOINT_FILES)


def best_source(best_dir: Path) -> Path | None:
    """Where the best epoch's checkpoint is: training/best, or, for a run written before it
    was kept there, the model folder itself (training/best's parent's parent)."""
    for folder in (best_dir, best_dir.parent.parent):
        if complete(folder):
            return folder
    return None


def data_digest(cfg: TrainConfig, splits: dict[str, list[ClipRecord]], fps: float) -> str:
    """One SHA-256 over what defines the training data: the listings, every clip's name and
    file size, and the clips' frame rate (clips made again at another rate keep their
    names). Sizes, not contents, so that checking takes a stat per clip, not a read."""
    digest = hashlib.sha256()
    for path in data_listings(cfg):
        digest.update(f"{path.name}:{file_sha256(path) if path.is_file() else '-'};".encode())
    for role in sorted(splits):
        for record in splits[role]:
            size = record.video.stat().st_size if record.video.is_file() else -1
            digest.update(f"{role}/{record.name}:{size};".encode())
    digest.update(f"fps:{fps!r}".encode())
    return digest.hexdigest()


def remove_checkpoints(out: Path) -> None:
    """The model folder's and training/best's weights: an abandoned run's are no model."""
    for folder in (out, out / "training" / BEST_DIR):
        for name in CHECKPOINT_FILES:
            (folder / name).unlink(missing_ok=True)


def copy_checkpoint(source: Path, target: Path) -> None:
    """Both checkpoint files, each written whole or not at all."""
    target.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        with atomic_path(target / name) as tmp:
            shutil.copyfile(source / name, tmp)


def data_listings(cfg: TrainConfig) -> list[Path]:
    """The label map and the split lists the config names (hashed, and the provenance)."""
    d = cfg.data
    return [Path(d.root) / "label_map.tsv"] + [
        sources.split_file(d.format, d.root, name)
        for name in (d.train_split, d.val_split, d.test_split) if name is not None]
