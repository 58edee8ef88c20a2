"""Shared fixtures for the statistics tests: small seeded cohorts written as TSV files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

GROUPS = ["ASD", "PSY", "TDC"]


def make_cohort(sizes: dict[str, int] | None = None, n_actions: int = 3, seed: int = 0,
                engage: float = 0.6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A long percent-time table and a participant sheet with age and sex.

    Engagement is Bernoulli(`engage`); intensity is Beta(2, 6) percent, so no group
    differences are planted: tests add their own.
    """
    sizes = sizes or {"ASD": 40, "PSY": 30, "TDC": 40}
    rng = np.random.default_rng(seed)
    sheet, rows = [], []
    for g, n in sizes.items():
        for i in range(n):
            pid = f"{g.lower()}-{i:03d}"
            age, sex = round(float(rng.uniform(8, 17)), 1), str(rng.choice(["F", "M"]))
            sheet.append({"participant_id": pid, "group": g, "video": f"{pid}.mp4",
                          "age": age, "sex": sex})
            for a in range(n_actions):
                pt = 100 * rng.beta(2, 6) if rng.random() < engage else 0.0
                rows.append({"participant_id": pid, "group": g, "age": age, "sex": sex,
                             "action": f"action {a}", "percent_time": round(pt, 6),
                             "valid_s": 600.0})
    return pd.DataFrame(rows), pd.DataFrame(sheet)


@pytest.fixture
def cohort() -> Callable[..., tuple[pd.DataFrame, pd.DataFrame]]:
    """Factory for in-memory cohorts (see make_cohort)."""
    return make_cohort


@pytest.fixture
def write_cohort(tmp_path: Path) -> Callable[[pd.DataFrame, pd.DataFrame], tuple[Path, Path]]:
    """Write a (table, sheet) pair as TSV files; returns their paths."""

    def _write(table: pd.DataFrame, sheet: pd.DataFrame) -> tuple[Path, Path]:
        table_path, sheet_path = tmp_path / "percent_time.tsv", tmp_path / "participants.tsv"
        table.to_csv(table_path, sep="\t", index=False)
        sheet.to_csv(sheet_path, sep="\t", index=False)
        return table_path, sheet_path

    return _write
