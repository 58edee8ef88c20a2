"""Bland-Altman figures: one per action, one panel per pair of sources (no video frames)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeio import atomic_path

# A fresh figure's subplot parameters: each action's layout starts from them, as its own
# figure's would, since how many ticks an axis gets depends on its length.
_FRESH = ("left", "right", "bottom", "top", "wspace", "hspace")


class BlandAltmanFigures:
    """Differences (compared - reference) against means of percent time, one dot per
    participant, with the bias (solid) and limits of agreement (dashed) of each pair.

    One figure, drawn over for each action: making a figure's axes and their ticks cost
    about as much as drawing it, and the job draws one per action. A bare `Figure` on the
    Agg canvas, not pyplot: no figure registry to keep or close.
    """

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        """`keys`: the (reference, compared) pairs, one panel each, in the order given."""
        self.keys = list(keys)
        self.figure = Figure(figsize=(3.6 * len(self.keys), 3.2))
        FigureCanvasAgg(self.figure)  # a bare Figure makes a renderer for each layout, save
        self.axes = list(self.figure.subplots(1, len(self.keys), squeeze=False)[0])
        for ax, (ref, cmp) in zip(self.axes, self.keys, strict=True):
            ax.set_xlabel("mean percent time", fontsize=8)
            ax.set_ylabel(f"{cmp} - {ref} (points)", fontsize=8)
            ax.tick_params(labelsize=7)
        self._fresh = {k: mpl.rcParams[f"figure.subplot.{k}"] for k in _FRESH}

    def draw(self, action: str, pairs: pd.DataFrame, rows: pd.DataFrame, out: Path) -> Path:
        """The figure of `action`: `pairs` its percent times (reference_source,
        compared_source), `rows` its agreement rows, one per key; written to `out`."""
        fig = self.figure
        for ax, (ref, cmp) in zip(self.axes, self.keys, strict=True):
            pts = pairs[(pairs["reference_source"] == ref) & (pairs["compared_source"] == cmp)]
            row = rows[(rows["reference"] == ref) & (rows["compared"] == cmp)].iloc[0]
            # The last action's dots and lines out, the limits back to a new axes' (0, 1):
            # the ranges come out as on a new axes (x from 0-1 in a panel without dots; a
            # line within the dots' range and its margin does not widen it).
            for artist in [*ax.collections, *ax.lines]:
                artist.remove()
            ax.relim()
            ax.set_xlim(0, 1, auto=None)
            ax.set_ylim(0, 1, auto=None)
            mean = (pts["reference"] + pts["compared"]) / 2
            ax.scatter(mean, pts["compared"] - pts["reference"], s=14, color="tab:blue")
            ax.axhline(row["ba_bias"], color="black", lw=1)
            for limit in (row["ba_low"], row["ba_high"]):
                ax.axhline(limit, color="black", lw=0.8, ls="--")
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(f"{cmp} vs {ref} (n={int(row['n'])})", fontsize=8)
        # The action as written: text between two `$` would be read as math (see plots.py).
        fig.suptitle(f"{action}: Bland-Altman", fontsize=9, parse_math=False)
        fig.subplots_adjust(**self._fresh)
        fig.tight_layout()
        fig.set_layout_engine(None)  # laid out: savefig would otherwise draw it once more
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=120)
        return out
