"""Class tables: dataset label ids -> contiguous class indices, names and body categories.

Datasets number their classes as they like (MA-52 0-51, the synthetic clips add 52 for
"no action", iMiGUE 1-32); the model wants indices 0..C-1. The label map is the one place
that translates, and what the model folder records so inference can translate back.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from microdualnet.labels import BODY_MAP, MA52_ACTIONS
from pipeio.errors import InputError

IMIGUE_CLASSES: tuple[str, ...] = (
    "turtle neck", "bulging face/deep breath", "touching hat", "touching or scratching head",
    "touching or scratching forehead", "covering face", "rubbing eyes",
    "touching or scratching facial parts", "touching ears", "biting nails", "touching jaw",
    "touching or scratching neck", "playing or adjusting hair",
    "buckle button/pulling shirt collar/adjusting tie", "touching or covering suprasternal notch",
    "scratching back", "folding arms", "dustoffing clothes", "putting arms behind body",
    "moving torso", "sitting straightly", "scratching or touching arms",
    "rubbing or holding hands", "crossing fingers", "minaret gesture",
    "playing or manipulating objects", "hold back arms", "head up", "pressing lips",
    "arms akimbo", "shaking shoulders", "illustrative body language",
)


@dataclass(frozen=True)
class LabelMap:
    """Class i of the model is dataset label `label_ids[i]`, called `names[i]`.

    `body_ids[i]` is its body category (-1 for a class outside the hierarchy, e.g. the
    synthetic background); None when the dataset has no body level (iMiGUE).
    """

    label_ids: tuple[int, ...]
    names: tuple[str, ...]
    body_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        twice = sorted({i for i in self.label_ids if self.label_ids.count(i) > 1})
        if twice:
            raise InputError(f"label map: label id(s) {twice} listed more than once")
        twice_named = sorted({n for n in self.names if self.names.count(n) > 1})
        if twice_named:  # they name the model's classes: model.json refuses a name twice
            raise InputError(f"label map: name(s) {twice_named} given to more than one id")
        if len(self.names) != len(self.label_ids) or (
                self.body_ids is not None and len(self.body_ids) != len(self.label_ids)):
            raise InputError("label map: ids, names and body ids differ in length")

    @property
    def num_classes(self) -> int:
        return len(self.label_ids)

    def index_of(self, label_id: int) -> int | None:
        """Class index of a dataset label id, or None if the map does not hold it."""
        return self._index.get(label_id)

    @property
    def _index(self) -> dict[int, int]:
        return {lab: i for i, lab in enumerate(self.label_ids)}

    def to_rows(self) -> list[dict[str, object]]:
        """One row per class (index, label_id, name, body_id) for labels.tsv."""
        return [{"index": i, "label_id": lab, "name": name,
                 "body_id": self.body_ids[i] if self.body_ids is not None else ""}
                for i, (lab, name) in enumerate(zip(self.label_ids, self.names, strict=True))]


def ma52_label_map() -> LabelMap:
    """The 52 MA-52 actions with the published body map."""
    return LabelMap(tuple(range(len(MA52_ACTIONS))), MA52_ACTIONS, BODY_MAP)


def imigue_label_map() -> LabelMap:
    """iMiGUE's 32 classes, label ids 1-32 as in its annotation files (no body level)."""
    return LabelMap(tuple(range(1, len(IMIGUE_CLASSES) + 1)), IMIGUE_CLASSES)


def read_label_map(path: str | Path) -> LabelMap:
    """`label_map.tsv` with columns action_id, name and optionally body_id (synthetic clips)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            # the file's own line numbers: the reader skips blank lines without counting them
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: cannot read label map ({err})") from err
    if not rows or not {"action_id", "name"} <= set(rows[0][1]):
        raise InputError(f"{path}: expected a TSV with columns action_id and name")
    has_body = "body_id" in rows[0][1]
    ids, names, bodies = [], [], []
    for line, row in rows:
        extra = [c for c in row.get(None) or () if c.strip()]
        if extra:  # e.g. body ids under a header without body_id: they would be dropped
            raise InputError(f"{path}, line {line}: more cells than the header's columns "
                             f"({', '.join(k for k in row if k is not None)}); "
                             f"extra {extra[0]!r}")
        cells = {k: (row.get(k) or "").strip() for k in ("action_id", "name", "body_id")}
        empty = [k for k in ("action_id", "name", *(("body_id",) if has_body else ()))
                 if not cells[k]]
        if empty:  # a short row, or a body level given for some classes only
            raise InputError(f"{path}, line {line}: {empty[0]} is empty")
        for key in ("action_id", "body_id") if has_body else ("action_id",):
            if not re.fullmatch(r"-?[0-9]+", cells[key]):  # not "--5" or "²" (isdigit)
                raise InputError(f"{path}, line {line}: {key} {cells[key]!r} is not a whole "
                                 "number")
        ids.append(int(cells["action_id"]))
        bodies.append(int(cells["body_id"]) if has_body else None)
        names.append(cells["name"])
    try:
        return LabelMap(tuple(ids), tuple(names), tuple(bodies) if has_body else None)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
