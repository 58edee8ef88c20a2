"""Bland-Altman figures: one per action, one panel per pair of sources (no video frames)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import pandas as pd  # noqa: E402

from pipeio import atomic_path  # noqa: E402


def bland_altman_figure(action: str, pairs: pd.DataFrame, rows: pd.DataFrame,
                        out: Path) -> Path:
    """Differences (compared - reference) against means of percent time, one dot per
    participant, with the bias (solid) and limits of agreement (dashed) of `rows`."""
    keys = list(rows[["reference", "compared"]].itertuples(index=False, name=None))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), squeeze=False)
    for ax, (ref, cmp) in zip(axes[0], keys, strict=True):
        pts = pairs[(pairs["reference_source"] == ref) & (pairs["compared_source"] == cmp)]
        row = rows[(rows["reference"] == ref) & (rows["compared"] == cmp)].iloc[0]
        mean = (pts["reference"] + pts["compared"]) / 2
        ax.scatter(mean, pts["compared"] - pts["reference"], s=14, color="tab:blue")
        ax.axhline(row["ba_bias"], color="black", lw=1)
        for limit in (row["ba_low"], row["ba_high"]):
            ax.axhline(limit, color="black", lw=0.8, ls="--")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{cmp} vs {ref} (n={int(row['n'])})", fontsize=8)
        ax.set_xlabel("mean percent time", fontsize=8)
        ax.set_ylabel(f"{cmp} - {ref} (points)", fontsize=8)
        ax.tick_params(labelsize=7)
    # The action as written: text between two `$` would be read as math (see plots.py).
    fig.suptitle(f"{action}: Bland-Altman", fontsize=9, parse_math=False)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return out
