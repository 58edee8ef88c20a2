"""The paper's Tables I-IV as named sets of variant specs, with the paper's numbers.

Every number below is typed in from the paper (Micro-DualNet, Tables I-IV), in percent;
the F1-mean of Tables III and IV, printed there as a fraction (0.687), is given in percent
(68.7) like Table I's. A row's `variant` is the spec `train-ablation` trains for it
(docs/model.md, "Paper-to-code ledger", says how each row maps and where we interpret).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeio.errors import InputError


@dataclass(frozen=True)
class PaperColumn:
    key: str  # our metric the column compares with ("top1", "f1_mean")
    dataset: str  # the data set the paper measured it on
    title: str  # "Top-1"

    @property
    def heading(self) -> str:
        return f"paper ({self.dataset}) {self.title}"


@dataclass(frozen=True)
class PaperRow:
    label: str  # the row as the paper names it
    variant: str  # our variant spec
    paper: tuple[float | None, ...]  # one value per column of its table; None: not reported


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    columns: tuple[PaperColumn, ...]
    rows: tuple[PaperRow, ...]
    decimals: int = 2  # as the paper prints them (Tables III-IV: one)


MA52_TOP1 = PaperColumn("top1", "MA-52", "Top-1")
MA52_F1 = PaperColumn("f1_mean", "MA-52", "F1_mean")
IMIGUE_TOP1 = PaperColumn("top1", "iMiGUE", "Top-1")

_TABLE_I = PaperTable(
    "I", "Table I, Micro-DualNet rows (input modality)", (MA52_TOP1, MA52_F1, IMIGUE_TOP1), (
        PaperRow("Ours (Pose Only)", "pose-only", (61.25, 65.20, 68.92)),
        PaperRow("Ours (RGB Only)", "rgb-only", (62.87, 67.11, 71.54)),
        PaperRow("Ours (Pose + RGB)", "full", (65.10, 68.72, 76.88)),
    ))

_TABLE_II = PaperTable(
    "II", "Table II (components)", (MA52_TOP1, IMIGUE_TOP1), (
        PaperRow("Baseline (TSM)", "tsm-baseline", (52.15, 58.73)),
        PaperRow("+ TS Only", "ts-only+no-sem", (55.96, 63.48)),
        PaperRow("+ SEM", "ts-only", (59.21, 68.87)),
        PaperRow("+ Dual Path", "no-mac+no-routing", (62.14, 72.65)),
        PaperRow("+ MAC Loss", "no-routing", (64.40, 75.52)),
        PaperRow("+ Routing - MAC", "no-mac", (63.09, 73.48)),
        PaperRow("Full Model", "full", (65.10, 76.88)),
    ))

_TABLE_III = PaperTable(
    "III", "Table III (spatial entity extraction)", (MA52_TOP1, MA52_F1), (
        PaperRow("Center Crop", "centre-crop", (58.3, 59.4)),
        PaperRow("Fixed Body Regions", "rgb-only", (61.3, 65.6)),
        PaperRow("Keypoint-Guided (Ours)", "full", (65.1, 68.7)),
        PaperRow("w/o confidence weighting", "no-confidence", (63.1, 65.7)),
        PaperRow("w/ 4 entities (no lower body)", "four-entities", (61.4, 64.1)),
    ), decimals=1)

_IV_FRAMES = (
    PaperRow("Frame sampling: 4 frames", "frames-4", (59.8, 63.8)),
    PaperRow("Frame sampling: 8 frames", "frames-8", (63.2, 66.3)),
    PaperRow("Frame sampling: 16 frames", "frames-16", (65.1, 68.7)),
    PaperRow("Frame sampling: 32 frames", "frames-32", (64.7, 67.2)),
)
_IV_AGGREGATION = (
    PaperRow("Temporal aggregation: Average Pooling", "avg-pool", (61.4, 65.7)),
    PaperRow("Temporal aggregation: Max Pooling", "max-pool", (60.2, 64.1)),
    PaperRow("Temporal aggregation: LSTM", "lstm", (62.8, 65.9)),
    PaperRow("Temporal aggregation: Temporal Transformer", "temporal-t-only", (63.5, 66.8)),
    PaperRow("Temporal aggregation: (Ours)", "full", (65.1, 68.7)),
)
_IV_MAC = (
    PaperRow("Entity temporal granularity: Frame-level MAC", "frame-mac", (62.7, 65.7)),
    PaperRow("Entity temporal granularity: Video-level MAC (Ours)", "full", (65.1, 68.7)),
)
_IV_TITLE = "Table IV (temporal modelling and frame sampling)"

_IV_COLUMNS = (MA52_TOP1, MA52_F1)

TABLES: dict[str, PaperTable] = {t.name: t for t in (
    _TABLE_I, _TABLE_II, _TABLE_III,
    PaperTable("IV", _IV_TITLE, _IV_COLUMNS, _IV_FRAMES + _IV_AGGREGATION + _IV_MAC, 1),
    PaperTable("IV-frames", f"{_IV_TITLE}: frame sampling", _IV_COLUMNS, _IV_FRAMES, 1),
    PaperTable("IV-aggregation", f"{_IV_TITLE}: temporal aggregation", _IV_COLUMNS,
               _IV_AGGREGATION, 1),
    PaperTable("IV-mac", f"{_IV_TITLE}: MAC granularity", _IV_COLUMNS, _IV_MAC, 1),
)}


def get_table(name: str) -> PaperTable:
    """The named table (any letter case); an unknown name is a one-line error listing them."""
    for key, table in TABLES.items():
        if key.lower() == str(name).strip().lower():
            return table
    raise InputError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
