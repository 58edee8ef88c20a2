"""Which actions to analyse: an explicit list, or the k most frequent ones.

Frequency is the mean percent time across all participants of the analysed groups (zeros
included), so an action that few people do but for long counts as much as one that many
people do briefly. Ties are broken alphabetically so the choice is reproducible.
"""

from __future__ import annotations

import pandas as pd

from pipeio import InputError


def action_frequency(table: pd.DataFrame) -> pd.Series:
    """Mean percent time per action over participants, highest first (ties: by name)."""
    freq = table.groupby("action")["percent_time"].mean()
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
    return list(action_frequency(table).index[:top_k])
