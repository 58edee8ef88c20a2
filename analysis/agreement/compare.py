"""Two sources of codings (the model, a coder) compared participant by participant.

Every source is put on one grid of time bins per participant, the grid `analysis.aggregate`
labels (bins of `bin_s` from 0 to the video's end, the last one cut by it). A coded event
covers a bin when it covers the bin's centre, the rule that gives windows their bins. A bin
counts where both sources are valid: for the model, where it had a valid window; a coder's
bins are all valid.

Per action, over the participants both sources code:
- percent time = 100 x covered time / common valid time, per participant: ICC(A,1) and
  Bland-Altman across participants;
- Cohen's kappa of the action's presence (yes/no) over all common valid bins;
- events matched at IoU >= `min_iou` (`stats.match_events`), counts summed over
  participants before precision, recall and F1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from analysis.aggregate import bin_centres
from analysis.agreement.stats import EventScore, bland_altman, icc_a1, kappa, match_events


@dataclass
class Rated:
    """One source's view of one participant on that participant's bin grid."""

    masks: dict[str, np.ndarray]  # action -> bool [N]: the action goes on in the bin
    valid: np.ndarray  # bool [N]
    events: pd.DataFrame  # this participant's events (action, start_s, end_s)

    @cached_property
    def spans(self) -> dict[str, list[tuple[float, float]]]:
        """The events by action, split once (`events_by_action`)."""
        return events_by_action(self.events)


def events_by_action(events: pd.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """Each action's (start_s, end_s) events, in the table's order. Split in one pass:
    selecting one action's rows with pandas for every action, participant and pair of
    sources was most of the comparison's time (11,232 selections at 52 actions, 36 coded
    participants and three pairs)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for action, start, end in zip(events["action"], events["start_s"], events["end_s"],
                                  strict=True):
        out.setdefault(action, []).append((float(start), float(end)))
    return out


def rate_events(events: pd.DataFrame, start: np.ndarray, width: np.ndarray,
                actions: list[str]) -> Rated:
    """A coder's events on a grid: bins whose centre an event covers, as windows cover
    theirs (`analysis.aggregate.bin_centres`); every bin valid."""
    centre = bin_centres(start, width)
    rated = Rated({}, np.ones(len(start), bool), events)
    for action in actions:
        mask = np.zeros(len(start), bool)
        for s, e in rated.spans.get(action, []):
            mask |= (centre >= s) & (centre < e)
        rated.masks[action] = mask
    return rated


def percent_time(rated: Rated, common: np.ndarray, width: np.ndarray, action: str) -> float:
    total = width[common].sum()
    return 100.0 * width[rated.masks[action] & common].sum() / total if total > 0 else math.nan


def compare(reference: dict[str, Rated], compared: dict[str, Rated],
            widths: dict[str, np.ndarray], actions: list[str], min_iou: float = 0.5,
            level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-action agreement rows and the per-participant percent times behind them.

    Participants are those in both `reference` and `compared` with common valid time, in
    participant order (not the coding files' or observations' order).
    """
    pids = sorted(p for p in reference if p in compared
                  and (reference[p].valid & compared[p].valid).any())
    pairs, rows = [], []
    for action in actions:
        pt_ref, pt_cmp, lab_ref, lab_cmp = [], [], [], []
        score = EventScore(0, 0, 0)
        for pid in pids:
            r, c, w = reference[pid], compared[pid], widths[pid]
            common = r.valid & c.valid
            pt_ref.append(percent_time(r, common, w, action))
            pt_cmp.append(percent_time(c, common, w, action))
            lab_ref.append(r.masks[action][common])
            lab_cmp.append(c.masks[action][common])
            ev_r, ev_c = r.spans.get(action, []), c.spans.get(action, [])
            score = EventScore(score.reference + len(ev_r), score.compared + len(ev_c),
                               score.matched + len(match_events(ev_r, ev_c, min_iou)))
        pairs += [{"participant_id": p, "action": action, "reference": a, "compared": b}
                  for p, a, b in zip(pids, pt_ref, pt_cmp, strict=True)]
        icc = icc_a1(np.column_stack([pt_ref, pt_cmp]) if pids else np.zeros((0, 2)), level)
        ba = bland_altman(np.array(pt_ref), np.array(pt_cmp), level)
        k = kappa(np.concatenate(lab_ref), np.concatenate(lab_cmp)) if pids else math.nan
        rows.append({"action": action, "n": len(pids), "icc": icc.icc, "icc_low": icc.low,
                     "icc_high": icc.high, "ba_bias": ba.bias, "ba_low": ba.low,
                     "ba_high": ba.high, "kappa": k, "events_reference": score.reference,
                     "events_compared": score.compared, "events_matched": score.matched,
                     "precision": score.precision, "recall": score.recall, "f1": score.f1})
    return pd.DataFrame(rows), pd.DataFrame(pairs, columns=["participant_id", "action",
                                                            "reference", "compared"])
