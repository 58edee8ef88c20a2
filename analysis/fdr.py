"""Benjamini-Hochberg adjusted p-values over a chosen family of tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """BH step-up adjusted p-values (NaN entries stay NaN and do not count in m).

    p_adj(i) = min over j with rank >= rank(i) of p(j) * m / rank(j), capped at 1.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def adjust_results(results: pd.DataFrame, family: str) -> pd.Series:
    """p_adj for the results table: one BH family ('all') or one per part ('part')."""
    if family == "all":
        return pd.Series(bh_adjust(results["p"].to_numpy()), index=results.index)
    if family == "part":
        adjusted = pd.Series(np.nan, index=results.index)
        for _, rows in results.groupby("part", sort=False):
            adjusted.loc[rows.index] = bh_adjust(rows["p"].to_numpy())
        return adjusted
    raise ValueError(f"unknown FDR family {family!r}")
