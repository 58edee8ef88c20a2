"""Design matrices: intercept, group indicators and covariates, with readable column names.

The first group present is the reference (no column); every other group gets an indicator
`group[<name>]`. A contrast between any two groups is then a difference of these columns
(`analysis.contrasts`), so the reference choice never changes a reported effect.
Numeric covariates enter linearly, standardised over the rows fitted (mean 0, SD 1, as R's
`scale()`): group coefficients, their covariance and every contrast are those of the raw
values (only the intercept and the covariate's own slope, never reported, change), while
IRLS no longer depends on the unit. Age in seconds (values ~3e8) left the raw design so
ill-conditioned that IRLS stopped short of its tolerance and an estimable action was
reported "model did not converge". Text covariates (e.g. sex) enter as indicators for every
level but the first in sorted order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Design:
    """A model matrix and what its columns mean."""

    x: np.ndarray
    names: list[str]
    groups: list[str]  # groups present, in config order; groups[0] is the reference


def constant_covariates(rows: pd.DataFrame, covariates: list[str]) -> list[str]:
    """Covariates that take a single value in these rows (they cannot be estimated)."""
    return [c for c in covariates if rows[c].nunique(dropna=False) < 2]


def standardised(values: np.ndarray) -> np.ndarray:
    """`(v - mean) / sd` (sd with n - 1, as R's `scale()`); a constant column stays constant
    (0), for the rank check to refuse."""
    centred = values - values.mean()
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return centred / sd if sd > 0 else centred


def build_design(rows: pd.DataFrame, groups: list[str], covariates: list[str]) -> Design:
    """The model matrix for these rows; `groups` lists the groups to model, in order."""
    present = [g for g in groups if (rows["group"] == g).any()]
    columns: list[np.ndarray] = [np.ones(len(rows))]
    names = ["Intercept"]
    for g in present[1:]:
        columns.append((rows["group"] == g).to_numpy(dtype=float))
        names.append(f"group[{g}]")
    for cov in covariates:
        values = rows[cov]
        if pd.api.types.is_numeric_dtype(values):
            columns.append(standardised(values.to_numpy(dtype=float)))
            names.append(cov)
        else:
            levels = sorted(values.astype(str).unique())
            for level in levels[1:]:
                columns.append((values.astype(str) == level).to_numpy(dtype=float))
                names.append(f"{cov}[{level}]")
    return Design(np.column_stack(columns), names, present)
