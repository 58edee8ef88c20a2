"""One entry point for every dataset layout: label map and split records by `format`."""

from __future__ import annotations

from pathlib import Path

from microdualnet.data import imigue, ma52
from microdualnet.data.labelmap import LabelMap, imigue_label_map
from microdualnet.data.records import ClipRecord, Problem
from pipeio.errors import InputError


def label_map(fmt: str, root: str | Path) -> LabelMap:
    if not Path(root).is_dir():
        raise InputError(f"dataset folder {root} does not exist")
    return imigue_label_map() if fmt == "imigue" else ma52.label_map_for(root)


def read_split(fmt: str, root: str | Path, split: str,
               labels: LabelMap) -> tuple[list[ClipRecord], list[Problem]]:
    reader = imigue.read_split if fmt == "imigue" else ma52.read_split
    return reader(root, split, labels)


def split_file(fmt: str, root: str | Path, split: str) -> Path:
    """The file that lists a split (for provenance hashes)."""
    name = f"{split}.csv" if fmt == "imigue" else f"{split}_list_videos.txt"
    return Path(root) / name


def refuse_dummy_labels(records: list[ClipRecord], labels: LabelMap, listing: Path,
                        remedy: str) -> None:
    """MA-52's public test list gives every clip label 0: scoring it measures nothing, so a
    split whose clips all carry one label is refused (`remedy` says what to do instead)."""
    found = {r.label for r in records}
    if len(records) > 1 and len(found) == 1:
        index = found.pop()
        raise InputError(f"{listing}: all {len(records)} clips carry label "
                         f"{labels.label_ids[index]} ({labels.names[index]!r}), as MA-52's "
                         f"public test labels do (dummies); {remedy}")
