"""The agreement table as a reader sees it: Markdown (agreement.md) and the report's HTML.

Apart from the statistics (scipy, statsmodels) so the report reads it without loading them.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.tables import markdown_escape


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def display_table(result: pd.DataFrame, level: float) -> pd.DataFrame:
    """The agreement table as a reader sees it (Markdown here, HTML in the report)."""
    pct = f"{100 * level:g}%"
    rows = [{"Action": r.action, "Compared vs reference": f"{r.compared} vs {r.reference}",
             "n": str(r.n),
             f"ICC(A,1) [{pct} CI]": f"{_fmt(r.icc)} [{_fmt(r.icc_low)}, {_fmt(r.icc_high)}]",
             f"Bland-Altman bias [{pct} limits]":
                 f"{_fmt(r.ba_bias)} [{_fmt(r.ba_low)}, {_fmt(r.ba_high)}]",
             "kappa": _fmt(r.kappa), "precision": _fmt(r.precision), "recall": _fmt(r.recall),
             "F1": _fmt(r.f1)}
            for r in result.sort_values(["action", "reference", "compared"]).itertuples()]
    return pd.DataFrame(rows)


def definitions(bin_s: float, min_iou: float) -> str:
    """What each column of the agreement table is."""
    return ("ICC(A,1): two-way random effects, absolute agreement, single rater, on percent "
            "time per participant. Bland-Altman: compared minus reference, in percentage "
            f"points. Cohen's kappa: the action's presence in {bin_s:g} s bins. Precision, "
            f"recall, F1: events matched one-to-one at temporal IoU >= {min_iou:g}. n/a: not "
            "estimable (e.g. no participant shows the action).")


def markdown(result: pd.DataFrame, bin_s: float, min_iou: float, level: float) -> str:
    """The agreement table as Markdown, with the definitions a reader needs."""
    table = display_table(result, level)
    lines = ["| " + " | ".join(table.columns) + " |",
             "| " + " | ".join("---" for _ in table.columns) + " |"]
    lines += ["| " + " | ".join(markdown_escape(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    lines += ["", definitions(bin_s, min_iou)]
    return "\n".join(lines) + "\n"
