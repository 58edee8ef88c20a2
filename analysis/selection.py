"""Which actions to analyse: an explicit list, or the k most frequent ones.

Frequency is the mean percent time across all participants of the analysed groups (zeros
included), so an action that few people do but for long counts as much as one that many
people do briefly. Ties are broken alphabetically so the choice is reproducible.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from pipeio import InputError

log = logging.getLogger(__name__)


def _mean(values: pd.Series) -> float:
    """Exactly rounded sum over the count: a running sum depends on the rows' order in its
    last bit (0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1), which would break a tie by file order."""
    return math.fsum(values) / len(values)


def action_frequency(table: pd.DataFrame) -> pd.Series:
    """Mean percent time per action over participants, highest first (ties: by name)."""
    freq = table.groupby("action")["percent_time"].agg(_mean)
    order = sorted(freq.index, key=lambda a: (-freq[a], a))
    return freq.loc[order]


def select_actions(table: pd.DataFrame, top_k: int, actions: list[str] | None) -> list[str]:
    """The configured action list (checked against the table) or the top-k by frequency."""
    known = set(table["action"])
    if actions is not None:
        unknown = [a for a in actions if a not in known]
        if unknown:
            raise InputError(
                f"stats.actions names action(s) {unknown} that are not in the percent-time "
                f"table (column action); known: {sorted(known)}"
            )
        return list(actions)
    freq = action_frequency(table)
    if top_k < len(freq) and freq.iloc[top_k - 1] == freq.iloc[top_k]:
        # Said aloud: the name, not the data, decides which of these is analysed.
        tied = [a for a, f in freq.items() if f == freq.iloc[top_k]]
        log.warning("actions %s tie at the stats.top_k %d cut (mean percent time %.6g); "
                    "taken alphabetically: %s", tied, top_k, freq.iloc[top_k],
                    [a for a in tied if a in freq.index[:top_k]])
    return list(freq.index[:top_k])
